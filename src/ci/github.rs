//! `.github/workflows/image.yml`: build the image with gantry on every pull request, and push
//! it from the default branch (`sha-<commit>`, `edge`) and from `vX.Y.Z` tags (`X.Y.Z`,
//! `latest`); sign what was pushed when the repository has a signing key.
//!
//! Choices worth knowing when reading the output:
//! - The toolchain comes from plain `rustup` (preinstalled on GitHub's runners), not a
//!   toolchain action: nothing third-party to pin or audit, and the channel is exactly the
//!   one `rust-toolchain.toml` names. Only GitHub's own `actions/*` are used.
//! - `on.push.branches` cannot name "the default branch", so every branch push starts the
//!   workflow and the job runs only on the default branch (`github.event.repository`).
//! - Values from git refs reach the scripts through `env`, never `${{ }}` inside `run:`, so a
//!   crafted tag or branch name cannot inject shell code.
//! - Registry credentials are given to the steps that push and sign, never to the pull-request
//!   build (which runs the PR's build scripts); the signing key only to the signing step.

use std::fmt::Write as _;

use super::{Options, Registry};
use crate::dockerfile::marker;
use crate::resolve::Target;

/// The workflow's path in the repository.
pub const PATH: &str = ".github/workflows/image.yml";

/// The repository secret that holds the signing key (and the variable `cargo gantry sign` reads).
pub const SIGNING_SECRET: &str = "GANTRY_SIGNING_KEY";

