//! cargo-gantry: put a Rust project into a small, secure container image with cached rebuilds.
//!
//! One pipeline, plain data between stages:
//!
//! ```text
//! project::analyze() -> Project                  cargo metadata --no-deps, lockfile, toolchain file, .cargo/config
//! settings::Layer (CLI > GANTRY_* env > [package|workspace.metadata.gantry]), CargoBuild::args()
//!   skeleton::prepare(&Project, &Selection) -> Recipe    dependency-only skeleton (prepare)
//!   skeleton::cook(&CookOptions)                         recreate it, compile dependencies (cook)
//!   dockerfile::plan(..) -> DockerPlan; render() -> Dockerfile + .dockerignore
//!   ci::github::render(&Target, &ci::Options) -> workflow   generated::save() writes / refuses / checks
//!   yamlrefs::find() / replace()                         `gantry://BIN` image references in YAML
//!   plan::plan(&Project, Request) -> Plan                the one binary, its flags, image settings
//!     image::compile(&Project, &Plan) -> Built           cargo build on the host, paths remapped
//!     image::build(&Inputs) -> oci::Image                the binary + exactly the libs it needs
//! publish::Publisher                                     OCI layout, docker archive, docker load, registry
//! registry::pull() -> oci::Image / registry::push()      base images from, and images to, a registry
//! ```
//!
//! `oci` knows the OCI formats and nothing of cargo; everything cargo-specific stays above it.

pub mod assets;
pub mod ci;
pub mod dockerfile;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod generated;
pub mod image;
pub mod oci;
pub mod platforms;
pub mod process;
pub mod project;
pub mod publish;
pub mod registry;
pub mod resolve;
pub mod settings;
pub mod skeleton;
pub mod yamlrefs;

pub use error::{Error, Result};
