//! `cargo gantry probe --target T -o PATH` (hidden): the healthcheck program for a Dockerfile's
//! runtime stage, compiled in the builder for the platform being built.

use std::path::Path;

use cargo_gantry::fsutil::write_atomic;
use cargo_gantry::{Error, Result, probe};

use crate::cli::ProbeArgs;

pub fn run(args: &ProbeArgs) -> Result<()> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    // No project here: the builder stage has only the toolchain, so the cache is throwaway.
    let cache = tempfile::tempdir().map_err(|e| Error::io("create", &std::env::temp_dir(), e))?;
    let built = probe::build(args.target.as_deref(), cache.path(), &cwd)?;
    let bytes = std::fs::read(&built).map_err(|e| Error::io("read", &built, e))?;
    let out = cwd.join(&args.output);
    write_atomic(&out, &bytes)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io("make executable", &out, e))?;
    eprintln!("       Wrote {}", out.display());
    Ok(())
}
