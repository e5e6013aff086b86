//! A small blocking client for the OCI distribution API, on `ureq`.
//!
//! Why not `oci-client`: it is async (tokio + reqwest + hyper, a long compile on two cores, and a
//! runtime in a program that is otherwise synchronous), it retries nothing and exposes no hook to
//! do so, a failed chunk fails the whole push instead of resuming from the registry's `Range`,
//! and it leaves credential helpers to the caller. The protocol itself is a dozen requests, so we
//! own them: one `send` with the retry loop and the auth handshake, and `push`/`pull` on top.
//! `ureq` is maintained, blocking, pools connections, and streams bodies from a `Read`.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http::{self, Method};

use crate::error::Result;
use crate::registry::Cancel;
use crate::registry::auth::{Credential, CredentialSource, Secret};
use crate::registry::failure;
use crate::registry::origin::{self, Origin};
use crate::registry::progress::ProgressMode;
use crate::registry::reference::{ImageRef, is_loopback_host};
use crate::registry::retry::{Budget, RetryPolicy, retry_after};

pub(crate) type Response = http::Response<ureq::Body>;
/// Error bodies are read for their message only; a registry may send an HTML page.
pub(super) const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// Redirects followed for one request (the same as browsers and `ureq`'s default).
const MAX_REDIRECTS: usize = 10;

/// How to talk to registries; shared by push and pull.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    pub credentials: CredentialSource,
    /// Registries (`host[:port]`) reached over plain HTTP; loopback ones always are.
    pub insecure: Vec<String>,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    pub progress: ProgressMode,
}

/// How long a registry may keep gantry waiting before the request counts as failed (and is
/// retried, within `RetryPolicy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection, TLS handshake included.
    pub connect: Duration,
    /// The longest a registry may stay silent: before it starts to answer, and between two reads
    /// (or writes) while a body streams. A slow transfer that keeps moving never hits it.
    pub read: Duration,
    /// The wait for the answer that completes a blob upload, while the registry checks the digest
    /// and moves the blob into its storage.
    pub commit: Duration,
}

impl Default for Timeouts {
    /// Connect: 10 s, far above a connection across the world (and its TLS handshake), so that a
    /// dropped SYN is retried instead of waited out. Read: 60 s of silence, which no working
    /// registry needs between two packets or before answering an ordinary request. Commit: 5
    /// minutes, because a registry backed by object storage may copy a multi-gigabyte blob before
    /// it answers the final `PUT`.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
            commit: Duration::from_secs(300),
        }
    }
}

pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Streamed and sent once: a half-sent upload cannot be replayed blindly, so resuming it is
    /// the caller's business.
    Stream(Box<dyn Read + Send + 'a>, u64),
}

/// How long to wait for the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// `Timeouts::read`.
    Read,
    /// `Timeouts::commit`: the request completes a blob upload.
    Commit,
}

pub(crate) struct Req<'a> {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
    pub wait: Wait,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, url: String) -> Req<'a> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
            wait: Wait::Read,
        }
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Req<'a> {
        self.headers.push((name, value.into()));
        self
    }
    pub fn body(mut self, body: Body<'a>) -> Req<'a> {
        self.body = body;
        self
    }
    pub fn wait(mut self, wait: Wait) -> Req<'a> {
        self.wait = wait;
        self
    }
}

/// One registry, one set of repository scopes (`repository:NAME:pull,push`), one push or pull.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    /// Where the registry's credentials (and tokens) may go: nowhere else.
    pub(super) origin: Origin,
    pub(super) host: String,
    pub(super) auth_key: String,
    doing: String,
    pub(super) scopes: Vec<String>,
    pub(super) source: CredentialSource,
    pub(super) credential: Mutex<Option<Option<Credential>>>,
    pub(super) authorization: Mutex<Option<Secret>>,
    /// Held while answering a challenge, so parallel uploads that were all refused fetch one
    /// token between them rather than one each.
    pub(super) authenticating: Mutex<()>,
    pub retry: RetryPolicy,
    timeouts: Timeouts,
    /// Hosts the user allowed plain HTTP for (`--insecure-registry`).
    pub(super) insecure: Vec<String>,
    /// Set by the first transfer that fails for good; no request is sent after it.
    pub cancel: Cancel,
}

