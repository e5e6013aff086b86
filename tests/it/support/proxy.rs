//! A small HTTP proxy on 127.0.0.1 in front of a test registry, for fault injection: on a chosen
//! share of requests it answers `500` or `429` itself, or drops the connection (halfway through
//! the request body when there is one). Every request goes over its own upstream connection
//! (`Connection: close`), so a fault never leaks into the next request. It records what passed.
//! It can also play a misbehaving registry: refuse one blob for good, answer slowly, redirect
//! blob downloads or point upload sessions at another port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Shares of requests, in percent, that get each fault. The draw is a seeded PRNG, so a run is
/// reproducible up to thread scheduling.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub server_error: u64,
    pub too_many: u64,
    pub drop: u64,
    pub seed: u64,
    /// The shares above apply only to requests whose `METHOD /path` starts with this.
    pub only: Option<&'static str>,
    /// Play a Docker Hub-style token service: `/v2/…` needs `Bearer <TOKEN>`, which `/token`
    /// hands out for basic auth with this `Basic …` header value.
    pub bearer_for: Option<&'static str>,
    /// Requests whose path contains this get `403 Forbidden`, every time.
    pub forbidden: Option<String>,
    /// Wait this long before passing a request on.
    pub delay: Duration,
    /// Answer blob downloads with `307` to the same path on this port of 127.0.0.1.
    pub redirect_blobs_to: Option<u16>,
    /// Rewrite the registry's `Location` headers (upload sessions) to this port of 127.0.0.1.
    pub locations_to: Option<u16>,
}

/// The token the fake token service issues.
pub const TOKEN: &str = "t0ken-for-tests";

#[derive(Default)]
pub struct Stats {
    /// `METHOD /path` of every request that reached the proxy.
    pub requests: Mutex<Vec<String>>,
    pub injected: AtomicU64,
    /// Request-body bytes passed on to the registry.
    pub forwarded: AtomicU64,
    /// `METHOD /path` of the requests that carried an `Authorization` header.
    pub authorized: Mutex<Vec<String>>,
    /// How many requests had been recorded when the first `403` of `forbidden` was sent.
    pub forbidden_after: Mutex<Option<usize>>,
}

