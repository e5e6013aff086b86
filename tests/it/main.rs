//! The one integration-test binary: runs the real `cargo-gantry` against small real projects.

mod support;

mod build_cache;
mod build_image;
mod ci_github;
mod dockerfile_cli;
mod dockerfile_e2e;
mod dockerfile_platforms;
mod dockerfile_snapshots;
mod engine;
mod healthcheck;

mod cook_layouts;
mod cook_safety;
mod corpus;
mod multi;
mod oci;
mod platforms;
mod provenance;
mod recipe_stability;
mod registry;
mod resolve;
mod run;
mod sbom;
mod sign;
mod timings;
