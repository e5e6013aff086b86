//! The runtime stage (what ships) and the .dockerignore (what never enters the context).

use super::render::out_bin;
use super::text::{Text, json};
use super::{DockerPlan, Runtime, Strategy};

const NONROOT_PASSWD: &str = "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin";
const NONROOT_GROUP: &str = "nonroot:x:65532:";

pub fn stage(t: &mut Text, plan: &DockerPlan) {
    let suite = plan.builder.suite;
    let (image, why) = match plan.runtime {
        Runtime::Distroless => (
            format!("gcr.io/distroless/cc-debian{}:nonroot", suite.number()),
            format!(
                "distroless `cc`: glibc {} and libgcc/libssl from the builder's Debian release, \
                 CA certificates, a `nonroot` user (65532); no shell, no package manager.",
                suite.glibc()
            ),
        ),
        Runtime::Static => (
            format!("gcr.io/distroless/static-debian{}:nonroot", suite.number()),
            "distroless `static`: no libc at all (the binary is static), CA certificates, tzdata \
             and a `nonroot` user (65532)."
                .to_owned(),
        ),
        Runtime::Scratch => (
            "scratch".to_owned(),
            "scratch: an empty image. The static binary, CA certificates and a passwd entry \
             for `nonroot` (65532) are all it holds."
                .to_owned(),
        ),
        Runtime::Alpine => (
            "alpine:3".to_owned(),
            "alpine: musl, like the builder. Rust's musl binaries link libc statically; when \
             they link system libraries too, pin builder and runtime to the same Alpine release \
             (e.g. `rust:1.95-alpine3.22` with `alpine:3.22`)."
                .to_owned(),
        ),
        Runtime::Debian => (
            format!("debian:{}-slim", suite.name()),
            format!(
                "Debian {} slim: the builder's release, so the same glibc {} and the same \
                 library versions as at link time.",
                suite.name(),
                suite.glibc()
            ),
        ),
    };
    let mut note = format!("runtime: only the binary and what it needs at run time. {why}");
    if let Some(switch) = &plan.runtime_switch {
        note.push_str(&format!(
            " Runtime `debian` instead of `distroless`: {switch}."
        ));
    }
    t.stage(&note);
    if plan.runtime == Runtime::Scratch {
        // The files scratch lacks are prepared in a throwaway stage from the builder image.
        t.line("FROM base AS scratch-files");
        t.run(
            &[],
            &[
                "mkdir -p /out/etc/ssl/certs".to_owned(),
                format!("echo '{NONROOT_PASSWD}' > /out/etc/passwd"),
                format!("echo '{NONROOT_GROUP}' > /out/etc/group"),
                "cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/".to_owned(),
            ],
        );
        t.blank();
    }
    if plan.cross.is_empty() {
        t.line(&format!("FROM {image} AS runtime"));
    } else {
        t.line(&format!(
            "FROM --platform=$TARGETPLATFORM {image} AS runtime"
        ));
    }
    match plan.runtime {
        Runtime::Scratch => {
            t.line("COPY --from=scratch-files /out/ /");
        }
        Runtime::Debian | Runtime::Alpine => {
            let pkgs = plan.runtime_packages.join(" ");
            let install = if plan.runtime == Runtime::Alpine {
                vec![format!("apk add --no-cache {pkgs}")]
            } else {
                vec![
                    "apt-get update".to_owned(),
                    format!("apt-get install -y --no-install-recommends {pkgs}"),
                    "rm -rf /var/lib/apt/lists/*".to_owned(),
                ]
            };
            let mut cmds = if pkgs.is_empty() { Vec::new() } else { install };
            t.comment(
                "The non-root user is written into passwd directly: no `adduser`, which may not \
                 exist, and a fixed uid that Kubernetes' runAsNonRoot can check.",
            );
            cmds.push(format!("echo '{NONROOT_PASSWD}' >> /etc/passwd"));
            cmds.push(format!("echo '{NONROOT_GROUP}' >> /etc/group"));
            t.run(&[], &cmds);
        }
        Runtime::Distroless | Runtime::Static => {}
    }
    for (k, v) in &plan.labels {
        t.line(&format!("LABEL {}={}", k, json(v)));
    }
    for (k, v) in &plan.env {
        t.line(&format!("ENV {}={}", k, json(v)));
    }
    if let Some(w) = &plan.workdir {
        t.line(&format!("WORKDIR {w}"));
    }
    if !plan.extra_files.is_empty() {
        t.comment("Files the program reads at run time (setting `extra-files`), from the context.");
    }
    for f in &plan.extra_files {
        let host = crate::project::join_rel(
            &plan.root_in_context,
            &crate::project::join_rel(&plan.package_dir, &f.host),
        );
        t.line(&format!("COPY {host} {}", f.image));
    }
    let target = format!("/usr/local/bin/{}", plan.bin);
    t.line(&format!("COPY --from=builder {} {target}", out_bin(plan)));
    if plan.healthcheck.is_some() {
        t.line(&format!(
            "COPY --from=probe {} {}",
            super::render::PROBE_OUT,
            crate::healthcheck::PROBE_PATH
        ));
    }
    t.line(&format!("USER {}", plan.user));
    for port in &plan.expose {
        t.line(&format!("EXPOSE {port}"));
    }
    if let Some(h) = &plan.healthcheck {
        t.comment(
            "Exec form, checked by gantry-probe (no shell needed). Kubernetes ignores this: \
             `cargo gantry healthcheck` prints the matching livenessProbe.",
        );
        t.line(&h.dockerfile_instruction());
    }
    t.comment("Exec form: the binary is PID 1 and receives SIGTERM itself (no shell in between).");
    t.line(&format!("ENTRYPOINT [{}]", json(&target)));
}

