//! Publish into the local container engine (docker or podman) by streaming a docker archive
//! into `<engine> load`.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;

use super::{Published, Publisher};
use crate::engine::{Engine, Flavor};
use crate::error::{Error, Result};
use crate::oci::{Image, Index, archive};
use crate::process::command_line;

/// How many trailing lines of the engine's stderr an error carries.
const STDERR_TAIL_LINES: usize = 20;

/// Loads the image into the local engine, tagged `tag`.
#[derive(Clone, Debug)]
pub struct DockerLoad {
    pub tag: String,
    /// The engine CLI to run; `None`: found when publishing (`GANTRY_ENGINE`, then PATH).
    pub engine: Option<Engine>,
}

impl DockerLoad {
    /// Load with the engine the environment names (see `crate::engine`).
    pub fn new(tag: impl Into<String>) -> DockerLoad {
        DockerLoad {
            tag: tag.into(),
            engine: None,
        }
    }

    pub fn with_engine(tag: impl Into<String>, engine: Engine) -> DockerLoad {
        DockerLoad {
            tag: tag.into(),
            engine: Some(engine),
        }
    }
}

impl Publisher for DockerLoad {
    fn publish(&self, image: &Image) -> Result<Published> {
        let _t = crate::timings::stage("output load");
        let engine = match &self.engine {
            Some(engine) => engine.clone(),
            None => Engine::find()?,
        };
        eprintln!("     Loading `{}` with {engine}", self.tag);
        let mut cmd = engine.command();
        cmd.arg("load")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            Error::failure(format!("failed to run `{}`", command_line(&cmd)))
                .caused_by(e)
                .with_hint(format!(
                    "install {}, or publish to an OCI layout or a docker archive instead",
                    engine.flavor.install()
                ))
        })?;
        // Drain both pipes while we write, so docker never blocks on a full pipe.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            thread::spawn(move || {
                let mut out = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut out);
                }
                out
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let stdin = child.stdin.take().expect("stdin is piped");
        let written = archive::write_to(std::io::BufWriter::new(stdin), image, &self.tag)
            .map(|rendered| rendered.manifest_digest);
        // The archive writer dropped stdin, so docker sees EOF and finishes.
        let status = child.wait().map_err(|e| {
            Error::failure(format!("failed to wait for `{}`", command_line(&cmd))).caused_by(e)
        })?;
        let stdout = stdout.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
        let digest = match written {
            // Our own failure (e.g. an unreadable layer) is the root cause, unless it is only the
            // pipe breaking because docker gave up first: then docker's complaint explains it.
            Err(e) if !e.causes().iter().any(|c| c.contains("Broken pipe")) => return Err(e),
            _ if !status.success() => {
                return Err(load_failed(&cmd, engine.flavor, status, &stderr));
            }
            Err(e) => return Err(e),
            Ok(digest) => digest,
        };
        let stdout = String::from_utf8_lossy(&stdout);
        if !stdout.contains("Loaded image") {
            return Err(Error::failure(format!(
                "`{}` did not report loading an image",
                command_line(&cmd)
            ))
            .caused_by(format!("{stdout}{stderr}").trim().to_owned()));
        }
        Ok(Published {
            digest,
            references: vec![format!("docker-daemon:{}", self.tag)],
        })
    }

    /// An engine's image store holds one platform per tag: the host's image of the index is
    /// loaded (and said so), and the index's digest reported, since that is what was built.
    fn publish_index(&self, index: &Index) -> Result<Published> {
        let host = crate::platforms::host()?.oci();
        let image = index.image_for(&host).ok_or_else(|| {
            Error::user(format!(
                "--load loads the image for this machine (`{host}`), but the index has none"
            ))
            .with_hint(format!("add `{host}` to --platform, or drop --load"))
        })?;
        eprintln!(
            "     Loading the `{host}` image of {} platforms (an engine holds one per tag)",
            index.images().len()
        );
        let published = self.publish(image)?;
        Ok(Published {
            digest: index.digest()?,
            references: published.references,
        })
    }
}

fn load_failed(cmd: &Command, flavor: Flavor, status: ExitStatus, stderr: &str) -> Error {
    let status = match status.code() {
        Some(code) => format!("exit status {code}"),
        None => status.to_string(),
    };
    let mut e = Error::failure(format!("`{}` failed ({status})", command_line(cmd)));
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
    if !tail.is_empty() {
        e = e.caused_by(tail);
    }
    if flavor == Flavor::Docker
        && (stderr.contains("Cannot connect to the Docker daemon")
            || stderr.contains("Is the docker daemon running"))
    {
        e = e.with_hint("start the Docker daemon (e.g. `sudo systemctl start docker`), or publish to an OCI layout or a docker archive instead");
    } else if flavor == Flavor::Docker && stderr.contains("permission denied") {
        e = e.with_hint("add your user to the `docker` group, or publish to an OCI layout or a docker archive instead");
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::Stubs;
    use crate::oci::testutil::image;

    fn stub(script: &str) -> (tempfile::TempDir, DockerLoad) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, DockerLoad::with_engine("app:1", Engine::at(path)))
    }

    #[test]
    fn the_engine_found_on_path_gets_load_and_the_whole_archive() {
        let stubs = Stubs::new(&["podman"]);
        let engine = Engine::find_with(stubs.env(None)).unwrap();
        let img = image("a", "linux/amd64");
        let published = DockerLoad::with_engine("app:1", engine)
            .publish(&img)
            .unwrap();
        assert_eq!(stubs.args("podman").as_deref(), Some("load\n"));
        let got = archive::read(&stubs.stdin("podman"), Some("app:1")).unwrap();
        assert_eq!(got.digest().unwrap(), published.digest);
    }

    #[test]
    fn the_archive_is_streamed_to_stdin() {
        let (dir, load) = stub(r#"cat > "$(dirname "$0")/got.tar"; echo "Loaded image: app:1""#);
        let img = image("a", "linux/amd64");
        let published = load.publish(&img).unwrap();
        assert_eq!(published.digest, img.digest().unwrap());
        assert_eq!(published.references, vec!["docker-daemon:app:1"]);
        let got = archive::read(&dir.path().join("got.tar"), Some("app:1")).unwrap();
        assert_eq!(got.digest().unwrap(), published.digest);
    }

    #[test]
    fn a_daemon_that_is_down_gives_a_hint() {
        let script = "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1";
        let (_dir, load) = stub(script);
        let err = load.publish(&image("a", "linux/amd64")).unwrap_err();
        assert!(
            err.message().ends_with("load` failed (exit status 1)"),
            "{}",
            err.message()
        );
        assert!(
            err.render().contains("caused by: Cannot connect"),
            "{}",
            err.render()
        );
        assert!(err.hint().unwrap().starts_with("start the Docker daemon"));
    }

    #[test]
    fn a_missing_docker_gives_an_install_hint() {
        let load = DockerLoad::with_engine("t", Engine::at("/no/such/docker"));
        let err = load.publish(&image("a", "linux/amd64")).unwrap_err();
        assert_eq!(err.message(), "failed to run `/no/such/docker load`");
        assert!(err.hint().unwrap().starts_with("install Docker"));
    }
}
