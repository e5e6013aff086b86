//! One error type for the whole library: what failed, where, what caused it, and how to fix it.
//!
//! Rendered by `main.rs` as
//!
//! ```text
//! error: <what failed, naming the path or command>
//!   caused by: <source>
//!
//! hint: <how to fix it>
//! ```

use std::fmt;
use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure this is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input: a flag, a manifest, a recipe, a file in the way. Exit code 1.
    User,
    /// Something outside the user's input failed: a child process, the disk, the network. Exit 2.
    Failure,
}

#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    hint: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn user(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::User,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Failure,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    /// An I/O error on `path`, phrased as "failed to <action> `<path>`".
    pub fn io(action: &str, path: &Path, source: std::io::Error) -> Self {
        Error::failure(format!("failed to {action} `{}`", path.display())).caused_by(source)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn caused_by(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Say which part of a larger job failed, keeping kind, causes and hint:
    /// `for `linux/arm64`: <message>`.
    pub fn within(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The chain of causes, outermost first, without the message itself.
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = self
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static));
        while let Some(err) = next {
            out.push(err.to_string());
            next = err.source();
        }
        out
    }

    /// The full text users read: message, `caused by:` lines, blank line, `hint:`.
    pub fn render(&self) -> String {
        let mut s = format!("error: {}", self.message);
        for cause in self.causes() {
            for (i, line) in cause.lines().enumerate() {
                if i == 0 {
                    s.push_str(&format!("\n  caused by: {line}"));
                } else {
                    s.push_str(&format!("\n    {line}"));
                }
            }
        }
        if let Some(hint) = &self.hint {
            s.push_str(&format!("\n\nhint: {hint}"));
        }
        s
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Attach a message (and keep the original as the cause) to any fallible result.
pub trait Context<T> {
    fn context(self, message: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E> Context<T> for std::result::Result<T, E>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn context(self, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::failure(message()).caused_by(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_message_causes_and_hint() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Error::user("failed to read `a/b`")
            .caused_by(io)
            .with_hint("create it");
        assert_eq!(
            err.render(),
            "error: failed to read `a/b`\n  caused by: no such file\n\nhint: create it"
        );
        assert_eq!(err.kind(), Kind::User);
    }
}
