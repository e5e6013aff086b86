//! Healthchecks for images without a shell: the setting (`healthcheck = { http = "…" }` or
//! `--healthcheck URL`), and what it becomes — Docker's `Healthcheck` running `gantry-probe`
//! ([`crate::probe`]) in the image, a Dockerfile `HEALTHCHECK`, and the Kubernetes
//! `livenessProbe` that does the same (Kubernetes ignores Docker healthchecks).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Where `gantry-probe` lives in the image.
pub const PROBE_PATH: &str = "/usr/local/bin/gantry-probe";

/// What is checked. The host is loopback-style (numeric IPv4, `[IPv6]` or `localhost`): the
/// check runs inside the container, and the probe does no DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `GET path` must answer 2xx or 3xx.
    Http {
        host: String,
        port: u16,
        path: String,
    },
    /// The port must accept a connection.
    Tcp { host: String, port: u16 },
}

/// One settings layer's healthcheck: the check, and the timings it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub check: Check,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub retries: Option<u32>,
}

/// The healthcheck of an image, every value decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub check: Check,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u32,
}

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The probe's own default deadline too.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;

const KEYS: &[&str] = &[
    "http",
    "tcp",
    "interval",
    "timeout",
    "start-period",
    "retries",
];

impl Check {
    /// `http://HOST[:PORT][/PATH]` or `tcp://HOST:PORT`, as `--healthcheck` takes it; `what`
    /// names the flag or key in messages.
    pub fn parse_url(url: &str, what: &str) -> Result<Check> {
        if let Some(rest) = url.strip_prefix("http://") {
            return Check::parse_http(rest, url, what);
        }
        if let Some(rest) = url.strip_prefix("tcp://") {
            return Check::parse_tcp(rest, what);
        }
        let mut err = Error::user(format!(
            "{what} `{url}` is neither an `http://` nor a `tcp://` URL"
        ));
        err = if url.starts_with("https://") {
            err.with_hint(
                "the probe speaks plain HTTP to the program in its own container; \
                 check a plain-HTTP port, or use `tcp://HOST:PORT`",
            )
        } else {
            err.with_hint("write e.g. `http://127.0.0.1:8080/healthz` or `tcp://127.0.0.1:5432`")
        };
        Err(err)
    }

    fn parse_http(rest: &str, url: &str, what: &str) -> Result<Check> {
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) || path.len() > 1024 {
            return Err(
                Error::user(format!("{what} `{url}` has a path the probe cannot send"))
                    .with_hint("percent-encode spaces and keep the path under 1024 bytes"),
            );
        }
        let (host, port) = host_port(authority, Some(80), what)?;
        Ok(Check::Http { host, port, path })
    }

    fn parse_tcp(rest: &str, what: &str) -> Result<Check> {
        let (host, port) = host_port(rest, None, what)?;
        Ok(Check::Tcp { host, port })
    }

    pub fn port(&self) -> u16 {
        match self {
            Check::Http { port, .. } | Check::Tcp { port, .. } => *port,
        }
    }

    /// The arguments of `gantry-probe` after its options.
    pub fn probe_args(&self) -> Vec<String> {
        match self {
            Check::Http { host, port, path } => vec![format!("http://{host}:{port}{path}")],
            Check::Tcp { host, port } => vec!["tcp".to_owned(), format!("{host}:{port}")],
        }
    }

    /// `http://…` or `tcp://…`, as it would be typed.
    pub fn url(&self) -> String {
        match self {
            Check::Http { .. } => self.probe_args().remove(0),
            Check::Tcp { host, port } => format!("tcp://{host}:{port}"),
        }
    }
}

/// `HOST[:PORT]`: numeric IPv4, `[IPv6]` or `localhost` (the probe resolves nothing else).
fn host_port(s: &str, default_port: Option<u16>, what: &str) -> Result<(String, u16)> {
    let bad_host = |host: &str| {
        Error::user(format!(
            "{what}: host `{host}` is not a numeric IPv4 address, `[IPv6]` or `localhost`"
        ))
        .with_hint(
            "the probe runs inside the container and does no DNS: check the program's \
             loopback address, e.g. `127.0.0.1`",
        )
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or_else(|| bad_host(s))?;
        inner.parse::<Ipv6Addr>().map_err(|_| bad_host(s))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad_host(s))?),
        };
        (format!("[{inner}]"), port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        if host != "localhost" && host.parse::<Ipv4Addr>().is_err() {
            return Err(bad_host(host));
        }
        (host.to_owned(), port)
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            Error::user(format!("{what}: `{p}` is not a port number"))
                .with_hint("use a port from 1 to 65535")
        })?,
        None => default_port.ok_or_else(|| {
            Error::user(format!("{what} `{s}` has no port"))
                .with_hint("write HOST:PORT, e.g. `127.0.0.1:5432`")
        })?,
    };
    Ok((host, port))
}

