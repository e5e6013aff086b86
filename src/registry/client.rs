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
use crate::registry::auth::{self, Challenge, Credential, CredentialSource, Secret};
use crate::registry::failure::{self, is_transient};
use crate::registry::progress::ProgressMode;
use crate::registry::reference::{ImageRef, is_loopback_host};
use crate::registry::retry::{RetryPolicy, retry_after, retryable};

pub(crate) type Response = http::Response<ureq::Body>;
/// Error bodies are read for their message only; a registry may send an HTML page.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// How to talk to registries; shared by push and pull.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    pub credentials: CredentialSource,
    /// Registries (`host[:port]`) reached over plain HTTP; loopback ones always are.
    pub insecure: Vec<String>,
    pub retry: RetryPolicy,
    pub progress: ProgressMode,
}

pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Streamed and sent once: a half-sent upload cannot be replayed blindly, so resuming it is
    /// the caller's business.
    Stream(Box<dyn Read + Send + 'a>, u64),
}

pub(crate) struct Req<'a> {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, url: String) -> Req<'a> {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
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
}

/// One registry, one set of repository scopes (`repository:NAME:pull,push`).
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    host: String,
    auth_key: String,
    doing: String,
    scopes: Vec<String>,
    source: CredentialSource,
    credential: Mutex<Option<Option<Credential>>>,
    authorization: Mutex<Option<Secret>>,
    /// Held while answering a challenge, so parallel uploads that were all refused fetch one
    /// token between them rather than one each.
    authenticating: Mutex<()>,
    pub retry: RetryPolicy,
    /// Hosts the user allowed plain HTTP for (`--insecure-registry`).
    insecure: Vec<String>,
}

