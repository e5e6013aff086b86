//! The probe compiled for this machine and run against servers in the test process.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;

/// One probe for every test here (the cache makes later calls free anyway).
fn probe() -> PathBuf {
    static PROBE: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, path) = PROBE.get_or_init(|| {
        let cache = tempfile::tempdir().unwrap();
        let path = build(None, cache.path(), Path::new(".")).unwrap();
        (cache, path)
    });
    path.clone()
}

/// A server answering every connection with `answer`, on a loopback port.
fn server(answer: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request);
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    port
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(probe()).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn probe_is_small_static_and_cached() {
    let cache = tempfile::tempdir().unwrap();
    let first = build(None, cache.path(), Path::new(".")).unwrap();
    let size = std::fs::metadata(&first).unwrap().len();
    assert!(size <= MAX_SIZE, "{size} bytes");
    assert_eq!(ElfInfo::read(&first).unwrap().linking, Linking::Static);
    let name = first
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    let host = Rustc::find(Path::new(".")).unwrap().host;
    assert!(name.starts_with(&format!("{host}-")), "{name}");
    let mtime = std::fs::metadata(&first).unwrap().modified().unwrap();
    let again = build(None, cache.path(), Path::new(".")).unwrap();
    assert_eq!(again, first);
    assert_eq!(
        std::fs::metadata(&again).unwrap().modified().unwrap(),
        mtime
    );
}

#[test]
fn http_2xx_and_3xx_are_healthy_other_statuses_are_not() {
    for (answer, code) in [
        ("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0),
        ("HTTP/1.0 302 Found\r\nlocation: /\r\n\r\n", 0),
        ("HTTP/1.1 500 Internal Server Error\r\n\r\n", 1),
        ("HTTP/1.1 404 Not Found\r\n\r\n", 1),
        ("SSH-2.0-OpenSSH\r\n", 1),
    ] {
        let port = server(answer);
        let (got, err) = run(&[&format!("http://127.0.0.1:{port}/healthz")]);
        assert_eq!(got, code, "{answer:?}: {err}");
    }
    let port = server("HTTP/1.1 503 Service Unavailable\r\n\r\n");
    let (_, err) = run(&[&format!("http://localhost:{port}/")]);
    assert!(err.contains("status 503"), "{err}");
}

#[test]
fn the_request_is_a_get_of_the_path_with_a_host_header() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 256];
        while !buf.ends_with(b"\r\n\r\n") {
            let n = conn.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        String::from_utf8(buf).unwrap()
    });
    let (code, err) = run(&[&format!("http://127.0.0.1:{port}/ready?x=1")]);
    assert_eq!(code, 0, "{err}");
    let request = seen.join().unwrap();
    assert!(
        request.starts_with(&format!(
            "GET /ready?x=1 HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
        )),
        "{request}"
    );
}

#[test]
fn tcp_checks_connect_over_ipv4_and_ipv6() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_eq!(run(&["tcp", &format!("127.0.0.1:{port}")]).0, 0);
    assert_eq!(run(&[&format!("tcp://localhost:{port}")]).0, 0);
    if let Ok(v6) = TcpListener::bind("[::1]:0") {
        let port = v6.local_addr().unwrap().port();
        assert_eq!(run(&["tcp", &format!("[::1]:{port}")]).0, 0);
        assert_eq!(run(&["tcp", &format!("[0:0::1]:{port}")]).0, 0);
    }
    drop(listener);
    let (code, err) = run(&["tcp", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1);
    assert!(err.contains("connection refused"), "{err}");
}

#[test]
fn a_server_that_never_answers_times_out_with_status_1() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepted by the kernel (backlog), never answered.
    let start = Instant::now();
    let (code, err) = run(&["--timeout", "300ms", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("timed out"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    drop(listener);
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &[][..],
        &["ftp://127.0.0.1/"],
        &["http://example.com/"],
        &["tcp", "127.0.0.1"],
        &["tcp", "[::1:80"],
        &["--timeout", "soon", "tcp", "127.0.0.1:1"],
        &["tcp", "127.0.0.1:1", "extra"],
    ] {
        let (code, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

#[test]
fn unsupported_architectures_are_refused() {
    let cache = tempfile::tempdir().unwrap();
    let err = build(
        Some("s390x-unknown-linux-gnu"),
        cache.path(),
        Path::new("."),
    )
    .unwrap_err();
    assert_eq!(err.kind(), crate::error::Kind::User);
    assert!(
        err.message().contains("`s390x-unknown-linux-gnu`"),
        "{}",
        err.render()
    );
}
