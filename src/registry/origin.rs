//! Who may see credentials: the origin (scheme, host and port) that asked for them, and nobody
//! else.
//!
//! "Another host" is another origin. `http://r.example` is not `https://r.example` (a downgrade
//! exposes the header to the network), and `127.0.0.1:5000` is not `127.0.0.1:5001`: two ports are
//! two programs, possibly of two users. So the registry's `Authorization` goes only to URLs of the
//! registry's own origin, whatever a redirect or an upload `Location` points at; a token service's
//! basic credentials go only to the realm's origin; and a realm over plain HTTP gets credentials
//! only when it is the registry itself (already allowed plain HTTP) or the user named it insecure.

use ureq::http::Uri;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an absolute `http(s)://` URL; `None` for anything else.
    pub fn of(url: &str) -> Option<Origin> {
        let uri: Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        Some(Origin {
            host: uri.host()?.to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(default),
            scheme,
        })
    }

    /// `host:port`, as errors name it.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// Named by `--insecure-registry` (`host:port`, or `host` for the default port).
    fn listed_in(&self, insecure: &[String]) -> bool {
        let default = if self.is_https() { 443 } else { 80 };
        insecure.iter().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            entry == self.authority() || (self.port == default && entry == self.host)
        })
    }
}

/// Whether a token service at `realm` may receive the user's credentials, for a registry at
/// `registry`: over HTTPS, or over plain HTTP only when the realm is the registry itself or a host
/// the user named insecure. A registry must not be able to make gantry send a password in clear
/// text to somewhere else.
pub(crate) fn credentials_allowed(realm: &str, registry: &Origin, insecure: &[String]) -> bool {
    Origin::of(realm)
        .is_some_and(|realm| realm.is_https() || realm == *registry || realm.listed_in(insecure))
}

/// `location` from an answer to a request for `base`, made absolute: a URL, `//host/path`,
/// `/path`, or a path relative to `base`'s. `None` when it is not an `http(s)` URL.
pub(crate) fn join(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let joined = if location.contains("://") {
        location.to_owned()
    } else {
        let (scheme, rest) = base.split_once("://")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some(other) = location.strip_prefix("//") {
            format!("{scheme}://{other}")
        } else if location.starts_with('/') {
            format!("{scheme}://{authority}{location}")
        } else {
            let path = path.split(['?', '#']).next().unwrap_or_default();
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            format!("{scheme}://{authority}{dir}{location}")
        }
    };
    Origin::of(&joined).map(|_| joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::of(url).unwrap()
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        assert_eq!(
            origin("https://R.example/v2/"),
            origin("https://r.example:443/x")
        );
        assert_ne!(
            origin("https://r.example/v2/"),
            origin("http://r.example/v2/")
        );
        assert_ne!(
            origin("http://127.0.0.1:5000/"),
            origin("http://127.0.0.1:5001/")
        );
        assert_ne!(
            origin("http://127.0.0.1:5000/"),
            origin("http://127.0.0.2:5000/")
        );
        assert_eq!(origin("http://[::1]:5000/v2/").authority(), "[::1]:5000");
        assert_eq!(Origin::of("ftp://r.example/"), None);
        assert_eq!(Origin::of("/v2/x"), None);
    }

    #[test]
    fn credentials_go_to_a_realm_over_https_or_to_the_plain_http_registry_itself() {
        let registry = origin("http://127.0.0.1:5000/v2/");
        let allowed = |realm: &str, insecure: &[&str]| {
            let insecure: Vec<String> = insecure.iter().map(|s| s.to_string()).collect();
            credentials_allowed(realm, &registry, &insecure)
        };
        assert!(allowed("https://auth.example.com/token", &[]));
        assert!(allowed("http://127.0.0.1:5000/token?x=1", &[]));
        // Loopback, but another port: another program.
        assert!(!allowed("http://127.0.0.1:5001/token", &[]));
        assert!(allowed("http://127.0.0.1:5001/token", &["127.0.0.1:5001"]));
        assert!(!allowed("http://auth.example.com/token", &[]));
        assert!(allowed(
            "http://auth.example.com/token",
            &["auth.example.com"]
        ));
        assert!(!allowed(
            "http://auth.example.com:8080/token",
            &["auth.example.com"]
        ));
        assert!(!allowed("file:///etc/passwd", &[]));
        // An HTTPS registry never sends credentials to a plain HTTP realm, even its own host.
        let https = origin("https://r.example/v2/");
        assert!(!credentials_allowed("http://r.example/token", &https, &[]));
    }

    #[test]
    fn locations_are_joined_like_a_browser_would() {
        let base = "http://127.0.0.1:5000/v2/app/blobs/uploads/?mount=x";
        assert_eq!(
            join(base, "/v2/app/blobs/uploads/u1?_state=s").unwrap(),
            "http://127.0.0.1:5000/v2/app/blobs/uploads/u1?_state=s"
        );
        assert_eq!(
            join(base, "u2").unwrap(),
            "http://127.0.0.1:5000/v2/app/blobs/uploads/u2"
        );
        assert_eq!(
            join(base, "//cdn.example/blob").unwrap(),
            "http://cdn.example/blob"
        );
        assert_eq!(
            join(base, "https://cdn.example/b?sig=1").unwrap(),
            "https://cdn.example/b?sig=1"
        );
        assert_eq!(join("http://h:1", "x").unwrap(), "http://h:1/x");
        assert_eq!(join(base, "javascript://alert(1)"), None);
    }
}
