//! The command line as the user typed it (clap definitions only). `commands/` resolves these
//! into settings.

use std::path::PathBuf;

use cargo_gantry::settings::{Runtime, Strategy};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo-gantry",
    bin_name = "cargo gantry",
    version,
    about = "Put a Rust project into a small, secure container image with fast cached rebuilds"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a recipe: everything that decides how the project's dependencies compile.
    Prepare(PrepareArgs),
    /// Recreate the skeleton from a recipe in an empty directory and compile the dependencies.
    Cook(CookArgs),
    /// Build an OCI image of one binary without a Docker daemon.
    Build(Box<ImageArgs>),
    /// Write a Dockerfile and .dockerignore tailored to the project.
    Dockerfile(DockerfileArgs),
    /// Build the image, load it into the local engine and run it (removed on exit).
    Run(Box<RunArgs>),
    /// Build and push every `gantry://BIN` image a YAML file names; print the YAML with
    /// `REPO/BIN@sha256:…` in their place.
    Resolve(Box<ResolveArgs>),
    /// Sign images in a registry with a private key, as `cosign sign --key` does.
    Sign(SignArgs),
    /// Check that images in a registry carry a valid signature by a public key.
    Verify(VerifyArgs),
    /// Print the image's healthcheck as a Kubernetes `livenessProbe` (YAML), which Kubernetes
    /// needs because it ignores the healthcheck of the image.
    Healthcheck(HealthcheckArgs),
    /// Write `gantry-probe` for a Rust target (run by generated Dockerfiles).
    #[command(hide = true)]
    Probe(ProbeArgs),
    /// Write a CI workflow that builds the image with gantry and pushes it.
    #[command(subcommand)]
    Ci(CiCommand),
    /// Write the SBOM of one binary (compiles it, makes no image).
    Sbom(SbomArgs),
}

#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// GitHub Actions: `.github/workflows/image.yml`.
    Github(CiGithubArgs),
}

#[derive(Debug, Args)]
pub struct SbomArgs {
    /// `spdx` (SPDX 2.3 JSON, default) or `cyclonedx` (CycloneDX 1.6 JSON).
    #[arg(long, value_name = "FORMAT", default_value = "spdx")]
    pub format: String,
    /// Where to write it (`-` for stdout, the default).
    #[arg(short = 'o', long = "output", value_name = "FILE", default_value = "-")]
    pub output: PathBuf,
    /// The project's Cargo.toml (default: the one cargo finds from the current directory).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    #[command(flatten)]
    pub build: BuildArgs,
}

