//! cargo-gantry: put a Rust project into a small, secure container image with cached rebuilds.
//!
//! One pipeline, plain data between stages:
//!
//! ```text
//! project::analyze() -> Project          cargo metadata, lockfile, toolchain file, .cargo/config
//! settings::Settings::resolve()          CLI flags + [workspace|package.metadata.gantry] + GANTRY_* env
//!   skeleton::prepare(&Project, &Settings) -> Recipe      dependency-only skeleton (prepare)
//!   skeleton::cook(&Recipe, &Settings)                    recreate it and compile dependencies (cook)
//!   dockerfile::render(&Plan) -> String                   a Dockerfile tailored to the project
//!   image::build(...) -> oci::Image                       the binary + exactly the libs it needs
//! publish::Publisher                                      OCI layout, docker archive, registry, docker load
//! registry::pull() -> oci::Image / registry::push()       base images from, and images to, a registry
//! ```
//!
//! `oci` knows the OCI formats and nothing of cargo; everything cargo-specific stays above it.

pub mod dockerfile;
pub mod error;
pub mod image;
pub mod oci;
pub mod plan;
pub mod process;
pub mod project;
pub mod publish;
pub mod registry;
pub mod settings;
pub mod skeleton;

pub use error::{Error, Result};
