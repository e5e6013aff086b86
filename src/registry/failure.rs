//! Turning a failed request into an error users can act on: which request, what the registry
//! answered (its `errors` JSON summarized), and one hint chosen by the kind of failure.

use std::fmt;
use std::time::Duration;

use ureq::Timeout;

use crate::error::Error;
use crate::registry::client::Timeouts;
use crate::settings::env;

/// The registry's answer (or the transport's complaint), kept as the error's cause so that the
/// retry layer can tell a transient failure from a final one.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: Option<u16>,
    pub transient: bool,
    /// `Retry-After`, when the registry said how long to wait.
    retry_after: Option<Duration>,
    /// How to phrase the hint once the tries are spent, for failures whose hint names them.
    spent: Option<Spent>,
    text: String,
}

#[derive(Clone, Debug)]
enum Spent {
    ServerErrors,
    Connection { host: String },
    Silent { host: String },
}

impl Spent {
    fn hint(&self, tries: u32, elapsed: Duration) -> String {
        let tries = match tries {
            1 => "1 try".to_owned(),
            n => format!("{n} tries in {:.1}s", elapsed.as_secs_f64()),
        };
        match self {
            Spent::ServerErrors => {
                format!("the registry kept failing ({tries}); retry later")
            }
            Spent::Connection { host } => format!(
                "the connection to `{host}` kept failing ({tries}); check the network and retry"
            ),
            Spent::Silent { host } => format!(
                "`{host}` accepted the connection but did not answer in time ({tries}); check that it is a registry and not overloaded, or retry later"
            ),
        }
    }
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

/// Worth another try of the unit of work it ended.
pub(crate) fn is_transient(err: &Error) -> bool {
    answer(err).is_some_and(|a| a.transient)
}

pub(crate) fn status_of(err: &Error) -> Option<u16> {
    answer(err).and_then(|a| a.status)
}

pub(crate) fn retry_after_of(err: &Error) -> Option<Duration> {
    answer(err).and_then(|a| a.retry_after)
}

/// The same failure, worth another try after all: e.g. a `404` for an upload session, which
/// the registry dropped, as opposed to a `404` for a repository that does not exist.
pub(crate) fn transient(err: Error) -> Error {
    match answer(&err) {
        Some(a) if !a.transient => {
            let again = Answer {
                status: a.status,
                transient: true,
                retry_after: a.retry_after,
                spent: a.spent.clone(),
                text: a.text.clone(),
            };
            let hint = err.hint().map(str::to_owned);
            let err = Error::failure(err.message().to_owned()).caused_by(again);
            match hint {
                Some(h) => err.with_hint(h),
                None => err,
            }
        }
        _ => err,
    }
}

/// The retry layer gave up after `tries`: a hint that says so, where the failure's hint counts.
pub(crate) fn gave_up(err: Error, tries: u32, elapsed: Duration) -> Error {
    match answer(&err).and_then(|a| a.spent.clone()) {
        Some(spent) => err.with_hint(spent.hint(tries, elapsed)),
        None => err,
    }
}

/// What a failed request was about, for the message.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// `pushing `127.0.0.1:5000/app:1`` or `pulling …`.
    pub doing: &'a str,
    pub host: &'a str,
    pub had_credentials: bool,
    pub timeouts: &'a Timeouts,
}

