//! Image references to this workspace's binaries in YAML (Kubernetes manifests, Compose files,
//! Helm output): `gantry://BIN` or `gantry://PACKAGE/BIN`, found with their position and
//! replaced in place, leaving every other byte of the file as it was.
//!
//! The rule: a scalar *value* whose whole text starts with `gantry://` is a reference, under any
//! key (`image:` in Kubernetes and Compose, `repository:` or anything else in Helm values) and
//! as a sequence item; it must be well-formed, or [`find`] fails naming `file:line:column`. Keys
//! are never references, and neither is a scalar that merely contains `gantry://` (a command
//! line, a description), nor anything inside a comment or a block scalar (`|`, `>`: embedded
//! files). Plain, single- and double-quoted scalars count, in block and flow collections
//! (`{image: gantry://x}`, `[gantry://x]`), across `---` documents. A quoted scalar is taken as
//! written: escapes (`\x67antry://`) are not decoded.
//!
//! This is a scanner for exactly that question, not a YAML parser: it keeps byte offsets, which
//! a parser would lose, so [`replace`] can edit only the references.

use std::ops::Range;

use crate::error::{Error, Result};

const SCHEME: &str = "gantry://";

/// One `gantry://` reference found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The file name given to [`find`], for messages.
    pub file: String,
    pub package: Option<String>,
    pub bin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The reference's bytes in the text: the scalar without its quotes.
    pub span: Range<usize>,
}

impl Reference {
    /// `file:line:column`, as compilers and editors write positions.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Every reference in `text`, in order. `file` names the text in messages.
pub fn find(file: &str, text: &str) -> Result<Vec<Reference>> {
    let mut s = Scanner {
        file,
        text,
        bytes: text.as_bytes(),
        refs: Vec::new(),
        block_scalar: None,
        plain: None,
    };
    s.run()?;
    Ok(s.refs)
}

/// `text` with each span replaced by its new text; every other byte is kept. `new` is written
/// as it is (inside the quotes of a quoted scalar): pass an image reference, which needs no
/// quoting or escaping.
///
/// # Panics
/// When spans overlap, or one is outside `text` or not on character boundaries: spans come
/// from [`find`] on the same text.
pub fn replace<S: AsRef<str>>(text: &str, edits: &[(Range<usize>, S)]) -> String {
    let mut sorted: Vec<&(Range<usize>, S)> = edits.iter().collect();
    sorted.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, new) in sorted {
        assert!(
            range.start >= at && text.get(range.clone()).is_some(),
            "span {range:?} overlaps another or is not in the text"
        );
        out.push_str(&text[at..range.start]);
        out.push_str(new.as_ref());
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// A plain scalar in block context that may continue on more-indented lines.
struct Plain {
    span: Range<usize>,
    /// Lines indented more than this continue the scalar.
    threshold: isize,
    continued: bool,
}

struct Scanner<'a> {
    file: &'a str,
    text: &'a str,
    bytes: &'a [u8],
    refs: Vec<Reference>,
    /// Inside a block scalar: lines indented more than this belong to it.
    block_scalar: Option<isize>,
    plain: Option<Plain>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(b'\n')
    }

    /// The end of the line holding `i`, before `\r\n` or `\n`.
    fn eol(&self, i: usize) -> usize {
        let nl = self.text[i..].find('\n').map_or(self.text.len(), |n| i + n);
        if nl > i && self.bytes[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        }
    }

    fn next_line(&self, i: usize) -> usize {
        self.text[i..]
            .find('\n')
            .map_or(self.text.len(), |n| i + n + 1)
    }

    fn line_start(&self, i: usize) -> usize {
        self.text[..i].rfind('\n').map_or(0, |n| n + 1)
    }

    fn column(&self, i: usize) -> isize {
        (i - self.line_start(i)) as isize
    }

    fn skip_spaces(&self, mut i: usize, end: usize) -> usize {
        while i < end && matches!(self.bytes[i], b' ' | b'\t') {
            i += 1;
        }
        i
    }