/// The workflow text, stamped with gantry's marker.
pub fn render(target: &Target, opts: &Options) -> String {
    let bin = &target.bin;
    let channel = opts
        .toolchain
        .as_ref()
        .and_then(|t| t.channel.clone())
        .unwrap_or_else(|| "stable".to_owned());
    let mut w = String::new();
    let registry_text = match &opts.registry {
        Registry::GhcrOwner => "ghcr.io/<repository owner>".to_owned(),
        Registry::Named(r) => r.clone(),
    };
    // Header: what the workflow does, in the words a reviewer needs.
    let _ = write!(
        w,
        "\
# Builds the image of `{bin}` (package `{package}`) with cargo gantry, without a Docker daemon,
# and pushes it to `{registry_text}/{bin}`:
# - the default branch as `sha-<commit>` and `edge`,
# - tags `vX.Y.Z` as `X.Y.Z` and `latest` (a prerelease `vX.Y.Z-rc.1` only as `X.Y.Z-rc.1`).
# Pull requests build the image without pushing it.
",
        package = target.package,
    );
    if !opts.registry.is_ghcr() {
        w.push_str(
            "# Credentials: the repository secrets `GANTRY_REGISTRY_USER` and `GANTRY_REGISTRY_PASSWORD`.\n",
        );
    }
    let _ = write!(
        w,
        "\
# Signing: set the repository secret `{SIGNING_SECRET}` (a PEM private key) and every pushed
# image is signed by digest with `cargo gantry sign`.
name: image

on:
  # A branch filter cannot name the default branch: every push starts the workflow and the job
  # below runs only for the default branch and for tags.
  push:
    branches: [\"**\"]
    tags: [\"v*\"]
  pull_request:

permissions:
  contents: read
"
    );
    if opts.registry.is_ghcr() {
        w.push_str("  packages: write\n");
    }
    w.push_str(
        "  id-token: write

jobs:
  image:
    if: >-
      github.event_name == 'pull_request' || github.ref_type == 'tag' ||
      github.ref_name == github.event.repository.default_branch
    runs-on: ubuntu-latest
    env:
      # Whether to sign; the key itself reaches only the signing step.
",
    );
    let _ = writeln!(w, "      SIGN: ${{{{ secrets.{SIGNING_SECRET} != '' }}}}");
    w.push_str(
        "    defaults:
      run:
        # bash -eo pipefail: a failing command anywhere in a pipe fails the step.
        shell: bash
",
    );
    if !opts.working_directory.is_empty() {
        let _ = writeln!(
            w,
            "        working-directory: {}",
            yaml_str(&opts.working_directory)
        );
    }
    w.push_str(
        "    steps:
      - uses: actions/checkout@v4

      # Plain rustup, preinstalled on the runner: no third-party action to pin.
      - name: Install the Rust toolchain
        run: |
",
    );
    let mut install = format!("rustup toolchain install {channel} --profile minimal");
    if let Some(tc) = &opts.toolchain
        && !tc.components.is_empty()
    {
        let _ = write!(install, " --component {}", tc.components.join(","));
    }
    let mut targets: Vec<&str> = opts
        .toolchain
        .iter()
        .flat_map(|t| t.targets.iter().map(String::as_str))
        .collect();
    // A platform other than the runner's is cross-compiled on it.
    targets.extend(opts.platforms.iter().map(|r| r.gnu));
    if let Some(t) = &target.cargo.target {
        targets.push(t);
    }
    targets.sort_unstable();
    targets.dedup();
    if !targets.is_empty() {
        let _ = write!(install, " --target {}", targets.join(","));
    }
    let _ = writeln!(w, "          {install}");
    if opts.toolchain.is_none() {
        let _ = writeln!(w, "          rustup default {channel}");
    }
    let version = &opts.gantry_version;
    let _ = write!(
        w,
        "
      # gantry itself, built once per version (with stable, whatever the project pins).
      - name: Cache cargo-gantry
        uses: actions/cache@v4
        with:
          path: ~/.cargo-gantry
          key: cargo-gantry-{version}-${{{{ runner.os }}}}-${{{{ runner.arch }}}}
      - name: Install cargo-gantry
        run: |
          if [ ! -x ~/.cargo-gantry/bin/cargo-gantry ]; then
            cargo +stable install cargo-gantry --locked --version {version} --root ~/.cargo-gantry
          fi
          echo \"$HOME/.cargo-gantry/bin\" >> \"$GITHUB_PATH\"

      # The recipe changes only when the dependencies can: with Cargo.lock it keys the cache.
      - name: Hash the dependency recipe
        id: recipe
        run: |
          recipe=$(cargo gantry prepare --recipe-path - --bin {bin} | sha256sum)
          echo \"hash=${{recipe%% *}}\" >> \"$GITHUB_OUTPUT\"
      - name: Cache dependencies and build outputs
        uses: actions/cache@v4
        with:
          path: |
            ~/.cargo/registry
            ~/.cargo/git
            {target_dir}
          key: gantry-${{{{ runner.os }}}}-${{{{ runner.arch }}}}-${{{{ hashFiles('**/Cargo.lock') }}}}-${{{{ steps.recipe.outputs.hash }}}}
          restore-keys: |
            gantry-${{{{ runner.os }}}}-${{{{ runner.arch }}}}-${{{{ hashFiles('**/Cargo.lock') }}}}-
            gantry-${{{{ runner.os }}}}-${{{{ runner.arch }}}}-
",
        target_dir = crate::project::join_rel(&opts.working_directory, "target/"),
    );

    let image = match &opts.registry {
        Registry::GhcrOwner => format!("ghcr.io/${{{{ github.repository_owner }}}}/{bin}"),
        Registry::Named(r) => format!("{r}/{bin}"),
    };
    let _ = write!(
        w,
        "
      - name: Choose the image references
        id: refs
        if: github.event_name != 'pull_request'
        env:
          IMAGE: {image}
        run: |
          # Registry paths are lowercase; a GitHub owner may not be.
          image=${{IMAGE,,}}
          if [ \"$GITHUB_REF_TYPE\" = tag ]; then
            if [[ ! \"$GITHUB_REF_NAME\" =~ ^v([0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?)$ ]]; then
              echo \"::error::tag $GITHUB_REF_NAME is not vX.Y.Z or vX.Y.Z-PRERELEASE\"
              exit 1
            fi
            version=${{BASH_REMATCH[1]}}
            refs=\"$image:$version\"
            # A prerelease never becomes `latest`.
            [[ $version == *-* ]] || refs=\"$refs $image:latest\"
          else
            refs=\"$image:sha-${{GITHUB_SHA::7}} $image:edge\"
          fi
          echo \"refs=$refs\" >> \"$GITHUB_OUTPUT\"
"
    );
    let mut build = format!("cargo gantry build --bin {bin}");
    if !opts.platforms.is_empty() {
        let list: Vec<&str> = opts.platforms.iter().map(|r| r.platform).collect();
        let _ = write!(build, " --platform {}", list.join(","));
    }
    let _ = write!(
        w,
        "
      # Pull requests: build only, without credentials (the build runs the PR's build scripts).
      - name: Build the image
        if: github.event_name == 'pull_request'
        run: {build}
      - name: Build and push the image
        if: github.event_name != 'pull_request'
        env:
{credentials}          REFS: ${{{{ steps.refs.outputs.refs }}}}
        run: |
          args=()
          for ref in $REFS; do args+=(--push \"$ref\"); done
          # stdout: each pushed REPO@sha256:…, signed below.
          {build} \"${{args[@]}}\" | tee \"$RUNNER_TEMP/gantry-pushed\"

      - name: Sign the pushed images
        if: github.event_name != 'pull_request' && env.SIGN == 'true'
        env:
{credentials}          {SIGNING_SECRET}: ${{{{ secrets.{SIGNING_SECRET} }}}}
        run: sort -u \"$RUNNER_TEMP/gantry-pushed\" | xargs cargo gantry sign
",
        credentials = credentials(&opts.registry),
    );
    marker::stamp(&opts.gantry_version, "cargo gantry ci github", &w)
}

/// The `env:` lines that log in to the registry, indented for a step.
fn credentials(registry: &Registry) -> String {
    let (user, password) = if registry.is_ghcr() {
        ("github.actor", "secrets.GITHUB_TOKEN")
    } else {
        (
            "secrets.GANTRY_REGISTRY_USER",
            "secrets.GANTRY_REGISTRY_PASSWORD",
        )
    };
    format!(
        "          GANTRY_REGISTRY_USER: ${{{{ {user} }}}}\n          GANTRY_REGISTRY_PASSWORD: ${{{{ {password} }}}}\n"
    )
}

/// A YAML scalar for a path: plain when that is unambiguous, else double-quoted.
fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        && !s.starts_with(['-', '.']);
    if plain {
        s.to_owned()
    } else {
        format!("{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::toolchain::ToolchainFile;
    use crate::image::BaseSpec;
    use crate::resolve::DockerSettings;
    use crate::settings::{CargoBuild, ImageSettings, Layer};

    fn target(bin: &str) -> Target {
        Target {
            package: "api".into(),
            package_dir: "api".into(),
            version: "1.0.0".into(),
            bin: bin.into(),
            cargo: CargoBuild::default(),
            platform: crate::platforms::TABLE.first().unwrap(),
            platforms: Vec::new(),
            base: BaseSpec::Auto,
            image: ImageSettings::from_layer(&Layer::default()),
            extra_files: Vec::new(),
            labels: Default::default(),
            revision: None,
            tag: format!("{bin}:1.0.0"),
            docker: DockerSettings::default(),
        }
    }

    fn options() -> Options {
        Options {
            gantry_version: "9.9.9".into(),
            registry: Registry::GhcrOwner,
            platforms: Vec::new(),
            toolchain: None,
            working_directory: String::new(),
        }
    }

    #[test]
    fn another_registry_logs_in_with_repository_secrets_and_needs_no_packages_permission() {
        let text = render(
            &target("server"),
            &Options {
                registry: Registry::Named("registry.example.com:5000/team".into()),
                ..options()
            },
        );
        assert!(text.contains("IMAGE: registry.example.com:5000/team/server\n"));
        assert!(text.contains("GANTRY_REGISTRY_PASSWORD: ${{ secrets.GANTRY_REGISTRY_PASSWORD }}"));
        assert!(!text.contains("GITHUB_TOKEN"));
        assert!(!text.contains("packages: write"));
        assert!(text.contains("the repository secrets `GANTRY_REGISTRY_USER`"));
    }

    #[test]
    fn the_toolchain_file_decides_channel_components_and_targets() {
        let text = render(
            &target("server"),
            &Options {
                toolchain: Some(pinned_toolchain()),
                platforms: crate::ci::parse_platforms(&["linux/arm64".into()]).unwrap(),
                ..options()
            },
        );
        assert!(
            text.contains(
                "rustup toolchain install 1.95.0 --profile minimal --component clippy \
                 --target aarch64-unknown-linux-gnu,x86_64-unknown-linux-musl\n"
            ),
            "{text}"
        );
        // The toolchain file overrides any default: setting one would only mislead.
        assert!(!text.contains("rustup default"));
        assert!(text.contains("cargo gantry build --bin server --platform linux/arm64\n"));
        assert!(
            text.contains("cargo gantry build --bin server --platform linux/arm64 \"${args[@]}\"")
        );
    }

    #[test]
    fn a_workspace_below_the_repository_root_runs_and_caches_there() {
        let text = render(
            &target("server"),
            &Options {
                working_directory: "services/api".into(),
                ..options()
            },
        );
        assert!(text.contains("        working-directory: services/api\n"));
        assert!(text.contains("            services/api/target\n"));
    }

    #[test]
    fn no_expression_is_pasted_into_a_script() {
        // `${{ }}` inside `run:` is substituted before bash parses it: a branch or tag name
        // could inject code. Values reach scripts through `env` only.
        let text = render(&target("server"), &options());
        let mut script_indent: Option<usize> = None;
        for line in text.lines() {
            let indent = line.len() - line.trim_start().len();
            if script_indent.is_some_and(|i| indent <= i && !line.trim().is_empty()) {
                script_indent = None;
            }
            if script_indent.is_some() || line.trim_start().starts_with("run:") {
                assert!(!line.contains("${{"), "an expression in a script: {line}");
            }
            if line.trim_start() == "run: |" {
                script_indent = Some(indent);
            }
        }
        assert!(text.starts_with("# Generated by cargo-gantry 9.9.9 (`cargo gantry ci github`)"));
        assert_eq!(marker::provenance(&text), marker::Provenance::Generated);
    }

    fn pinned_toolchain() -> ToolchainFile {
        ToolchainFile {
            channel: Some("1.95.0".into()),
            components: vec!["clippy".into()],
            targets: vec!["x86_64-unknown-linux-musl".into()],
        }
    }
}
