use super::*;
use crate::settings::{ImageSettings, Layer};

fn metadata(table: serde_json::Value) -> Result<Layer> {
    let meta = serde_json::json!({ "gantry": { "healthcheck": table } });
    Layer::from_metadata(&meta, "app/Cargo.toml")
}

/// The full text of the refusal of `table`.
fn refusal(table: serde_json::Value) -> String {
    let err = metadata(table).unwrap_err();
    assert_eq!(err.kind(), crate::error::Kind::User);
    err.render()
}

#[test]
fn http_check_with_every_timing_is_read_from_metadata() {
    let layer = metadata(serde_json::json!({
        "http": "http://127.0.0.1:8080/healthz",
        "interval": "30s", "timeout": "3s", "start-period": "1m30s", "retries": 4
    }))
    .unwrap();
    let h = ImageSettings::from_layer(&layer).healthcheck.unwrap();
    assert_eq!(
        h,
        Healthcheck {
            check: Check::Http {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/healthz".into()
            },
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(3),
            start_period: Duration::from_secs(90),
            retries: 4,
        }
    );
}

#[test]
fn tcp_check_gets_the_default_timings() {
    let layer = metadata(serde_json::json!({ "tcp": "[::1]:5432" })).unwrap();
    let h = ImageSettings::from_layer(&layer).healthcheck.unwrap();
    assert_eq!(h.check.probe_args(), ["tcp", "[::1]:5432"]);
    assert_eq!(
        (h.interval, h.timeout, h.start_period, h.retries),
        (
            DEFAULT_INTERVAL,
            DEFAULT_TIMEOUT,
            Duration::ZERO,
            DEFAULT_RETRIES
        )
    );
}

#[test]
fn no_healthcheck_setting_means_no_healthcheck() {
    assert_eq!(
        ImageSettings::from_layer(&Layer::default()).healthcheck,
        None
    );
}

#[test]
fn urls_default_the_port_and_path_and_keep_the_query() {
    let check = |url: &str| Check::parse_url(url, "--healthcheck").unwrap();
    assert_eq!(
        check("http://localhost").probe_args(),
        ["http://localhost:80/"]
    );
    assert_eq!(
        check("http://127.0.0.1:9000?ready=1").probe_args(),
        ["http://127.0.0.1:9000/?ready=1"]
    );
    assert_eq!(check("http://[::1]:8080/a/b").port(), 8080);
    assert_eq!(check("tcp://127.0.0.1:6379").url(), "tcp://127.0.0.1:6379");
}

#[test]
fn refusals_name_the_key() {
    for (table, says) in [
        (
            serde_json::json!({ "http": "http://127.0.0.1/", "tcp": "127.0.0.1:1" }),
            "sets both `http` and `tcp`",
        ),
        (
            serde_json::json!({ "interval": "30s" }),
            "`healthcheck` needs `http",
        ),
        (
            serde_json::json!({ "http": "http://127.0.0.1/", "interval": "30x" }),
            "`healthcheck.interval` `30x` is not a duration",
        ),
        (
            serde_json::json!({ "http": "http://127.0.0.1/", "timeout": "0s" }),
            "`healthcheck.timeout` must be at least 1ms",
        ),
        (
            serde_json::json!({ "http": "http://127.0.0.1/", "retries": 0 }),
            "`healthcheck.retries` must be a whole number from 1 up, not `0`",
        ),
        (
            serde_json::json!({ "http": "http://127.0.0.1/", "retries": "3" }),
            "`healthcheck.retries` must be a whole number",
        ),
        (
            serde_json::json!({ "http": "http://127.0.0.1/", "interval": 30 }),
            "`healthcheck.interval` must be a string",
        ),
        (
            serde_json::json!({ "http": "http://127.0.0.1/", "every": "1s" }),
            "unknown key `healthcheck.every`",
        ),
        (
            serde_json::json!({ "http": "https://127.0.0.1/" }),
            "`healthcheck.http` `https://127.0.0.1/` is neither",
        ),
        (
            serde_json::json!({ "http": "tcp://127.0.0.1:1" }),
            "`healthcheck.http` `tcp://127.0.0.1:1` is not an `http://` URL",
        ),
        (
            serde_json::json!({ "http": "http://app.internal:8080/" }),
            "`healthcheck.http`: host `app.internal` is not a numeric IPv4",
        ),
        (
            serde_json::json!({ "tcp": "127.0.0.1" }),
            "`healthcheck.tcp` `127.0.0.1` has no port",
        ),
        (
            serde_json::json!({ "tcp": "127.0.0.1:99999" }),
            "`healthcheck.tcp`: `99999` is not a port number",
        ),
        (
            serde_json::json!({ "http": "http://127.0.0.1/a b" }),
            "has a path the probe cannot send",
        ),
    ] {
        let text = refusal(table.clone());
        assert!(text.contains("`app/Cargo.toml`"), "{text}");
        assert!(text.contains(says), "{table}: {text}");
    }
}