    /// `#` starts a comment at the start of a line or after whitespace.
    fn is_comment(&self, i: usize) -> bool {
        self.at(i) == b'#' && (i == 0 || is_ws(self.bytes[i - 1]))
    }

    fn position(&self, i: usize) -> (usize, usize) {
        let mut start = self.line_start(i);
        if start == 0 && self.text.starts_with('\u{feff}') {
            start = 3;
        }
        let line = self.text[..start].matches('\n').count() + 1;
        (line, self.text[start..i].chars().count() + 1)
    }

    fn error_at(&self, i: usize, message: &str) -> Error {
        let (line, column) = self.position(i);
        Error::user(format!("{message} at `{}:{line}:{column}`", self.file))
    }

    fn run(&mut self) -> Result<()> {
        let mut i = if self.text.starts_with('\u{feff}') {
            3
        } else {
            0
        };
        while i < self.text.len() {
            let eol = self.eol(i);
            let content = self.skip_spaces(i, eol);
            let indent = (content - i) as isize;
            let blank = content == eol;
            let marker = if indent == 0 {
                self.document_marker(i)
            } else {
                None
            };
            if let Some(marker) = marker {
                self.end_plain()?;
                self.block_scalar = None;
                i = if marker == "---" {
                    let rest = self.skip_spaces(i + 3, eol);
                    self.node(rest, eol, -1)?
                } else {
                    eol
                };
                i = self.next_line(i);
                continue;
            }
            if let Some(threshold) = self.block_scalar {
                if blank || indent > threshold {
                    i = self.next_line(i);
                    continue;
                }
                self.block_scalar = None;
            }
            if let Some(threshold) = self.plain.as_ref().map(|p| p.threshold) {
                if blank {
                    i = self.next_line(i);
                    continue;
                }
                if indent > threshold && !self.is_comment(content) {
                    if let Some(p) = &mut self.plain {
                        p.continued = true;
                    }
                    i = self.next_line(i);
                    continue;
                }
                self.end_plain()?;
            }
            if blank || self.is_comment(content) || (indent == 0 && self.at(i) == b'%') {
                i = self.next_line(i);
                continue;
            }
            let end = self.node(content, eol, indent - 1)?;
            i = self.next_line(end);
        }
        self.end_plain()
    }

