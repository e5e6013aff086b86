//! The authentication handshake of a `Client`: answer a `401`'s challenge with basic auth, or
//! with a bearer token from the challenge's token service (see `auth.rs` for where credentials
//! come from, and `origin.rs` for where they may go).

use std::sync::{Arc, Mutex};

use ureq::http::Method;

use crate::error::Result;
use crate::registry::auth::{self, Challenge, Credential, Secret};
use crate::registry::client::{Body, Client, ERROR_BODY_LIMIT, Req, Response, query};
use crate::registry::origin::{self, Origin};

impl Client {
    fn credential(&self) -> Result<Option<Credential>> {
        let mut cached = self.credential.lock().unwrap();
        if cached.is_none() {
            *cached = Some(self.source.resolve(&self.auth_key)?);
        }
        Ok(cached.clone().flatten())
    }

    /// Answer a 401's challenge; `false` when that cannot change anything (no credentials for
    /// basic auth, or the same header was just refused).
    pub(super) fn authenticate(&self, resp: &Response, sent: Option<&Secret>) -> Result<bool> {
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
        let Some(realm_origin) = Origin::of(realm) else {
            return Err(crate::Error::failure(format!(
                "the registry `{}` sends gantry to log in at `{realm}`, which is not an HTTP(S) URL",
                self.host
            )));
        };
        if credential.is_some() && !origin::credentials_allowed(realm, &self.origin, &self.insecure)
        {
            return Err(crate::Error::user(format!(
                "the registry `{}` asks for credentials at `{realm}`, over plain HTTP",
                self.host
            ))
            .with_hint(format!("gantry sends credentials over plain HTTP only to the registry itself; if that token service is yours and the network trusted, pass `--insecure-registry {}`", realm_origin.authority())));
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
                return self.read_token(req.body(Body::Bytes(form.as_bytes())), None);
            }
            _ => {
                params.extend(scopes.iter().map(|s| ("scope", s.as_str())));
                let sep = if realm.contains('?') { '&' } else { '?' };
                Req::new(Method::GET, format!("{realm}{sep}{}", query(&params)))
            }
        };
        let basic = match credential {
            Some(Credential::Basic { user, password }) => Some(auth::basic_header(user, password)),
            _ => None,
        };
        self.read_token(req, basic)
    }

    /// Ask the token service; `basic` goes to the realm's origin only, not where it redirects.
    fn read_token(&self, mut req: Req, basic: Option<Secret>) -> Result<Secret> {
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let realm = Origin::of(&req.url);
        let local = Arc::new(Mutex::new(None));
        let auth = basic.as_ref().zip(realm.as_ref());
        let result = self.exchange(&mut req, auth, &local);
        let info = self.info(&req.method, &req.url);
        let (mut resp, _) = result.map_err(|e| info.transport(&e))?;
        if resp.status() != 200 {
            return Err(self.status_error(&info, &mut resp));
        }
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
