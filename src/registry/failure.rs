//! Turning a failed request into an error users can act on: which request, what the registry
//! answered (its `errors` JSON summarized), and one hint chosen by the kind of failure.

use std::fmt;

use crate::error::Error;
use crate::settings::env;

/// The registry's answer (or the transport's complaint), kept as the error's cause so that the
/// push and pull loops can tell a transient failure from a final one.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: Option<u16>,
    pub transient: bool,
    text: String,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Answer {}

fn answer(err: &Error) -> Option<&Answer> {
    std::error::Error::source(err)?.downcast_ref::<Answer>()
}

/// Worth another try at a higher level (a new upload session, say).
pub(crate) fn is_transient(err: &Error) -> bool {
    answer(err).is_some_and(|a| a.transient)
}

pub(crate) fn status_of(err: &Error) -> Option<u16> {
    answer(err).and_then(|a| a.status)
}

/// What a failed request was about, for the message.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// `pushing `127.0.0.1:5000/app:1`` or `pulling …`.
    pub doing: &'a str,
    pub host: &'a str,
    pub attempts: u32,
    pub had_credentials: bool,
}

impl Request<'_> {
    fn what(&self) -> String {
        // Upload URLs carry long opaque `_state` queries; the path says enough.
        let url = self.url.split('?').next().unwrap_or(self.url);
        format!("`{} {url}` failed while {}", self.method, self.doing)
    }

    /// The registry answered with an unexpected status.
    pub fn status(&self, status: u16, reason: &str, body: &[u8]) -> Error {
        let text =
            summarize(body).unwrap_or_else(|| "(the answer had no error details)".to_owned());
        let transient = crate::registry::retry::retryable(status);
        let host = self.host;
        let hint = match status {
            401 if self.had_credentials => format!(
                "the registry rejected the credentials; run `docker login {host}` again or check `{}` and `{}`",
                env::REGISTRY_USER,
                env::REGISTRY_PASSWORD
            ),
            401 => format!("log in with `docker login {host}`, or set `{}` and `{}`", env::REGISTRY_USER, env::REGISTRY_PASSWORD),
            403 => format!("the account used for `{host}` may not do this; check the repository name and its permissions"),
            429 => "the registry is limiting requests; wait a little and retry (logged-in users get higher limits)".to_owned(),
            400 if text.contains("HTTPS") => format!("`{host}` speaks HTTPS; do not list it as an insecure registry"),
            s if s >= 500 => format!("the registry kept failing ({} tries); retry later", self.attempts),
            _ => "this is the registry's answer to a request gantry considers valid; the details above may say why".to_owned(),
        };
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!(" {reason}")
        };
        Error::failure(format!(
            "{}: the registry answered {status}{reason}",
            self.what()
        ))
        .caused_by(Answer {
            status: Some(status),
            transient,
            text,
        })
        .with_hint(hint)
    }

    /// The request did not get an answer: refused, reset, timed out, TLS failed.
    pub fn transport(&self, err: &ureq::Error) -> Error {
        let text = err.to_string();
        let host = self.host;
        let lower = text.to_ascii_lowercase();
        let hint = if lower.contains("refused") {
            format!("is a registry listening at `{host}`?")
        } else if lower.contains("tls")
            || lower.contains("certificate")
            || lower.contains("handshake")
        {
            format!("if `{host}` serves plain HTTP, allow it with `--insecure-registry {host}`")
        } else {
            format!(
                "the connection to `{host}` kept failing ({} tries); check the network and retry",
                self.attempts
            )
        };
        Error::failure(format!("{}: no answer from the registry", self.what()))
            .caused_by(Answer {
                status: None,
                transient: true,
                text,
            })
            .with_hint(hint)
    }

    /// The token expired while a streamed body was being sent: a fresh attempt will succeed.
    pub fn stale_auth(&self) -> Error {
        let text = "the registry asked to authenticate again in the middle of an upload".to_owned();
        Error::failure(format!(
            "{}: the registry answered 401 Unauthorized",
            self.what()
        ))
        .caused_by(Answer {
            status: Some(401),
            transient: true,
            text,
        })
    }

    /// A local problem while sending (e.g. the blob file could not be read): not transient.
    pub fn local(&self, err: impl fmt::Display) -> Error {
        Error::failure(self.what()).caused_by(Answer {
            status: None,
            transient: false,
            text: err.to_string(),
        })
    }
}

/// `CODE: message; CODE: message` from a registry's `{"errors":[…]}` body, or the start of a
/// plain-text body.
fn summarize(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        let items: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| match (&e.code, &e.message) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(s), None) | (None, Some(s)) => s.clone(),
                (None, None) => "unknown error".to_owned(),
            })
            .collect();
        if !items.is_empty() {
            return Some(items.join("; "));
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Request<'static> {
        Request {
            method: "PUT",
            url: "http://h:1/v2/app/manifests/1?x=y",
            doing: "pushing `h:1/app:1`",
            host: "h:1",
            attempts: 3,
            had_credentials: false,
        }
    }

    #[test]
    fn status_errors_name_the_request_the_answer_and_a_login_hint() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        let err = req().status(401, "Unauthorized", body);
        assert_eq!(
            err.render(),
            "error: `PUT http://h:1/v2/app/manifests/1` failed while pushing `h:1/app:1`: the registry answered 401 Unauthorized\n  caused by: UNAUTHORIZED: authentication required\n\nhint: log in with `docker login h:1`, or set `GANTRY_REGISTRY_USER` and `GANTRY_REGISTRY_PASSWORD`"
        );
        assert!(!is_transient(&err));
        assert_eq!(status_of(&err), Some(401));
    }

    #[test]
    fn server_errors_are_transient_and_count_the_tries() {
        let err = req().status(503, "Service Unavailable", b"overloaded");
        assert!(is_transient(&err));
        assert!(err.render().contains("caused by: overloaded"));
        assert!(err.hint().unwrap().contains("3 tries"));
    }
}