    /// `---` or `...` alone (or `--- ` followed by a node) at the start of a line.
    fn document_marker(&self, i: usize) -> Option<&'static str> {
        ["---", "..."]
            .into_iter()
            .find(|m| self.text[i..].starts_with(m) && is_ws(self.at(i + 3)))
    }

    /// One line's node in block context, from `i` to `eol`: sequence entries, then a mapping
    /// key and its value, or a value alone. `parent` is the indentation of the enclosing node.
    /// Returns where scanning stopped (a quoted or flow node may end on a later line).
    fn node(&mut self, mut i: usize, eol: usize, mut parent: isize) -> Result<usize> {
        // `- `, `- - `…: each entry's content is indented past its dash.
        while self.at(i) == b'-' && is_ws(self.at(i + 1)) {
            parent = self.column(i);
            i = self.skip_spaces(i + 1, eol);
        }
        if i >= eol || self.is_comment(i) {
            return Ok(eol);
        }
        match self.at(i) {
            // A complex key: never a reference.
            b'?' if is_ws(self.at(i + 1)) => return Ok(eol),
            b':' if is_ws(self.at(i + 1)) => {
                let v = self.skip_spaces(i + 1, eol);
                return self.value(v, eol, self.column(i));
            }
            b'"' | b'\'' => {
                let close = self.quoted(i)?;
                let after = self.skip_spaces(close + 1, self.eol(close));
                if self.at(after) == b':' && is_ws(self.at(after + 1)) {
                    let v = self.skip_spaces(after + 1, self.eol(after));
                    return self.value(v, self.eol(after), self.column(i));
                }
                self.scalar(i + 1..close, false)?;
                return Ok(self.eol(close));
            }
            _ => {}
        }
        if let Some(colon) = self.plain_key(i, eol) {
            let v = self.skip_spaces(colon + 1, eol);
            return self.value(v, eol, self.column(i));
        }
        self.value(i, eol, parent)
    }

    /// The `:` ending a plain mapping key that starts at `i`, if the line has one.
    fn plain_key(&self, i: usize, eol: usize) -> Option<usize> {
        if matches!(self.at(i), b'{' | b'[' | b'|' | b'>' | b'&' | b'*' | b'!') {
            return None;
        }
        (i..eol)
            .take_while(|&j| !self.is_comment(j))
            .find(|&j| self.bytes[j] == b':' && (j + 1 == eol || is_ws(self.at(j + 1))))
    }

    /// A value node starting at `i`; lines indented more than `parent` may continue it.
    fn value(&mut self, mut i: usize, eol: usize, parent: isize) -> Result<usize> {
        // Properties: an anchor, a tag.
        while i < eol && matches!(self.at(i), b'&' | b'!') {
            while i < eol && !is_ws(self.at(i)) {
                i += 1;
            }
            i = self.skip_spaces(i, eol);
        }
        if i >= eol || self.is_comment(i) {
            return Ok(eol);
        }
        match self.at(i) {
            b'*' => Ok(eol),
            b'|' | b'>' => {
                self.block_scalar = Some(parent);
                Ok(eol)
            }
            b'"' | b'\'' => {
                let close = self.quoted(i)?;
                self.scalar(i + 1..close, false)?;
                Ok(self.eol(close))
            }
            b'{' | b'[' => self.flow(i),
            _ => {
                let mut end = (i..eol).find(|&j| self.is_comment(j)).unwrap_or(eol);
                while end > i && is_ws(self.bytes[end - 1]) {
                    end -= 1;
                }
                self.plain = Some(Plain {
                    span: i..end,
                    threshold: parent,
                    continued: false,
                });
                Ok(eol)
            }
        }
    }

    fn end_plain(&mut self) -> Result<()> {
        match self.plain.take() {
            Some(p) => self.scalar(p.span, p.continued),
            None => Ok(()),
        }
    }

    /// The closing quote of the quoted scalar opening at `open` (it may span lines).
    fn quoted(&self, open: usize) -> Result<usize> {
        let q = self.bytes[open];
        let mut j = open + 1;
        while j < self.bytes.len() {
            match self.bytes[j] {
                b'\\' if q == b'"' => j += 2,
                b'\'' if q == b'\'' && self.at(j + 1) == b'\'' => j += 2,
                b if b == q => return Ok(j),
                _ => j += 1,
            }
        }
        Err(self
            .error_at(open, "unterminated quoted scalar")
            .with_hint("close the quote; the file is not valid YAML"))
    }

    /// A flow collection opening at `open`; returns the position of its closing bracket.
    fn flow(&mut self, open: usize) -> Result<usize> {
        // Per open collection: whether it is a mapping, and whether the current entry is past
        // its `:` (only then is a scalar in a mapping a value).
        let mut stack: Vec<(bool, bool)> = Vec::new();
        let mut j = open;
        while j < self.bytes.len() {
            let b = self.bytes[j];
            match b {
                _ if is_ws(b) => j += 1,
                b'#' if self.is_comment(j) => j = self.eol(j),
                b'{' | b'[' => {
                    stack.push((b == b'{', false));
                    j += 1;
                }
                b'}' | b']' => {
                    stack.pop();
                    if stack.is_empty() {
                        return Ok(j);
                    }
                    j += 1;
                }
                b',' => {
                    if let Some(top) = stack.last_mut() {
                        top.1 = false;
                    }
                    j += 1;
                }
                b':' if !self.at(j + 1).is_ascii_alphanumeric() => {
                    if let Some(top) = stack.last_mut() {
                        top.1 = true;
                    }
                    j += 1;
                }
                b'?' if is_ws(self.at(j + 1)) => j += 1,
                b'&' | b'!' | b'*' => {
                    while j < self.bytes.len()
                        && !is_ws(self.bytes[j])
                        && !is_flow_indicator(self.bytes[j])
                    {
                        j += 1;
                    }
                }
                _ => {
                    let (span, next) = if b == b'"' || b == b'\'' {
                        let close = self.quoted(j)?;
                        (j + 1..close, close + 1)
                    } else {
                        let end = self.flow_plain_end(j);
                        let mut trimmed = end;
                        while trimmed > j && is_ws(self.bytes[trimmed - 1]) {
                            trimmed -= 1;
                        }
                        (j..trimmed, end)
                    };
                    let &(mapping, past_colon) = stack.last().expect("inside a collection");
                    // In a sequence, `[key: value]` is a one-pair mapping.
                    let key = if mapping {
                        !past_colon
                    } else {
                        !past_colon && self.followed_by_colon(next)
                    };
                    if !key {
                        self.scalar(span, false)?;
                    }
                    j = next;
                }
            }
        }
        Err(self
            .error_at(open, "unclosed flow collection")
            .with_hint("close the bracket; the file is not valid YAML"))
    }

    /// Where a plain scalar in a flow collection ends: a flow indicator, `: `, a comment or
    /// the end of the line.
    fn flow_plain_end(&self, start: usize) -> usize {
        let eol = self.eol(start);
        (start..eol)
            .find(|&k| {
                let b = self.bytes[k];
                is_flow_indicator(b)
                    || self.is_comment(k)
                    || (b == b':' && (is_ws(self.at(k + 1)) || is_flow_indicator(self.at(k + 1))))
            })
            .unwrap_or(eol)
    }

    fn followed_by_colon(&self, mut k: usize) -> bool {
        while k < self.bytes.len() && is_ws(self.bytes[k]) {
            k += 1;
        }
        self.at(k) == b':'
    }

    /// A value scalar (without quotes): a reference when it starts with the scheme.
    fn scalar(&mut self, span: Range<usize>, continued: bool) -> Result<()> {
        let raw = &self.text[span.clone()];
        let Some(rest) = raw.strip_prefix(SCHEME) else {
            return Ok(());
        };
        let first_line = raw.lines().next().unwrap_or(raw);
        let parsed = if continued || raw.contains('\n') {
            Err("the value goes on past the end of the line".to_owned())
        } else {
            parse(rest)
        };
        let (package, bin) = parsed.map_err(|why| {
            self.error_at(
                span.start,
                &format!("malformed image reference `{first_line}`"),
            )
            .caused_by(why)
            .with_hint(
                "write `gantry://BIN` or `gantry://PACKAGE/BIN`, with names of lowercase \
                 letters, digits, `-` and `_`",
            )
        })?;
        let (line, column) = self.position(span.start);
        self.refs.push(Reference {
            file: self.file.to_owned(),
            package,
            bin,
            line,
            column,
            span,
        });
        Ok(())
    }
}

/// `BIN` or `PACKAGE/BIN` after the scheme.
fn parse(rest: &str) -> std::result::Result<(Option<String>, String), String> {
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() > 2 {
        return Err(format!(
            "it has {} names; a reference names `BIN` or `PACKAGE/BIN`",
            parts.len()
        ));
    }
    for part in &parts {
        if part.is_empty() {
            return Err("a name is empty".to_owned());
        }
        if let Some(c) = part
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(if c.is_uppercase() {
                format!("`{part}` has an uppercase letter `{c}`")
            } else {
                format!("`{part}` has the character `{c}`")
            });
        }
        if part.starts_with('-') {
            return Err(format!("`{part}` starts with `-`"));
        }
    }
    Ok(match parts[..] {
        [bin] => (None, bin.to_owned()),
        [package, bin] => (Some(package.to_owned()), bin.to_owned()),
        _ => unreachable!("one or two parts"),
    })
}

#[cfg(test)]
mod tests;