#[test]
fn command_line_refusals_name_the_flag_and_hint() {
    for (url, says, hint) in [
        (
            "https://127.0.0.1/",
            "--healthcheck `https://127.0.0.1/`",
            "plain HTTP",
        ),
        (
            "127.0.0.1:8080",
            "neither an `http://` nor a `tcp://` URL",
            "http://127.0.0.1:8080/healthz",
        ),
        ("http://[::1/", "--healthcheck: host `[::1`", "no DNS"),
        ("tcp://[zz]:1", "--healthcheck: host `[zz]:1`", "no DNS"),
    ] {
        let err = Spec::from_url(url).unwrap_err();
        assert!(err.message().contains(says), "{url}: {}", err.render());
        assert!(
            err.hint().unwrap().contains(hint),
            "{url}: {}",
            err.render()
        );
    }
}

#[test]
fn durations_read_go_style_units_and_print_for_docker_and_the_probe() {
    let d = |s: &str| parse_duration(s, "x").unwrap();
    assert_eq!(d("500ms"), Duration::from_millis(500));
    assert_eq!(d("1m"), Duration::from_secs(60));
    assert_eq!(d("1h2m3s"), Duration::from_secs(3723));
    for bad in ["", "5", "s", "1.5s", "-1s", "5sec", "1ms1x"] {
        assert!(parse_duration(bad, "x").is_err(), "{bad}");
    }
    assert_eq!(format_duration(Duration::from_secs(60)), "60s");
    assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
}

#[test]
fn the_command_line_check_keeps_the_timings_of_the_metadata() {
    let meta = metadata(serde_json::json!({ "tcp": "127.0.0.1:1", "interval": "1s" })).unwrap();
    let cli = Layer {
        healthcheck: Some(Spec::from_url("http://127.0.0.1:2/up").unwrap()),
        ..Layer::default()
    };
    let h = ImageSettings::from_layer(&cli.or(meta))
        .healthcheck
        .unwrap();
    assert_eq!(h.check.probe_args(), ["http://127.0.0.1:2/up"]);
    assert_eq!(h.interval, Duration::from_secs(1));
}

fn sample() -> Healthcheck {
    Healthcheck {
        check: Check::Http {
            host: "127.0.0.1".into(),
            port: 8080,
            path: "/healthz".into(),
        },
        interval: Duration::from_secs(30),
        timeout: Duration::from_millis(2500),
        start_period: Duration::from_secs(5),
        retries: 3,
    }
}

#[test]
fn docker_config_runs_the_probe_in_exec_form_with_nanoseconds() {
    let json = serde_json::to_string(&sample().docker_config()).unwrap();
    assert_eq!(
        json,
        r#"{"Test":["CMD","/usr/local/bin/gantry-probe","--timeout","2500ms","http://127.0.0.1:8080/healthz"],"Interval":30000000000,"Timeout":2500000000,"StartPeriod":5000000000,"Retries":3}"#
    );
}

#[test]
fn dockerfile_instruction_and_kubernetes_probe_agree() {
    let h = sample();
    assert_eq!(
        h.dockerfile_instruction(),
        r#"HEALTHCHECK --interval=30s --timeout=2500ms --start-period=5s --retries=3 CMD ["/usr/local/bin/gantry-probe","--timeout","2500ms","http://127.0.0.1:8080/healthz"]"#
    );
    let yaml = h.kubernetes_liveness_probe();
    let body: Vec<&str> = yaml.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body,
        [
            "livenessProbe:",
            "  httpGet:",
            "    path: \"/healthz\"",
            "    port: 8080",
            "  periodSeconds: 30",
            // Whole seconds, rounded up.
            "  timeoutSeconds: 3",
            "  initialDelaySeconds: 5",
            "  failureThreshold: 3",
        ]
    );
    let tcp = Healthcheck {
        check: Check::Tcp {
            host: "127.0.0.1".into(),
            port: 5432,
        },
        interval: Duration::from_millis(200),
        ..h
    };
    let yaml = tcp.kubernetes_liveness_probe();
    assert!(
        yaml.contains("  tcpSocket:\n    port: 5432\n  periodSeconds: 1\n"),
        "{yaml}"
    );
}