impl Client {
    pub fn new(
        reference: &ImageRef,
        scopes: Vec<String>,
        doing: String,
        options: &ClientOptions,
    ) -> Result<Client> {
        let registry = reference.registry();
        let plain = is_loopback_host(registry) || options.insecure.iter().any(|h| h == registry);
        let scheme = if plain { "http" } else { "https" };
        let timeouts = options.timeouts.clone();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("cargo-gantry/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(timeouts.connect))
            .timeout_per_read(Some(timeouts.read))
            .timeout_per_write(Some(timeouts.read))
            // Followed by `send`, which decides who gets the credentials.
            .max_redirects(0)
            .max_idle_connections_per_host(8)
            .build()
            .into();
        let base = format!("{scheme}://{}", reference.api_host());
        let Some(origin) = Origin::of(&base) else {
            return Err(crate::Error::user(format!(
                "`{registry}` is not a registry host gantry can reach (`{base}` is no URL)"
            ))
            .with_hint(
                "write the registry as `host` or `host:port`, e.g. `ghcr.io` or `127.0.0.1:5000`",
            ));
        };
        Ok(Client {
            agent,
            origin,
            base,
            host: registry.to_owned(),
            auth_key: reference.auth_key().to_owned(),
            doing,
            scopes,
            source: options.credentials.clone(),
            credential: Mutex::new(None),
            authorization: Mutex::new(None),
            authenticating: Mutex::new(()),
            retry: options.retry.clone(),
            timeouts,
            insecure: options.insecure.clone(),
            cancel: Cancel::default(),
        })
    }

    /// `/v2/<path>` on this registry.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    pub fn doing(&self) -> &str {
        &self.doing
    }

    /// `work` with the retry policy of this client, until it succeeds or fails for good.
    pub fn retrying<T>(&self, work: impl FnMut(u32) -> Result<T>) -> Result<T> {
        self.retry.run(&self.cancel, work)
    }

    /// The retry budget of a unit of work made of several steps.
    pub fn budget(&self) -> Budget<'_> {
        self.retry.budget(&self.cancel)
    }

    pub(super) fn info<'r>(&'r self, method: &'r Method, url: &'r str) -> failure::Request<'r> {
        let had_credentials = self
            .credential
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(Option::is_some);
        failure::Request {
            method: method.as_str(),
            url,
            doing: &self.doing,
            host: &self.host,
            had_credentials,
            timeouts: &self.timeouts,
        }
    }

    /// Send `req` once, answering auth challenges and following redirects; any status not in `ok`
    /// becomes an error naming the request and the registry's answer. Retrying is the caller's
    /// business (`retrying`), once, around the whole unit of work.
    pub fn send(&self, mut req: Req, ok: &[u16]) -> Result<Response> {
        let replayable = !matches!(req.body, Body::Stream(..));
        let mut reauthenticated = false;
        let local_error = Arc::new(Mutex::new(None));
        loop {
            if self.cancel.is_cancelled() {
                return Err(self.info(&req.method, &req.url).cancelled());
            }
            let sent = self.authorization.lock().unwrap().clone();
            let auth = sent.as_ref().map(|s| (s, &self.origin));
            let result = self.exchange(&mut req, auth, &local_error);
            let info = self.info(&req.method, &req.url);
            if self.cancel.is_cancelled() {
                return Err(info.cancelled());
            }
            if let Some(local) = local_error.lock().unwrap().take() {
                return Err(info.local(local));
            }
            let (mut resp, url) = result.map_err(|e| info.transport(&e))?;
            let status = resp.status().as_u16();
            if ok.contains(&status) {
                return Ok(resp);
            }
            let ours = Origin::of(&url).as_ref() == Some(&self.origin);
            if status == 401 && !ours {
                let other = Origin::of(&url).map(|o| o.authority()).unwrap_or(url);
                return Err(info.foreign_challenge(&other));
            }
            if status == 401 && !reauthenticated && self.authenticate(&resp, sent.as_ref())? {
                reauthenticated = true;
                if replayable {
                    continue;
                }
                return Err(info.stale_auth());
            }
            return Err(self.status_error(&info, &mut resp));
        }
    }

    pub(super) fn status_error(
        &self,
        info: &failure::Request,
        resp: &mut Response,
    ) -> crate::Error {
        let status = resp.status().as_u16();
        let reason = resp.status().canonical_reason().unwrap_or("");
        let wait = retry_after(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
        );
        let body = resp
            .body_mut()
            .with_config()
            .limit(ERROR_BODY_LIMIT)
            .read_to_vec()
            .unwrap_or_default();
        info.status(status, reason, &body, wait)
    }

    /// Read the body of `resp` (an answer to `method url`) through `read`; a broken or stalled
    /// body is a transient failure of the request, not an I/O error of whatever `read` writes.
    pub fn read_body<T>(
        &self,
        method: &Method,
        url: &str,
        resp: Response,
        limit: Option<u64>,
        read: impl FnOnce(&mut (dyn Read + Send)) -> Result<T>,
    ) -> Result<T> {
        let body = resp.into_body();
        let body = match limit {
            Some(limit) => body.into_with_config().limit(limit).reader(),
            None => body.into_reader(),
        };
        let mut watched = Watched {
            inner: body,
            cancel: &self.cancel,
            error: None,
        };
        let result = read(&mut watched);
        let info = self.info(method, url);
        if self.cancel.is_cancelled() {
            return result.map_err(|_| info.cancelled());
        }
        match watched.error.take() {
            Some(e) if result.is_err() => Err(info.broken_body(ureq::Error::from(e))),
            _ => result,
        }
    }

    /// One request and the redirects it leads to. `auth` goes only to its origin (see
    /// `origin.rs`); a redirect elsewhere is followed without it. Answers with the final URL.
    pub(super) fn exchange(
        &self,
        req: &mut Req,
        auth: Option<(&Secret, &Origin)>,
        local: &Arc<Mutex<Option<String>>>,
    ) -> Result<(Response, String), ureq::Error> {
        let replayable = !matches!(req.body, Body::Stream(..));
        let with_body = !matches!(req.body, Body::Empty);
        let first = Origin::of(&req.url);
        let mut url = req.url.clone();
        let mut method = req.method.clone();
        for _ in 0..=MAX_REDIRECTS {
            let to = Origin::of(&url);
            let header = auth
                .filter(|(_, origin)| to.as_ref() == Some(*origin))
                .map(|(secret, _)| secret);
            let resp = self.send_once(req, &method, &url, header, local)?;
            let follow = match resp.status().as_u16() {
                301..=303 => matches!(method, Method::GET | Method::HEAD),
                307 | 308 => replayable,
                _ => false,
            };
            let next = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .and_then(|location| origin::join(&url, location))
                // A body (a token form with a refresh token, say) is replayed within its origin only.
                .filter(|next| !with_body || Origin::of(next) == first);
            match next.filter(|_| follow) {
                Some(next) => {
                    if resp.status() == 303 {
                        method = Method::GET;
                    }
                    url = next;
                }
                None => return Ok((resp, url)),
            }
        }
        Err(ureq::Error::TooManyRedirects)
    }

    fn send_once(
        &self,
        req: &mut Req,
        method: &Method,
        url: &str,
        auth: Option<&Secret>,
        local: &Arc<Mutex<Option<String>>>,
    ) -> Result<Response, ureq::Error> {
        let mut builder = http::Request::builder().method(method.clone()).uri(url);
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth.expose());
        }
        let wait = match req.wait {
            Wait::Read => self.timeouts.read,
            Wait::Commit => self.timeouts.commit,
        };
        let run = |request| self.run(request, wait);
        let has_body = !matches!(*method, Method::GET | Method::HEAD);
        match std::mem::replace(&mut req.body, Body::Empty) {
            Body::Empty if has_body => run(builder.header("content-length", "0").body(())?),
            Body::Empty => run(builder.body(())?),
            Body::Bytes(bytes) => {
                req.body = Body::Bytes(bytes);
                match has_body {
                    true => self.run(builder.body(bytes)?, wait),
                    false => run(builder.body(())?),
                }
            }
            Body::Stream(reader, len) => {
                let mut reader = Noting {
                    inner: reader,
                    local: local.clone(),
                    cancel: &self.cancel,
                };
                let body = ureq::SendBody::from_reader(&mut reader);
                self.run(
                    builder
                        .header("content-length", len.to_string())
                        .body(body)?,
                    wait,
                )
            }
        }
    }

    fn run<S: ureq::AsSendBody>(
        &self,
        request: http::Request<S>,
        wait: Duration,
    ) -> Result<Response, ureq::Error> {
        let request = self
            .agent
            .configure_request(request)
            .timeout_per_read(Some(wait))
            .build();
        self.agent.run(request)
    }
}

