//! Credentials and the registry authentication handshake.
//!
//! Where credentials come from, first match wins: `GANTRY_REGISTRY_USER` and
//! `GANTRY_REGISTRY_PASSWORD`, then Docker's `config.json` (`auths`, `credHelpers`, `credsStore`,
//! read through the `docker_credential` crate, so `docker login` is all a user has to do).
//! Nothing is sent until a registry asks: a `401` with `WWW-Authenticate: Basic` gets the
//! credentials as basic auth; `Bearer realm=…,service=…,scope=…` sends them to the token
//! service (Docker Hub, GHCR, …) and the token it returns is what the registry sees.
//! Secrets never appear in `Debug` output or error messages.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Result};
use crate::settings::env;

/// A string that is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A credential for one registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Basic {
        user: String,
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken` in `config.json`), exchanged at the token service.
    IdentityToken(Secret),
}

/// Where to look for credentials.
#[derive(Clone, Debug, Default)]
pub enum CredentialSource {
    /// `GANTRY_REGISTRY_USER`/`GANTRY_REGISTRY_PASSWORD`, then `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`.
    #[default]
    Auto,
    /// Only this Docker `config.json` (tests, or a CI job with its own file).
    DockerConfig(PathBuf),
    /// Exactly this credential, for every registry contacted.
    Given(Credential),
    /// Never authenticate.
    Anonymous,
}

impl CredentialSource {
    /// The credential for the registry whose config key is `auth_key`, if any is configured.
    pub fn resolve(&self, auth_key: &str) -> Result<Option<Credential>> {
        match self {
            CredentialSource::Anonymous => Ok(None),
            CredentialSource::Given(c) => Ok(Some(c.clone())),
            CredentialSource::Auto => {
                if let Some(c) = from_env(|k| std::env::var(k).ok())? {
                    return Ok(Some(c));
                }
                from_docker(docker_credential::get_credential(auth_key), auth_key)
            }
            CredentialSource::DockerConfig(path) => {
                let file = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
                let found = docker_credential::get_credential_from_reader(file, auth_key);
                from_docker(found, auth_key)
            }
        }
    }
}

/// Both variables or neither: half a credential is a mistake worth reporting.
pub(crate) fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Credential>> {
    let nonempty = |k: &str| get(k).filter(|v| !v.is_empty());
    match (
        nonempty(env::REGISTRY_USER),
        nonempty(env::REGISTRY_PASSWORD),
    ) {
        (Some(user), Some(password)) => Ok(Some(Credential::Basic {
            user,
            password: Secret(password),
        })),
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => Err(Error::user(format!(
            "only one of `{}` and `{}` is set",
            env::REGISTRY_USER,
            env::REGISTRY_PASSWORD
        ))
        .with_hint("set both, or neither to use the credentials of `docker login`")),
    }
}

fn from_docker(
    found: std::result::Result<
        docker_credential::DockerCredential,
        docker_credential::CredentialRetrievalError,
    >,
    key: &str,
) -> Result<Option<Credential>> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential as D};
    match found {
        Ok(D::UsernamePassword(user, password)) => Ok(Some(Credential::Basic {
            user,
            password: Secret(password),
        })),
        Ok(D::IdentityToken(token)) => Ok(Some(Credential::IdentityToken(Secret(token)))),
        // No Docker config at all, or nothing for this registry: go anonymous.
        Err(E::NoCredentialConfigured | E::ConfigNotFound | E::ConfigReadError) => Ok(None),
        // A helper's stdout may hold a secret, so only its name and stderr are reported.
        Err(E::HelperFailure { helper, stderr, .. }) => Err(Error::failure(format!(
            "credential helper `docker-credential-{helper}` failed for `{key}`"
        ))
        .caused_by(stderr.trim().to_owned())
        .with_hint(format!(
            "run `docker login {key}` again, or set `{}` and `{}`",
            env::REGISTRY_USER,
            env::REGISTRY_PASSWORD
        ))),
        Err(other) => Err(Error::user(format!(
            "failed to read the Docker credentials for `{key}`"
        ))
        .caused_by(other.to_string())
        .with_hint("check `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`)")),
    }
}

/// One `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parse `Basic realm="x"` or `Bearer realm="…",service="…",scope="a:b:pull,push"`.
    /// Values are quoted strings that may contain commas, so this is a small tokenizer.
    pub(crate) fn parse(header: &str) -> Option<Challenge> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(params);
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: get("realm")?,
                service: get("service"),
                scope: get("scope"),
            }),
            _ => None,
        }
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
}

/// `Authorization: Basic …` for a user and password.
pub(crate) fn basic_header(user: &str, password: &Secret) -> Secret {
    Secret(format!(
        "Basic {}",
        STANDARD.encode(format!("{user}:{}", password.expose()))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_keeps_commas_inside_quotes() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#;
        assert_eq!(
            Challenge::parse(h),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn env_credentials_need_both_variables() {
        let both = |k: &str| Some(if k == env::REGISTRY_USER { "u" } else { "p" }.to_owned());
        assert_eq!(
            from_env(both).unwrap(),
            Some(Credential::Basic {
                user: "u".into(),
                password: Secret::new("p")
            })
        );
        assert_eq!(from_env(|_| None).unwrap(), None);
        let half = from_env(|k| (k == env::REGISTRY_USER).then(|| "u".to_owned())).unwrap_err();
        assert!(half.message().contains("only one of"), "{}", half.message());
    }

    #[test]
    fn docker_config_auths_are_read_and_secrets_are_not_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = STANDARD.encode("alice:s3cret");
        std::fs::write(
            &path,
            format!(r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}}}}}}"#),
        )
        .unwrap();
        let source = CredentialSource::DockerConfig(path);
        let found = source.resolve("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            found,
            Credential::Basic {
                user: "alice".into(),
                password: Secret::new("s3cret")
            }
        );
        assert!(!format!("{found:?}").contains("s3cret"));
        assert_eq!(source.resolve("ghcr.io").unwrap(), None);
    }

    #[test]
    fn basic_header_is_base64_of_user_colon_password() {
        assert_eq!(basic_header("a", &Secret::new("b")).expose(), "Basic YTpi");
    }
}
