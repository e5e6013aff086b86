//! cargo-gantry: put a Rust project into a small, secure container image with cached rebuilds.
//!
//! One pipeline, plain data between stages:
//!
//! ```text
//! project::analyze() -> Project          cargo metadata --no-deps, lockfile, toolchain file, .cargo/config
//! settings::Layer                        CLI > GANTRY_* env > [package|workspace.metadata.gantry]
//! resolve::resolve(&Project, &Request) -> Target
//!                                        the one package + binary, CargoBuild (-p PKG --bin BIN),
//!                                        platform (platforms::TABLE), base, image settings, labels
//!   skeleton::prepare(&Project, &Selection) -> Recipe    dependency-only skeleton (prepare)
//!   skeleton::cook(&CookOptions)                         recreate it, compile dependencies (cook)
//!   dockerfile::plan(&Project, &Target, ..) -> DockerPlan; render() -> Dockerfile + .dockerignore
//!   image::compile(&Project, &Target) -> Built          cargo build on the host, paths remapped
//!                                                       (graph_cache: the dependency graph between builds)
//!   image::build(&Inputs) -> oci::Image                 the binary + exactly the libs it needs
//! publish::Publisher                     OCI layout, docker archive, engine load, registry
//! registry::pull() -> oci::Image / registry::push()     base images from, and images to, a registry
//! sign::sign() / sign::verify() / sign::dsse            cosign signatures in a registry, DSSE envelopes
//! provenance::Provenance::artifact() -> oci::Artifact   SLSA v1 in-toto statement (DSSE when signed)
//!   probe::build(..) -> gantry-probe                   healthcheck program, compiled and cached
//!   ci::github::render(&Target, &ci::Options) -> workflow   generated::save() writes / refuses / checks
//!   yamlrefs::find() / replace()                        `gantry://BIN` image references in YAML
//! ```
//!
//! `cross` finds a foreign target's toolchain (std, linker, C compiler, pkg-config env).
//! `cargo` is the one place that runs cargo (metadata, build messages, rustflags, toolchain env);
//! `engine` the one place that finds the container engine (docker, podman).
//! `timings` records how long each stage takes (`--timings`).
//! `oci` knows the OCI formats and nothing of cargo; everything cargo-specific stays above it.

pub mod assets;
pub mod cargo;
pub mod ci;
pub mod cross;
pub mod dockerfile;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod generated;
pub mod healthcheck;
pub mod image;
pub mod oci;
pub mod platforms;
pub mod probe;
pub mod process;
pub mod project;
pub mod provenance;
pub mod publish;
pub mod registry;
pub mod resolve;
pub mod sbom;
pub mod settings;
pub mod sign;
pub mod skeleton;
pub mod timings;
pub mod yamlrefs;

pub use error::{Error, Result};
