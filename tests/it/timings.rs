//! `--timings` / `GANTRY_TIMINGS=1`: one stderr line per stage of gantry's own work, and the same
//! stages in `build --message-format json`.

use crate::support::*;

/// `  timing  NAME   1.234s` lines of stderr, as (name, seconds).
fn timing_lines(stderr: &str) -> Vec<(String, f64)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  timing  "))
        .map(|rest| {
            let (name, secs) = rest.trim_end().rsplit_once(' ').unwrap();
            let secs = secs.strip_suffix('s').unwrap().parse().unwrap();
            (name.trim().to_owned(), secs)
        })
        .collect()
}

fn names(stages: &[(String, f64)]) -> Vec<&str> {
    stages.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn build_timings_name_every_stage_on_stderr_and_in_the_json_summary() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "hi");
    let out = ok(
        gantry(
            &fx.path("app"),
            &[
                "build",
                "--timings",
                "--message-format",
                "json",
                "--docker-archive",
                "app.tar",
                "--oci-layout",
                "oci",
            ],
        ),
        "build --timings",
    );
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let json: Vec<(String, f64)> = summary["timings"]
        .as_array()
        .expect("a `timings` array")
        .iter()
        .map(|t| {
            let obj = t.as_object().unwrap();
            assert_eq!(obj.len(), 2, "only stage and seconds: {t}");
            (
                t["stage"].as_str().unwrap().to_owned(),
                t["seconds"].as_f64().unwrap(),
            )
        })
        .collect();
    let lines = timing_lines(&stderr(&out));
    assert_eq!(
        names(&json),
        names(&lines),
        "stderr and JSON list the same stages"
    );
    for stage in [
        "analyze",
        "resolve",
        "compile",
        "dependency graph",
        "cargo build",
        "elf",
        "libraries",
        "layer runtime",
        "layer app",
        "config",
        "sbom",
        "sbom spdx",
        "provenance",
        "output oci-layout",
        "output docker-archive",
        "total",
    ] {
        assert!(names(&json).contains(&stage), "`{stage}` in {json:?}");
    }
    assert!(json.iter().all(|(_, s)| *s >= 0.0), "{json:?}");
    let total = json.iter().find(|(n, _)| n == "total").unwrap().1;
    let compile = json.iter().find(|(n, _)| n == "compile").unwrap().1;
    assert!(total >= compile, "total {total} < compile {compile}");
    let cargo = json.iter().find(|(n, _)| n == "cargo build").unwrap().1;
    assert!(
        compile >= cargo,
        "compile {compile} < its cargo build {cargo}"
    );
    // Timings go to stderr only: stdout stays one JSON document.
    assert!(!stdout(&out).contains("timing "), "{}", stdout(&out));
}

#[test]
fn without_timings_there_are_no_timing_lines_and_no_timings_key() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "hi");
    let out = ok(
        gantry(&fx.path("app"), &["build", "--message-format", "json"]),
        "build",
    );
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(summary.get("timings").is_none(), "{summary}");
    assert!(timing_lines(&stderr(&out)).is_empty(), "{}", stderr(&out));
}

#[test]
fn prepare_and_cook_report_their_stages_with_the_environment_variable() {
    let fx = Fixture::new();
    fx.bin_package("app", "app", "", "hi").lock("app");
    let prepared = ok(
        gantry_cmd(&fx.path("app"))
            .args(["prepare", "--recipe-path", "recipe.json"])
            .env("GANTRY_TIMINGS", "1")
            .output()
            .unwrap(),
        "prepare",
    );
    let stages = timing_lines(&stderr(&prepared));
    assert_eq!(
        names(&stages),
        ["analyze", "recipe", "write recipe", "total"],
        "{}",
        stderr(&prepared)
    );

    std::fs::create_dir_all(fx.path("cook")).unwrap();
    std::fs::copy(fx.path("app/recipe.json"), fx.path("cook/recipe.json")).unwrap();
    let cooked = ok(
        gantry(&fx.path("cook"), &["cook", "--timings", "--release"]),
        "cook",
    );
    let stages = timing_lines(&stderr(&cooked));
    assert_eq!(
        names(&stages),
        [
            "read recipe",
            "write skeleton",
            "compile dependencies",
            "discard placeholders",
            "total"
        ],
        "{}",
        stderr(&cooked)
    );
    assert!(stages.iter().all(|(_, s)| *s >= 0.0));
}
