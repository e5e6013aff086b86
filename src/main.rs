//! `cargo gantry …` / `cargo-gantry …`: parse, dispatch, render errors, map exit codes
//! (0 ok, 1 user error, 2 failure).

mod cli;
mod commands;

use clap::Parser;

use cargo_gantry::error::Kind;

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Run by cargo as the workspace's rustc wrapper (set by gantry's own build).
    if let Some(links) = std::env::var_os(cargo_gantry::settings::env::AUDITABLE_LINKS) {
        let result = cargo_gantry::sbom::auditable::wrapper::run(args, &links.to_string_lossy());
        if let Err(err) = result {
            eprintln!("{}", err.render());
        }
        std::process::exit(2);
    }
    // `cargo gantry x` runs `cargo-gantry gantry x`.
    if args.get(1).is_some_and(|a| a == "gantry") {
        args.remove(1);
    }
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let result = match &cli.command {
        cli::Command::Prepare(a) => commands::prepare::run(a),
        cli::Command::Cook(a) => commands::cook::run(a),
        cli::Command::Build(a) => commands::build::run(a),
        cli::Command::Dockerfile(a) => commands::dockerfile::run(a),
        cli::Command::Run(a) => commands::run::run(a),
        cli::Command::Resolve(a) => commands::resolve::run(a),
        cli::Command::Sign(a) => commands::sign::run(a),
        cli::Command::Verify(a) => commands::verify::run(a),
        cli::Command::Healthcheck(a) => commands::healthcheck::run(a),
        cli::Command::Probe(a) => commands::probe::run(a),
        cli::Command::Ci(c) => commands::ci::run(c),
        cli::Command::Sbom(a) => commands::sbom::run(a),
    };
    if let Err(err) = result {
        eprintln!("{}", err.render());
        std::process::exit(match err.kind() {
            Kind::User => 1,
            Kind::Failure => 2,
        });
    }
}