pub struct Proxy {
    pub port: u16,
    pub stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16, faults: Faults) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stats, stop) = (Arc::new(Stats::default()), Arc::new(AtomicBool::new(false)));
        let rng = Arc::new(Mutex::new(faults.seed | 1));
        let faults = Arc::new(faults);
        let (s, st) = (stats.clone(), stop.clone());
        thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (s, rng, faults) = (s.clone(), rng.clone(), faults.clone());
                        thread::spawn(move || {
                            let _ = handle(conn, upstream, &faults, &s, &rng);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy { port, stats, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        self.stats.requests.lock().unwrap().clone()
    }

    pub fn injected(&self) -> u64 {
        self.stats.injected.load(Ordering::SeqCst)
    }

    pub fn authorized(&self) -> Vec<String> {
        self.stats.authorized.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

enum Fault {
    None,
    Status(&'static str),
    Drop,
}

fn draw(faults: &Faults, rng: &Mutex<u64>) -> Fault {
    let mut x = rng.lock().unwrap();
    // xorshift64
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    let roll = *x % 100;
    if roll < faults.server_error {
        Fault::Status("500 Internal Server Error")
    } else if roll < faults.server_error + faults.too_many {
        Fault::Status("429 Too Many Requests")
    } else if roll < faults.server_error + faults.too_many + faults.drop {
        Fault::Drop
    } else {
        Fault::None
    }
}

fn handle(
    client: TcpStream,
    upstream: u16,
    faults: &Faults,
    stats: &Stats,
    rng: &Mutex<u64>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0u64;
    let mut authorization = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("authorization:") {
            authorization = line[14..].trim().to_owned();
        }
        if !lower.starts_with("connection:") {
            head.push(line);
        }
    }
    let request_line = head.first().cloned().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let record = |what: String| stats.requests.lock().unwrap().push(what);
    let bare = path.split('?').next().unwrap_or("");
    if !authorization.is_empty() {
        stats
            .authorized
            .lock()
            .unwrap()
            .push(format!("{method} {bare}"));
    }
    let mut client = client;
    if let Some(basic) = faults.bearer_for {
        let port = client.local_addr()?.port();
        if let Some(query) = path.strip_prefix("/token?") {
            record(format!("{method} /token?{query}"));
            let (status, body) = match authorization == basic {
                true => ("200 OK", format!(r#"{{"token":"{TOKEN}"}}"#)),
                false => (
                    "401 Unauthorized",
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#
                        .to_owned(),
                ),
            };
            write!(
                client,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return client.shutdown(Shutdown::Both);
        }
        if authorization != format!("Bearer {TOKEN}") {
            record(format!("{method} {bare} (challenged)"));
            std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink())?;
            let challenge = format!(
                r#"Bearer realm="http://127.0.0.1:{port}/token",service="test-registry",scope="repository:x:pull""#
            );
            write!(
                client,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return client.shutdown(Shutdown::Both);
        }
    }
    record(format!("{method} {bare}"));
    if let Some(forbidden) = faults.forbidden.as_deref().filter(|f| path.contains(f)) {
        std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink())?;
        let body = format!(
            r#"{{"errors":[{{"code":"DENIED","message":"{forbidden} is forbidden by the test proxy"}}]}}"#
        );
        write!(
            client,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        client.flush()?;
        let count = stats.requests.lock().unwrap().len();
        stats.forbidden_after.lock().unwrap().get_or_insert(count);
        return client.shutdown(Shutdown::Both);
    }
    if let Some(port) = faults.redirect_blobs_to
        && method == "GET"
        && bare.contains("/blobs/sha256:")
    {
        write!(
            client,
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{port}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return client.shutdown(Shutdown::Both);
    }
    let applies = faults
        .only
        .is_none_or(|only| format!("{method} {bare}").starts_with(only));
    let fault = if applies {
        draw(faults, rng)
    } else {
        Fault::None
    };
    match fault {
        Fault::Status(status) => {
            stats.injected.fetch_add(1, Ordering::SeqCst);
            std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink())?;
            let body =
                r#"{"errors":[{"code":"UNAVAILABLE","message":"injected by the test proxy"}]}"#;
            write!(
                client,
                "HTTP/1.1 {status}\r\nRetry-After: 0\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            client.shutdown(Shutdown::Both)
        }
        Fault::Drop => {
            stats.injected.fetch_add(1, Ordering::SeqCst);
            std::io::copy(&mut reader.by_ref().take(length / 2), &mut std::io::sink())?;
            client.shutdown(Shutdown::Both)
        }
        Fault::None => {
            thread::sleep(faults.delay);
            let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
            let mut out = head.concat();
            out.push_str("Connection: close\r\n\r\n");
            up.write_all(out.as_bytes())?;
            let mut counted = Counting {
                inner: up.try_clone()?,
                stats,
            };
            std::io::copy(&mut reader.by_ref().take(length), &mut counted)?;
            let mut answer = BufReader::new(up);
            loop {
                let mut line = String::new();
                if answer.read_line(&mut line)? == 0 || line == "\r\n" {
                    client.write_all(line.as_bytes())?;
                    break;
                }
                if let Some(port) = faults.locations_to
                    && line.to_ascii_lowercase().starts_with("location:")
                {
                    line = format!("Location: {}\r\n", elsewhere(line[9..].trim(), port));
                }
                client.write_all(line.as_bytes())?;
            }
            std::io::copy(&mut answer, &mut client)?;
            client.shutdown(Shutdown::Both)
        }
    }
}

/// `location` (absolute or a path) on 127.0.0.1:`port` instead.
fn elsewhere(location: &str, port: u16) -> String {
    let path = match location.strip_prefix("http://") {
        Some(rest) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => location,
    };
    format!("http://127.0.0.1:{port}{path}")
}

struct Counting<'a> {
    inner: TcpStream,
    stats: &'a Stats,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.stats.forwarded.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