/// Whether credentials may go to a token service at `realm`: over HTTPS, or plain HTTP only to a
/// loopback host or one the user named insecure. A registry must not be able to make gantry send a
/// password in clear text across the network.
fn credentials_allowed(realm: &str, insecure: &[String]) -> bool {
    let Some(rest) = realm.strip_prefix("http://") else {
        return true;
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    is_loopback_host(host) || insecure.iter().any(|h| h == host)
}

impl Client {
    pub fn new(
        reference: &ImageRef,
        scopes: Vec<String>,
        doing: String,
        options: &ClientOptions,
    ) -> Client {
        let registry = reference.registry();
        let plain = is_loopback_host(registry) || options.insecure.iter().any(|h| h == registry);
        let scheme = if plain { "http" } else { "https" };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("cargo-gantry/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(30)))
            // A registry may hash a large blob before it answers the final PUT.
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .max_idle_connections_per_host(8)
            .build()
            .into();
        Client {
            agent,
            base: format!("{scheme}://{}", reference.api_host()),
            host: registry.to_owned(),
            auth_key: reference.auth_key().to_owned(),
            doing,
            scopes,
            source: options.credentials.clone(),
            credential: Mutex::new(None),
            authorization: Mutex::new(None),
            authenticating: Mutex::new(()),
            retry: options.retry.clone(),
            insecure: options.insecure.clone(),
        }
    }

    /// `/v2/<path>` on this registry.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    /// A `Location` header made absolute (registries may answer with a path only).
    pub fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}/{}", self.base, location.trim_start_matches('/'))
        }
    }

    pub fn doing(&self) -> &str {
        &self.doing
    }

    /// Send `req`, retrying transient failures and answering auth challenges; any status not in
    /// `ok` becomes an error naming the request and the registry's answer.
    pub fn send(&self, req: Req, ok: &[u16]) -> Result<Response> {
        self.send_with(req, ok, true)
    }

    fn send_with(&self, mut req: Req, ok: &[u16], use_auth: bool) -> Result<Response> {
        let replayable = !matches!(req.body, Body::Stream(..));
        let (mut attempt, mut reauthenticated) = (0, false);
        let local_error = Arc::new(Mutex::new(None));
        loop {
            attempt += 1;
            let sent = use_auth
                .then(|| self.authorization.lock().unwrap().clone())
                .flatten();
            let result = self.send_once(&mut req, sent.as_ref(), &local_error);
            let had_credentials = self
                .credential
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(Option::is_some);
            let info = failure::Request {
                method: req.method.as_str(),
                url: &req.url,
                doing: &self.doing,
                host: &self.host,
                attempts: attempt,
                had_credentials,
            };
            if let Some(local) = local_error.lock().unwrap().take() {
                return Err(info.local(local));
            }
            let mut resp = match result {
                Ok(resp) => resp,
                Err(e) if replayable && attempt < self.retry.attempts => {
                    std::thread::sleep(self.retry.delay(attempt, None));
                    drop(e);
                    continue;
                }
                Err(e) => return Err(info.transport(&e)),
            };
            let status = resp.status().as_u16();
            if ok.contains(&status) {
                return Ok(resp);
            }
            if status == 401
                && use_auth
                && !reauthenticated
                && self.authenticate(&resp, sent.as_ref())?
            {
                reauthenticated = true;
                if replayable {
                    attempt -= 1;
                    continue;
                }
                return Err(info.stale_auth());
            }
            if retryable(status) && replayable && attempt < self.retry.attempts {
                let wait = retry_after(
                    resp.headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()),
                );
                std::thread::sleep(self.retry.delay(attempt, wait));
                continue;
            }
            let reason = resp.status().canonical_reason().unwrap_or("");
            let body = resp
                .body_mut()
                .with_config()
                .limit(ERROR_BODY_LIMIT)
                .read_to_vec()
                .unwrap_or_default();
            return Err(info.status(status, reason, &body));
        }
    }

    fn send_once(
        &self,
        req: &mut Req,
        auth: Option<&Secret>,
        local: &Arc<Mutex<Option<String>>>,
    ) -> Result<Response, ureq::Error> {
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(&req.url);
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth.expose());
        }
        let has_body = !matches!(req.method, Method::GET | Method::HEAD);
        match std::mem::replace(&mut req.body, Body::Empty) {
            Body::Empty if has_body => self
                .agent
                .run(builder.header("content-length", "0").body(())?),
            Body::Empty => self.agent.run(builder.body(())?),
            Body::Bytes(bytes) => {
                req.body = Body::Bytes(bytes);
                self.agent.run(builder.body(bytes)?)
            }
            Body::Stream(reader, len) => {
                let mut reader = Noting {
                    inner: reader,
                    local: local.clone(),
                };
                let body = ureq::SendBody::from_reader(&mut reader);
                self.agent.run(
                    builder
                        .header("content-length", len.to_string())
                        .body(body)?,
                )
            }
        }
    }

    fn credential(&self) -> Result<Option<Credential>> {
        let mut cached = self.credential.lock().unwrap();
        if cached.is_none() {
            *cached = Some(self.source.resolve(&self.auth_key)?);
        }
        Ok(cached.clone().flatten())
    }

    /// Answer a 401's challenge; `false` when that cannot change anything (no credentials for
    /// basic auth, or the same header was just refused).
    fn authenticate(&self, resp: &Response, sent: Option<&Secret>) -> Result<bool> {
        let challenges: Vec<Challenge> = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| Challenge::parse(v.to_str().ok()?))
            .collect();
        let Some(challenge) = challenges
            .iter()
            .find(|c| matches!(c, Challenge::Bearer { .. }))
            .or(challenges.first())
        else {
            return Ok(false);
        };
        let _one_at_a_time = self.authenticating.lock().unwrap();
        if self.authorization.lock().unwrap().as_ref() != sent {
            return Ok(true); // another thread has just answered a challenge: try its header
        }
        let credential = self.credential()?;
        let header = match (challenge, &credential) {
            (Challenge::Basic, Some(Credential::Basic { user, password })) => {
                auth::basic_header(user, password)
            }
            (Challenge::Basic, _) => return Ok(false),
            (
                Challenge::Bearer {
                    realm,
                    service,
                    scope,
                },
                _,
            ) => self.token(
                realm,
                service.as_deref(),
                scope.as_deref(),
                credential.as_ref(),
            )?,
        };
        if sent == Some(&header) {
            return Ok(false);
        }
        *self.authorization.lock().unwrap() = Some(header);
        Ok(true)
    }

    /// Ask the token service for a bearer token covering our scopes and the challenge's.
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
        credential: Option<&Credential>,
    ) -> Result<Secret> {
        if credential.is_some() && !credentials_allowed(realm, &self.insecure) {
            return Err(crate::Error::user(format!(
                "the registry `{}` asks for credentials at `{realm}`, over plain HTTP",
                self.host
            ))
            .with_hint("gantry sends credentials only over HTTPS; if that token service is yours and the network trusted, pass --insecure-registry for its host"));
        }
        let mut scopes = self.scopes.clone();
        scopes.extend(
            scope
                .map(str::to_owned)
                .filter(|s| !self.scopes.contains(s)),
        );
        let mut params: Vec<(&str, &str)> = service.map(|s| ("service", s)).into_iter().collect();
        let req = match credential {
            Some(Credential::IdentityToken(refresh)) => {
                let joined = scopes.join(" ");
                params.extend([
                    ("grant_type", "refresh_token"),
                    ("client_id", "cargo-gantry"),
                    ("scope", &joined),
                ]);
                params.push(("refresh_token", refresh.expose()));
                let form = query(&params);
                let req = Req::new(Method::POST, realm.to_owned())
                    .header("content-type", "application/x-www-form-urlencoded");
                return self.read_token(req.body(Body::Bytes(form.as_bytes())));
            }
            _ => {
                params.extend(scopes.iter().map(|s| ("scope", s.as_str())));
                let sep = if realm.contains('?') { '&' } else { '?' };
                Req::new(Method::GET, format!("{realm}{sep}{}", query(&params)))
            }
        };
        let req = match credential {
            Some(Credential::Basic { user, password }) => {
                req.header("authorization", auth::basic_header(user, password).expose())
            }
            _ => req,
        };
        self.read_token(req)
    }

    fn read_token(&self, req: Req) -> Result<Secret> {
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let mut resp = self.send_with(req, &[200], false)?;
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(ERROR_BODY_LIMIT)
            .read_to_vec()
            .unwrap_or_default();
        let parsed: Option<Token> = serde_json::from_slice(&bytes).ok();
        match parsed.and_then(|t| t.token.or(t.access_token)) {
            Some(token) => Ok(Secret::new(format!("Bearer {token}"))),
            None => Err(crate::Error::failure(format!(
                "the token service of `{}` answered without a token",
                self.host
            ))),
        }
    }
}

/// Remembers an error of our own reader, so that a missing blob file is not reported as the
/// registry's fault (ureq only sees an I/O error).
struct Noting<'a> {
    inner: Box<dyn Read + Send + 'a>,
    local: Arc<Mutex<Option<String>>>,
}

impl Read for Noting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner
            .read(buf)
            .inspect_err(|e| *self.local.lock().unwrap() = Some(e.to_string()))
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

/// Whether a failed upload step deserves a fresh attempt at the blob level.
pub(crate) fn worth_retrying(err: &crate::Error) -> bool {
    is_transient(err) || matches!(failure::status_of(err), Some(404 | 416))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_over_https_or_to_trusted_hosts() {
        assert!(credentials_allowed("https://auth.example.com/token", &[]));
        assert!(credentials_allowed("http://127.0.0.1:5001/token?x=1", &[]));
        assert!(!credentials_allowed("http://auth.example.com/token", &[]));
        assert!(credentials_allowed(
            "http://auth.example.com/token",
            &["auth.example.com".into()]
        ));
    }
}