#[derive(Debug, Args)]
pub struct CiGithubArgs {
    /// Where to push: `HOST[:PORT]/NAMESPACE` (default: `ghcr.io/<repository owner>`).
    #[arg(long, value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// Build for these platforms (`linux/amd64,linux/arm64`; default: the runner's).
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platforms: Vec<String>,
    /// The binary to put into the image (default: the workspace's only binary).
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// Where to write the workflow (`-` for stdout; default: `.github/workflows/image.yml` in
    /// the repository root).
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write nothing; exit 1 when the workflow on disk differs from what would be written.
    #[arg(long, conflicts_with = "force")]
    pub check: bool,
    /// Overwrite a workflow that was edited by hand or not written by gantry.
    #[arg(long)]
    pub force: bool,
    /// The project's Cargo.toml (default: the one cargo finds from the current directory).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The check instead of the `healthcheck` setting: `http://HOST:PORT/PATH` or `tcp://HOST:PORT`.
    #[arg(long, value_name = "URL")]
    pub healthcheck: Option<String>,
    /// The binary whose settings are read (default: the workspace's only binary).
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// The package whose binary goes into the image.
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Option<String>,
    /// The project's Cargo.toml (default: the one cargo finds from the current directory).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The Rust target triple of the image (default: rustc's host).
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Where to write the probe.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The private key: a PKCS#8 PEM file, ECDSA P-256 or Ed25519 (default: `GANTRY_SIGNING_KEY`,
    /// which holds the PEM text itself or a path to it).
    #[arg(long, value_name = "KEY.pem")]
    pub key: Option<PathBuf>,
    /// Reach this registry (`HOST[:PORT]`) over plain HTTP; loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// The images: `REGISTRY/REPO[:TAG]` (signed at the digest the tag names now) or
    /// `REGISTRY/REPO@sha256:DIGEST`.
    #[arg(value_name = "REF", required = true)]
    pub refs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signer's public key: a PKIX PEM file (`-----BEGIN PUBLIC KEY-----`), e.g. `cosign.pub`.
    #[arg(long, value_name = "PUB.pem")]
    pub key: PathBuf,
    /// Accept signatures whose payload names another repository (a copied image); by default
    /// the payload's `docker-reference` must name the repository being verified.
    #[arg(long)]
    pub any_reference: bool,
    /// Also require provenance signed by the key: an in-toto referrer of the image, a DSSE
    /// envelope whose statement names the image's digest (what `build --sign-key` attaches).
    #[arg(long)]
    pub provenance: bool,
    /// Reach this registry (`HOST[:PORT]`) over plain HTTP; loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// The images: `REGISTRY/REPO[:TAG]` or `REGISTRY/REPO@sha256:DIGEST`.
    #[arg(value_name = "REF", required = true)]
    pub refs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// YAML to resolve: a file, a directory (its *.yaml and *.yml) or `-` for stdin (repeatable).
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true
    )]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub image: ImageArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Publish a container port: `[IP:]HOST:CONTAINER[/PROTO]` (repeatable). `-p` stays cargo's
    /// package flag.
    #[arg(long = "publish", value_name = "HOST:CTR")]
    pub publish: Vec<String>,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Arguments for the program.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// What the image starts from: `auto` (only what the binary needs, from this machine),
    /// `scratch`, `oci:DIR[:TAG]`, `docker-archive:FILE` or `REGISTRY/REPO[:TAG|@DIGEST]`.
    #[arg(long, value_name = "BASE")]
    pub base: Option<String>,
    /// The image name and tag for outputs that carry one (default: `BIN:VERSION`).
    #[arg(long, value_name = "NAME:TAG")]
    pub tag: Option<String>,
    /// Build for these platforms by cross-compiling (`linux/amd64,linux/arm64`); several make
    /// one multi-platform image index.
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platforms: Vec<String>,
    /// Write an OCI image layout directory.
    #[arg(long, value_name = "DIR")]
    pub oci_layout: Option<PathBuf>,
    /// Write a docker archive (`docker load -i FILE`).
    #[arg(long, value_name = "FILE")]
    pub docker_archive: Option<PathBuf>,
    /// Load the image into the local Docker engine.
    #[arg(long)]
    pub load: bool,
    /// Push the image to a registry: `REGISTRY/REPO[:TAG]` (repeatable).
    #[arg(long = "push", value_name = "REF")]
    pub push: Vec<String>,
    /// Push every image to `REGISTRY/PREFIX/BIN:VERSION` (for several binaries).
    #[arg(long, value_name = "REGISTRY/PREFIX")]
    pub repo: Option<String>,
    /// Reach this registry (`HOST[:PORT]`) over plain HTTP; loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Sign every pushed image with this private key (cosign's format), as `cargo gantry sign`,
    /// and the provenance (a DSSE envelope).
    #[arg(long, value_name = "KEY.pem")]
    pub sign_key: Option<PathBuf>,
    /// Set an environment variable in the image (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Declare a port the program listens on (repeatable).
    #[arg(long = "expose", value_name = "PORT")]
    pub expose: Vec<u16>,
    /// Add a label (and manifest annotation) to the image (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// The user the program runs as (default `65532:65532`).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The working directory of the program.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Add a file or directory: `HOST[:/PATH/IN/IMAGE]`, HOST relative to the package (repeatable).
    #[arg(long = "extra-file", value_name = "HOST[:PATH]")]
    pub extra_files: Vec<String>,
    /// Add the time zone database (`/usr/share/zoneinfo`).
    #[arg(long)]
    pub tzdata: bool,
    /// Check the program with `gantry-probe`: `http://HOST:PORT/PATH` (2xx/3xx is healthy) or
    /// `tcp://HOST:PORT`; timings from the `healthcheck` setting.
    #[arg(long, value_name = "URL")]
    pub healthcheck: Option<String>,
    /// Attach an SBOM: `spdx` (default), `cyclonedx` or `none` (repeatable).
    #[arg(long = "sbom", value_name = "FORMAT")]
    pub sbom: Vec<String>,
    /// Attach SLSA provenance (an in-toto statement; DSSE-signed with `--sign-key`): `true`
    /// (default) or `false`.
    #[arg(long, value_name = "BOOL")]
    pub provenance: Option<bool>,
    /// `human` (default) or `json`: a machine-readable summary on stdout.
    #[arg(long, value_name = "FMT", default_value = "human")]
    pub message_format: MessageFormat,
    /// The project's Cargo.toml (default: the one cargo finds from the current directory).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub timings: TimingsArg,
}

