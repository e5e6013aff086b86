//! Assemble a runtime image from a built binary: ELF analysis, runtime libraries, layers.

pub mod elf;
pub mod ldso;