impl Request<'_> {
    fn what(&self) -> String {
        // Upload URLs carry long opaque `_state` queries; the path says enough.
        let url = self.url.split('?').next().unwrap_or(self.url);
        format!("`{} {url}` failed while {}", self.method, self.doing)
    }

    /// The registry answered with an unexpected status.
    pub fn status(
        &self,
        status: u16,
        reason: &str,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Error {
        let text =
            summarize(body).unwrap_or_else(|| "(the answer had no error details)".to_owned());
        let transient = crate::registry::retry::retryable(status);
        let host = self.host;
        let spent = (status >= 500).then_some(Spent::ServerErrors);
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
            s if s >= 500 => Spent::ServerErrors.hint(1, Duration::ZERO),
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
            retry_after,
            spent,
            text,
        })
        .with_hint(hint)
    }

    /// A `401` from `other`, where a redirect or an upload `Location` sent the request: it gets
    /// no credentials of this registry.
    pub fn foreign_challenge(&self, other: &str) -> Error {
        Error::failure(format!(
            "{}: `{other}`, where the registry sent the request, asks for credentials",
            self.what()
        ))
        .caused_by(Answer {
            status: Some(401),
            transient: false,
            retry_after: None,
            spent: None,
            text: format!("gantry sends the credentials for `{}` only to `{}`", self.host, self.host),
        })
        .with_hint(format!(
            "the registry `{}` redirects to another host that wants a login; check the registry's storage or proxy setup",
            self.host
        ))
    }

    /// The request did not get an answer: refused, reset, timed out, TLS failed.
    pub fn transport(&self, err: &ureq::Error) -> Error {
        let host = self.host.to_owned();
        let (text, spent) = match err {
            ureq::Error::Timeout(Timeout::Connect | Timeout::Resolve) => (
                format!(
                    "timed out: no connection within {:?}",
                    self.timeouts.connect
                ),
                Some(Spent::Connection { host }),
            ),
            ureq::Error::Timeout(_) => (
                format!(
                    "timed out: the registry sent nothing for {:?}",
                    self.timeouts.read
                ),
                Some(Spent::Silent { host }),
            ),
            other => {
                let text = other.to_string();
                let lower = text.to_ascii_lowercase();
                let spent = (!lower.contains("refused")
                    && !lower.contains("tls")
                    && !lower.contains("certificate")
                    && !lower.contains("handshake"))
                .then_some(Spent::Connection { host });
                (text, spent)
            }
        };
        self.no_answer(text, spent)
    }

    /// The answer broke off, stalled or grew too large while its body was being read.
    pub fn broken_body(&self, err: ureq::Error) -> Error {
        let host = self.host.to_owned();
        let (text, spent) = match err {
            ureq::Error::BodyExceedsLimit(limit) => {
                return Error::failure(format!(
                    "{}: the registry's answer is larger than {limit} bytes",
                    self.what()
                ))
                .with_hint("this is not a manifest or config of an image; check the reference");
            }
            ureq::Error::Timeout(_) => (
                format!(
                    "timed out: the registry sent nothing for {:?} in the middle of its answer",
                    self.timeouts.read
                ),
                Spent::Silent { host },
            ),
            other => (
                format!("the answer broke off: {other}"),
                Spent::Connection { host },
            ),
        };
        self.no_answer(text, Some(spent))
    }

    fn no_answer(&self, text: String, spent: Option<Spent>) -> Error {
        let host = self.host;
        let lower = text.to_ascii_lowercase();
        let hint = match &spent {
            Some(spent) => spent.hint(1, Duration::ZERO),
            None if lower.contains("refused") => format!("is a registry listening at `{host}`?"),
            None => {
                format!("if `{host}` serves plain HTTP, allow it with `--insecure-registry {host}`")
            }
        };
        Error::failure(format!("{}: no answer from the registry", self.what()))
            .caused_by(Answer {
                status: None,
                transient: true,
                retry_after: None,
                spent,
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
            retry_after: None,
            spent: None,
            text,
        })
    }

    /// A local problem while sending (e.g. the blob file could not be read): not transient.
    pub fn local(&self, err: impl fmt::Display) -> Error {
        Error::failure(self.what()).caused_by(Answer {
            status: None,
            transient: false,
            retry_after: None,
            spent: None,
            text: err.to_string(),
        })
    }

    /// Another transfer of the same push or pull failed first: this one stops.
    pub fn cancelled(&self) -> Error {
        Error::failure(format!(
            "{}: stopped because another transfer failed",
            self.what()
        ))
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

    static TIMEOUTS: Timeouts = Timeouts {
        connect: Duration::from_secs(1),
        read: Duration::from_secs(2),
        commit: Duration::from_secs(3),
    };

    fn req() -> Request<'static> {
        Request {
            method: "PUT",
            url: "http://h:1/v2/app/manifests/1?x=y",
            doing: "pushing `h:1/app:1`",
            host: "h:1",
            had_credentials: false,
            timeouts: &TIMEOUTS,
        }
    }

    #[test]
    fn status_errors_name_the_request_the_answer_and_a_login_hint() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        let err = req().status(401, "Unauthorized", body, None);
        assert_eq!(
            err.render(),
            "error: `PUT http://h:1/v2/app/manifests/1` failed while pushing `h:1/app:1`: the registry answered 401 Unauthorized\n  caused by: UNAUTHORIZED: authentication required\n\nhint: log in with `docker login h:1`, or set `GANTRY_REGISTRY_USER` and `GANTRY_REGISTRY_PASSWORD`"
        );
        assert!(!is_transient(&err));
        assert_eq!(status_of(&err), Some(401));
    }

    #[test]
    fn server_errors_are_transient_and_count_the_tries() {
        let wait = Some(Duration::from_secs(2));
        let err = req().status(503, "Service Unavailable", b"overloaded", wait);
        assert!(is_transient(&err));
        assert_eq!(retry_after_of(&err), wait);
        assert!(err.render().contains("caused by: overloaded"));
        assert_eq!(
            err.hint(),
            Some("the registry kept failing (1 try); retry later")
        );
        let err = gave_up(err, 3, Duration::from_secs(4));
        assert_eq!(
            err.hint(),
            Some("the registry kept failing (3 tries in 4.0s); retry later")
        );
    }

    #[test]
    fn a_dropped_upload_session_is_worth_another_try_a_missing_repository_is_not() {
        let err = req().status(
            404,
            "Not Found",
            br#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}"#,
            None,
        );
        assert!(!is_transient(&err));
        let again = transient(err);
        assert!(is_transient(&again) && status_of(&again) == Some(404));
        assert!(again.render().contains("caused by: BLOB_UPLOAD_UNKNOWN"));
    }

    #[test]
    fn a_silent_registry_is_reported_as_a_timeout_with_its_host() {
        let err = req().transport(&ureq::Error::Timeout(Timeout::PerRead));
        assert!(is_transient(&err));
        let err = gave_up(err, 2, Duration::from_secs(4));
        assert_eq!(
            err.render(),
            "error: `PUT http://h:1/v2/app/manifests/1` failed while pushing `h:1/app:1`: no answer from the registry\n  caused by: timed out: the registry sent nothing for 2s\n\nhint: `h:1` accepted the connection but did not answer in time (2 tries in 4.0s); check that it is a registry and not overloaded, or retry later"
        );
    }
}