/// `30s`, `1m`, `500ms`, `1m30s`, `2h` (units `ms`, `s`, `m`, `h`).
pub fn parse_duration(text: &str, what: &str) -> Result<Duration> {
    let bad = || {
        Error::user(format!("{what} `{text}` is not a duration"))
            .with_hint("write e.g. `30s`, `1m`, `500ms` or `1m30s`")
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        let n = u32::try_from(n).map_err(|_| bad())?;
        total = total.checked_add(unit * n).ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// The shortest form Docker (Go's `time.ParseDuration`) and the probe both read: `30s`, `500ms`.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Spec {
    /// `self` wins where it has a value; `lower` fills the timings it leaves open.
    pub fn or(self, lower: Option<Spec>) -> Spec {
        let Some(lower) = lower else { return self };
        Spec {
            check: self.check,
            interval: self.interval.or(lower.interval),
            timeout: self.timeout.or(lower.timeout),
            start_period: self.start_period.or(lower.start_period),
            retries: self.retries.or(lower.retries),
        }
    }

    /// A check from `--healthcheck URL`, timings left to the other layers.
    pub fn from_url(url: &str) -> Result<Spec> {
        Ok(Spec {
            check: Check::parse_url(url, "--healthcheck")?,
            interval: None,
            timeout: None,
            start_period: None,
            retries: None,
        })
    }

    pub fn resolve(&self) -> Healthcheck {
        Healthcheck {
            check: self.check.clone(),
            interval: self.interval.unwrap_or(DEFAULT_INTERVAL),
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            start_period: self.start_period.unwrap_or(Duration::ZERO),
            retries: self.retries.unwrap_or(DEFAULT_RETRIES),
        }
    }

    /// The `healthcheck` table of `[*.metadata.gantry]`, every refusal naming its key.
    fn from_table(table: &BTreeMap<String, serde_json::Value>) -> Result<Spec> {
        if let Some(key) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(Error::user(format!(
                "unknown key `healthcheck.{key}`; expected one of {}",
                KEYS.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let text = |key: &str| -> Result<Option<&str>> {
            match table.get(key) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(Error::user(format!(
                    "`healthcheck.{key}` must be a string, not `{other}`"
                ))),
            }
        };
        let check = match (text("http")?, text("tcp")?) {
            (Some(url), None) => match url.strip_prefix("http://") {
                Some(rest) => Check::parse_http(rest, url, "`healthcheck.http`")?,
                // The same refusal (and hint) as `--healthcheck`.
                None if !url.starts_with("tcp://") => Check::parse_url(url, "`healthcheck.http`")?,
                None => {
                    return Err(Error::user(format!(
                        "`healthcheck.http` `{url}` is not an `http://` URL"
                    ))
                    .with_hint("a port check is `tcp = \"127.0.0.1:PORT\"`"));
                }
            },
            (None, Some(addr)) => {
                let addr = addr.strip_prefix("tcp://").unwrap_or(addr);
                Check::parse_tcp(addr, "`healthcheck.tcp`")?
            }
            (Some(_), Some(_)) => {
                return Err(Error::user(
                    "`healthcheck` sets both `http` and `tcp`; it takes exactly one",
                ));
            }
            (None, None) => {
                return Err(Error::user(
                    "`healthcheck` needs `http = \"http://127.0.0.1:PORT/PATH\"` or `tcp = \"127.0.0.1:PORT\"`",
                ));
            }
        };
        let duration = |key: &str, positive: bool| -> Result<Option<Duration>> {
            let Some(s) = text(key)? else { return Ok(None) };
            let d = parse_duration(s, &format!("`healthcheck.{key}`"))?;
            if positive && d < Duration::from_millis(1) {
                return Err(Error::user(format!(
                    "`healthcheck.{key}` must be at least 1ms, not `{s}`"
                )));
            }
            Ok(Some(d))
        };
        let retries = match table.get("retries") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        Error::user(format!(
                            "`healthcheck.retries` must be a whole number from 1 up, not `{v}`"
                        ))
                    })?,
            ),
        };
        Ok(Spec {
            check,
            interval: duration("interval", true)?,
            timeout: duration("timeout", true)?,
            start_period: duration("start-period", false)?,
            retries,
        })
    }

    fn to_table(&self) -> BTreeMap<&'static str, serde_json::Value> {
        let mut t = BTreeMap::new();
        match &self.check {
            Check::Http { .. } => t.insert("http", self.check.url().into()),
            Check::Tcp { host, port } => t.insert("tcp", format!("{host}:{port}").into()),
        };
        let times = [
            ("interval", self.interval),
            ("timeout", self.timeout),
            ("start-period", self.start_period),
        ];
        for (k, d) in times {
            if let Some(d) = d {
                t.insert(k, format_duration(d).into());
            }
        }
        if let Some(r) = self.retries {
            t.insert("retries", r.into());
        }
        t
    }
}

impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Spec, D::Error> {
        let table = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        Spec::from_table(&table).map_err(|e| {
            let mut text = e.message().to_owned();
            if let Some(h) = e.hint() {
                write!(text, " ({h})").unwrap();
            }
            serde::de::Error::custom(text)
        })
    }
}

impl Serialize for Spec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_table().serialize(s)
    }
}

impl Healthcheck {
    /// The probe's command line in the image (exec form: there is no shell).
    pub fn command(&self) -> Vec<String> {
        let mut cmd = vec![
            PROBE_PATH.to_owned(),
            "--timeout".to_owned(),
            format_duration(self.timeout),
        ];
        cmd.extend(self.check.probe_args());
        cmd
    }

    /// The Dockerfile instruction.
    pub fn dockerfile_instruction(&self) -> String {
        let cmd: Vec<String> = self
            .command()
            .iter()
            .map(|a| serde_json::Value::String(a.clone()).to_string())
            .collect();
        format!(
            "HEALTHCHECK --interval={} --timeout={} --start-period={} --retries={} CMD [{}]",
            format_duration(self.interval),
            format_duration(self.timeout),
            format_duration(self.start_period),
            self.retries,
            cmd.join(",")
        )
    }

    /// The same check as a Kubernetes `livenessProbe` (YAML, to paste under a container).
    pub fn kubernetes_liveness_probe(&self) -> String {
        // Kubernetes counts in whole seconds, at least one for period and timeout.
        let secs = |d: Duration, min: u64| d.as_secs_f64().ceil().max(min as f64) as u64;
        let mut y = String::from(
            "# Kubernetes ignores the image's HEALTHCHECK. The kubelet connects to the pod's IP,\n\
             # not to loopback: the program must listen on all interfaces (0.0.0.0 or [::]).\n\
             livenessProbe:\n",
        );
        match &self.check {
            Check::Http { port, path, .. } => {
                let path = serde_json::Value::String(path.clone());
                writeln!(y, "  httpGet:\n    path: {path}\n    port: {port}").unwrap();
            }
            Check::Tcp { port, .. } => writeln!(y, "  tcpSocket:\n    port: {port}").unwrap(),
        }
        writeln!(y, "  periodSeconds: {}", secs(self.interval, 1)).unwrap();
        writeln!(y, "  timeoutSeconds: {}", secs(self.timeout, 1)).unwrap();
        writeln!(y, "  initialDelaySeconds: {}", secs(self.start_period, 0)).unwrap();
        writeln!(y, "  failureThreshold: {}", self.retries).unwrap();
        y
    }

    /// Docker's image config field.
    pub fn docker_config(&self) -> crate::oci::image::Healthcheck {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let mut test = vec!["CMD".to_owned()];
        test.extend(self.command());
        crate::oci::image::Healthcheck {
            test,
            interval: ns(self.interval),
            timeout: ns(self.timeout),
            start_period: ns(self.start_period),
            retries: self.retries,
        }
    }
}

#[cfg(test)]
#[path = "healthcheck_tests.rs"]
mod tests;
