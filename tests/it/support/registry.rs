//! A real distribution registry (Debian's `docker-registry`) on a free 127.0.0.1 port with its
//! own storage and config, killed on drop; and the tools tests check it with.
//!
//! A missing tool fails the test with a reason; set `GANTRY_E2E=skip` to skip instead.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGISTRY: &str = "/usr/bin/docker-registry";
pub const SKOPEO: &str = "/usr/bin/skopeo";
pub const HTPASSWD: &str = "/usr/bin/htpasswd";

pub use super::tools::{docker, run, tool};

/// A port nobody listens on right now (the registry binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct TestRegistry {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// An open registry (no auth).
    pub fn start() -> Option<TestRegistry> {
        Self::start_with(None)
    }

    /// A registry that demands basic auth, checked against an htpasswd file with `user`.
    pub fn with_basic_auth(user: &str, password: &str) -> Option<TestRegistry> {
        Self::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Option<TestRegistry> {
        let binary = tool(REGISTRY)?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: gantry-test-secret\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let htpasswd = tool(HTPASSWD)?;
            let line = run(Command::new(htpasswd).args(["-Bbn", user, password]));
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, line.trim()).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: gantry-test\n    path: {}\n",
                path.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let registry = TestRegistry { child, port, dir };
        registry.wait_ready();
        Some(registry)
    }

    /// Until `GET /v2/` answers at all (200, or 401 with auth on).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut head = [0u8; 12];
                if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 ") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        panic!("the registry on port {} did not come up:\n{log}", self.port);
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `skopeo inspect` of `127.0.0.1:PORT/<name>`, as JSON.
    pub fn inspect(&self, name: &str, creds: Option<&str>) -> serde_json::Value {
        let mut cmd = Command::new(tool(SKOPEO).unwrap());
        cmd.args(["inspect", "--tls-verify=false"]);
        if let Some(creds) = creds {
            cmd.args(["--creds", creds]);
        }
        cmd.arg(format!("docker://{}/{name}", self.host()));
        serde_json::from_str(&run(&mut cmd)).unwrap()
    }

    /// Raw bytes of a manifest, as the registry serves them.
    pub fn raw_manifest(&self, name: &str) -> Vec<u8> {
        let cmd = Command::new(tool(SKOPEO).unwrap())
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{name}", self.host()))
            .output()
            .unwrap();
        assert!(
            cmd.status.success(),
            "{}",
            String::from_utf8_lossy(&cmd.stderr)
        );
        cmd.stdout
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