/// Patterns relative to the build context. Keeps build outputs, VCS data, secrets and editor
/// files out: they would slow every build down, bust the cache, or leak into a layer.
pub fn dockerignore(plan: &DockerPlan) -> String {
    let mut t = Text::default();
    t.comment(
        "Keep the build context small and free of secrets. Anything listed here is invisible \
         to COPY, so it can neither leak into a layer nor invalidate the cache.",
    );
    let groups: &[(&str, &[&str])] = &[
        ("build outputs", &["**/target/"]),
        ("version control", &["**/.git/", "**/.hg/", "**/.svn/"]),
        (
            "secrets: environment files, keys, certificates, cargo credentials",
            &[
                "**/.env",
                "**/.env.*",
                "**/*.pem",
                "**/*.key",
                "**/*.p12",
                "**/*.pfx",
                "**/id_rsa*",
                "**/id_ed25519*",
                "**/id_ecdsa*",
                "**/.ssh/",
                "**/.netrc",
                "**/.cargo/credentials",
                "**/.cargo/credentials.toml",
            ],
        ),
        (
            "editors and OS files",
            &[
                "**/.idea/",
                "**/.vscode/",
                "**/*.swp",
                "**/*.swo",
                "**/*~",
                "**/.DS_Store",
            ],
        ),
        (
            "the generated Docker files: regenerating them must not invalidate COPY",
            &["**/Dockerfile", "**/*.dockerignore", "**/.dockerignore"],
        ),
    ];
    for (what, patterns) in groups {
        t.blank().comment(what);
        for p in *patterns {
            t.line(p);
        }
    }
    let root = &plan.root_in_context;
    let prefixed = |p: &str| crate::project::join_rel(root, p);
    if plan.strategy == Strategy::Vendor {
        t.blank()
            .comment("vendor: the vendored sources are part of the build.");
        t.line(&format!("!{}", prefixed("vendor")));
        t.line(&format!("!{}/**", prefixed("vendor")));
    }
    if !plan.extra_files.is_empty() {
        t.blank()
            .comment("files the image ships (setting `extra-files`).");
        for f in &plan.extra_files {
            t.line(&format!(
                "!{}",
                prefixed(&crate::project::join_rel(&plan.package_dir, &f.host))
            ));
        }
    }
    if !plan.included_files.is_empty() {
        t.blank().comment(
            "files the sources compile in (`include_str!`/`include_bytes!`): the build needs them, \
             whatever they look like.",
        );
        for f in &plan.included_files {
            t.line(&format!("!{}", prefixed(f)));
        }
    }
    t.finish()
}