/// Remembers an error of our own reader, so that a missing blob file is not reported as the
/// registry's fault (ureq only sees an I/O error); and stops the upload once cancelled.
struct Noting<'a, 'c> {
    inner: Box<dyn Read + Send + 'a>,
    local: Arc<Mutex<Option<String>>>,
    cancel: &'c Cancel,
}

impl Read for Noting<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(std::io::Error::other("cancelled"));
        }
        self.inner
            .read(buf)
            .inspect_err(|e| *self.local.lock().unwrap() = Some(e.to_string()))
    }
}

/// Remembers the transport's error while a body is read, and stops reading once cancelled.
struct Watched<'c, R> {
    inner: R,
    cancel: &'c Cancel,
    error: Option<std::io::Error>,
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(std::io::Error::other("cancelled"));
        }
        self.inner.read(buf).map_err(|e| {
            let keep = std::io::Error::new(e.kind(), e.to_string());
            self.error = Some(e);
            keep
        })
    }
}

/// `a=b&c=d`, percent-encoding everything but unreserved characters and `:/,` (scopes).
pub(crate) fn query(params: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z'
                | b'a'..=b'z'
                | b'0'..=b'9'
                | b'-'
                | b'.'
                | b'_'
                | b'~'
                | b':'
                | b'/'
                | b',' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encodes_all_but_scope_characters() {
        assert_eq!(
            query(&[("scope", "repository:a/b:pull,push"), ("x", "a b&c")]),
            "scope=repository:a/b:pull,push&x=a%20b%26c"
        );
    }
}
