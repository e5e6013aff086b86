//! Assemble a runtime image from a built binary: ELF analysis, runtime libraries, layers.

pub mod base;
pub mod build;
pub mod certs;
pub mod compile;
pub mod elf;
pub mod graph_cache;
pub mod ldso;
pub mod multi;

pub use base::BaseSpec;
pub use build::{Base, Inputs, Summary, build};
pub use compile::{Built, compile, compile_all};
pub use multi::{MultiInputs, PlatformImage, build_index, sbom_of};

/// Where `build` keeps what does not change with an edit (`target/gantry/cache`): layers
/// (`layers/`, `blobs/`), dependency graphs (`graph/`) and dpkg answers (`dpkg/`).
pub fn cache_dir(target_directory: &std::path::Path) -> std::path::PathBuf {
    target_directory.join("gantry").join("cache")
}