/// `--timings`: gantry's own stages (analyze, compile, each layer, each output), not cargo's
/// HTML report of the same name.
#[derive(Debug, Args, Default, Clone, Copy)]
pub struct TimingsArg {
    /// Print how long each of gantry's stages took, on stderr (also `GANTRY_TIMINGS=1`).
    #[arg(long = "timings")]
    pub on: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct DockerfileArgs {
    /// The binary to put into the image (default: the workspace's only binary).
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// The package whose binary goes into the image.
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Option<String>,
    /// How dependencies are cached (default: chef).
    #[arg(long, value_name = "STRATEGY")]
    pub strategy: Option<Strategy>,
    /// What the image runs on (default: distroless).
    #[arg(long, value_name = "RUNTIME")]
    pub runtime: Option<Runtime>,
    /// The builder image (default: from rust-toolchain.toml or `rust-version`, else `rust:1`).
    #[arg(long, value_name = "IMAGE")]
    pub builder: Option<String>,
    /// A registry that replaces crates.io inside the build (sparse or git index URL).
    #[arg(long, value_name = "URL")]
    pub registry_mirror: Option<String>,
    /// Features to activate (space or comma separated, repeatable).
    #[arg(short = 'F', long = "features", value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Build with the named profile (default: release).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Build for the target triple.
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Cross-compile for these platforms (`linux/amd64,linux/arm64`) on the builder's platform.
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platforms: Vec<String>,
    /// Where to write the Dockerfile (`-` for stdout; default: `Dockerfile` in the workspace root).
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write nothing; exit 1 when the files on disk differ from what would be written (for CI).
    #[arg(long, conflicts_with = "force")]
    pub check: bool,
    /// Overwrite files that were edited by hand or not written by gantry.
    #[arg(long)]
    pub force: bool,
    /// The project's Cargo.toml (default: the one cargo finds from the current directory).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// Where to write the recipe (`-` for stdout).
    #[arg(long, default_value = "recipe.json", value_name = "PATH")]
    pub recipe_path: PathBuf,
    /// Keep only what this binary needs (repeatable).
    #[arg(long = "bin", value_name = "NAME")]
    pub bins: Vec<String>,
    /// Keep only what this package needs (repeatable).
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub packages: Vec<String>,
    /// The project's Cargo.toml (default: the one cargo finds from the current directory).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    #[command(flatten)]
    pub timings: TimingsArg,
}

#[derive(Debug, Args)]
pub struct CookArgs {
    /// The recipe written by `cargo gantry prepare`.
    #[arg(long, default_value = "recipe.json", value_name = "PATH")]
    pub recipe_path: PathBuf,
    /// Overwrite files that are in the way (cook normally runs in an empty directory).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub timings: TimingsArg,
}

/// The cargo flags shared by `cook` and the real build: one definition, so they cannot drift.
#[derive(Debug, Args, Default, Clone)]
pub struct BuildArgs {
    /// Build with the release profile.
    #[arg(long, conflicts_with = "profile")]
    pub release: bool,
    /// Build with the named profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Build for the target triple.
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Features to activate (space or comma separated, repeatable).
    #[arg(short = 'F', long = "features", value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all features.
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// Package to build (repeatable).
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub packages: Vec<String>,
    /// Binary to build (repeatable).
    #[arg(long = "bin", value_name = "NAME")]
    pub bins: Vec<String>,
    /// Build every workspace member.
    #[arg(long)]
    pub workspace: bool,
    /// Build all targets (with tests, benches and examples).
    #[arg(long, group = "target_selection")]
    pub all_targets: bool,
    /// Build the test targets.
    #[arg(long, group = "target_selection")]
    pub tests: bool,
    /// Build the bench targets.
    #[arg(long, group = "target_selection")]
    pub benches: bool,
    /// Build the examples.
    #[arg(long, group = "target_selection")]
    pub examples: bool,
    /// Require Cargo.lock to be up to date.
    #[arg(long)]
    pub locked: bool,
    /// Require Cargo.lock to be up to date and do not touch the network.
    #[arg(long)]
    pub frozen: bool,
    /// Do not touch the network.
    #[arg(long)]
    pub offline: bool,
    /// Directory for all generated artifacts.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
}

impl BuildArgs {
    /// Whether any of --all-targets, --tests, --benches, --examples was given.
    pub fn targets_selected(&self) -> bool {
        self.all_targets || self.tests || self.benches || self.examples
    }
}
