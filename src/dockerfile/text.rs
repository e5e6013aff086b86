//! A tiny writer for Dockerfile text: wrapped comments, instructions, continued RUN lines.

const WIDTH: usize = 96;

#[derive(Default)]
pub struct Text {
    out: String,
}

impl Text {
    pub fn finish(self) -> String {
        self.out
    }

    pub fn blank(&mut self) -> &mut Self {
        self.out.push('\n');
        self
    }

    pub fn line(&mut self, s: &str) -> &mut Self {
        self.out.push_str(s);
        self.out.push('\n');
        self
    }

    /// A `#` comment, wrapped at the file's width; blank lines in `s` become bare `#` lines.
    pub fn comment(&mut self, s: &str) -> &mut Self {
        for para in s.split('\n') {
            if para.is_empty() {
                self.line("#");
                continue;
            }
            let mut cur = String::from("#");
            for word in para.split(' ') {
                if cur.len() + 1 + word.len() > WIDTH && cur.len() > 1 {
                    self.line(&cur);
                    cur = String::from("#");
                }
                cur.push(' ');
                cur.push_str(word);
            }
            self.line(&cur);
        }
        self
    }

    /// A stage heading: a blank line, then the comment.
    pub fn stage(&mut self, s: &str) -> &mut Self {
        self.blank().comment(s)
    }

    /// `RUN` with options (mounts) and shell commands joined by `&&`, one per line.
    pub fn run(&mut self, mounts: &[String], cmds: &[String]) -> &mut Self {
        let mut parts: Vec<String> = Vec::new();
        let mut first = String::from("RUN");
        if mounts.is_empty() {
            first.push(' ');
            first.push_str(&cmds[0]);
            parts.push(first);
        } else {
            parts.push(format!("RUN {}", mounts[0]));
            parts.extend(mounts[1..].iter().map(|m| format!("    {m}")));
            parts.push(format!("    {}", cmds[0]));
        }
        parts.extend(cmds[1..].iter().map(|c| format!(" && {c}")));
        self.line(&parts.join(" \\\n"))
    }
}

/// Quote a word for `sh` when it needs it.
pub fn sh(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A JSON string for exec-form instructions and LABEL/ENV values.
pub fn json(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_lines_continue_with_backslashes() {
        let mut t = Text::default();
        t.run(
            &["--mount=type=cache,target=/c".into()],
            &["a".into(), "b".into()],
        );
        assert_eq!(
            t.finish(),
            "RUN --mount=type=cache,target=/c \\\n    a \\\n && b\n"
        );
    }

    #[test]
    fn words_with_spaces_are_quoted() {
        assert_eq!(sh("--release"), "--release");
        assert_eq!(sh("a b"), "'a b'");
    }
}
