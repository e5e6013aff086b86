//! The one integration-test binary: runs the real `cargo-gantry` against small real projects.

mod support;

mod build_cache;
mod build_image;
mod dockerfile_cli;
mod dockerfile_e2e;
mod dockerfile_snapshots;
mod engine;

mod cook_layouts;
mod cook_safety;
mod oci;
mod recipe_stability;
mod registry;
mod run;
mod sign;
mod timings;
