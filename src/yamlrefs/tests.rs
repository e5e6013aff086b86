use super::*;

/// The references' texts, positions and parsed names, for compact assertions.
fn found(text: &str) -> Vec<(String, usize, usize, Option<String>, String)> {
    find("k8s.yaml", text)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                text[r.span.clone()].to_owned(),
                r.line,
                r.column,
                r.package,
                r.bin,
            )
        })
        .collect()
}

fn texts(text: &str) -> Vec<String> {
    found(text).into_iter().map(|f| f.0).collect()
}

fn error(text: &str) -> String {
    find("deploy/app.yaml", text).unwrap_err().render()
}

/// Replace every reference with `ghcr.io/acme/<bin>@sha256:1`.
fn pinned(text: &str) -> String {
    let refs = find("k8s.yaml", text).unwrap();
    let edits: Vec<(Range<usize>, String)> = refs
        .iter()
        .map(|r| (r.span.clone(), format!("ghcr.io/acme/{}@sha256:1", r.bin)))
        .collect();
    replace(text, &edits)
}

const MANIFESTS: &str = "\
# Source: api/templates/deployment.yaml
# image: gantry://commented-out   (a comment is never a reference)
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api # gantry://not-this-either
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: gantry://api/migrate
      containers:
        - name: api
          image: gantry://api   # the server
          args: [\"--upstream=gantry://api\"]
          command: echo gantry://api
        - name: proxy
          image: envoyproxy/envoy:v1.31.0
---
apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      containers:
      - image: \"gantry://worker\"
        name: worker
...
---
# Compose
services:
  web:
    image: 'gantry://web-app'
";

#[test]
fn references_in_multi_document_manifests_with_positions_and_names() {
    assert_eq!(
        found(MANIFESTS),
        [
            (
                "gantry://api/migrate".into(),
                12,
                18,
                Some("api".into()),
                "migrate".into()
            ),
            ("gantry://api".into(), 15, 18, None, "api".into()),
            ("gantry://worker".into(), 27, 17, None, "worker".into()),
            ("gantry://web-app".into(), 34, 13, None, "web-app".into()),
        ]
    );
}

#[test]
fn replacing_changes_only_the_references_and_keeps_quotes_and_comments() {
    let out = pinned(MANIFESTS);
    let expected = MANIFESTS
        .replace(
            "image: gantry://api/migrate",
            "image: ghcr.io/acme/migrate@sha256:1",
        )
        .replace(
            "image: gantry://api   # the server",
            "image: ghcr.io/acme/api@sha256:1   # the server",
        )
        .replace(
            "image: \"gantry://worker\"",
            "image: \"ghcr.io/acme/worker@sha256:1\"",
        )
        .replace(
            "image: 'gantry://web-app'",
            "image: 'ghcr.io/acme/web-app@sha256:1'",
        );
    assert_eq!(out, expected);
    // The foreign image, the comments and the scalars that merely mention gantry:// stay.
    for kept in [
        "envoyproxy/envoy:v1.31.0",
        "# image: gantry://commented-out",
        "--upstream=gantry://api",
        "command: echo gantry://api",
    ] {
        assert!(out.contains(kept), "{kept}");
    }
    assert!(find("k8s.yaml", &out).unwrap().is_empty());
}

#[test]
fn flow_collections_and_json_count_values_not_keys() {
    let text = "\
a: {image: gantry://one, name: x}
b: [gantry://two, 'gantry://three', {image: \"gantry://four\"}]
c: {gantry://key-not-value: 1, other: gantry://five}
d: [gantry://six-key: v]
e: {\"spec\":{\"image\":\"gantry://seven\"}}
f: {
  image: gantry://eight, # a comment, gantry://nine
  tags: [latest]
}
";
    assert_eq!(
        texts(text),
        [
            "gantry://one",
            "gantry://two",
            "gantry://three",
            "gantry://four",
            "gantry://five",
            "gantry://seven",
            "gantry://eight",
        ]
    );
    let out = pinned(text);
    assert!(out.starts_with("a: {image: ghcr.io/acme/one@sha256:1, name: x}\n"));
    assert!(out.contains("'ghcr.io/acme/three@sha256:1'"));
    assert!(out.contains("\"image\":\"ghcr.io/acme/seven@sha256:1\"}}"));
    assert!(out.contains("gantry://key-not-value: 1"));
}

#[test]
fn any_key_and_bare_sequence_items_count() {
    let text = "\
image:
  repository: gantry://chart-app
  tag: \"\"
extra:
  - gantry://sidecar
  - - gantry://nested
value-on-next-line:
  gantry://below
anchored: &img gantry://anchored
tagged: !!str gantry://tagged
alias: *img
";
    assert_eq!(
        texts(text),
        [
            "gantry://chart-app",
            "gantry://sidecar",
            "gantry://nested",
            "gantry://below",
            "gantry://anchored",
            "gantry://tagged",
        ]
    );
}

#[test]
fn block_scalars_are_file_contents_not_references() {
    let text = "\
kind: ConfigMap
data:
  compose.yaml: |
    services:
      web:
        image: gantry://inside-a-file

    more: gantry://still-inside
  other.yaml: >-
    image: gantry://folded
items:
  - |
    image: gantry://in-an-item
  - image: gantry://after
";
    assert_eq!(texts(text), ["gantry://after"]);
}

#[test]
fn crlf_line_endings_are_kept_and_positions_count_lines() {
    let text = "a: 1\r\nimage: gantry://app\r\n# x\r\nb: 'gantry://lib/tool'\r\n";
    assert_eq!(
        found(text),
        [
            ("gantry://app".into(), 2, 8, None, "app".into()),
            (
                "gantry://lib/tool".into(),
                4,
                5,
                Some("lib".into()),
                "tool".into()
            ),
        ]
    );
    assert_eq!(
        pinned(text),
        "a: 1\r\nimage: ghcr.io/acme/app@sha256:1\r\n# x\r\nb: 'ghcr.io/acme/tool@sha256:1'\r\n"
    );
}

#[test]
fn columns_count_characters_and_a_byte_order_mark_is_skipped() {
    let text = "\u{feff}naïve: {a: é, image: gantry://app}\n";
    let refs = find("x.yaml", text).unwrap();
    assert_eq!((refs[0].line, refs[0].column), (1, 22));
    assert_eq!(refs[0].location(), "x.yaml:1:22");
    assert_eq!(&text[refs[0].span.clone()], "gantry://app");
}

#[test]
fn a_document_may_start_on_its_marker_line() {
    assert_eq!(
        texts("--- gantry://root\n--- |\n  image: gantry://no\n---\na: gantry://yes\n"),
        ["gantry://root", "gantry://yes"]
    );
}

#[test]
fn malformed_references_are_user_errors_naming_file_line_and_column() {
    for (value, why) in [
        ("gantry://", "a name is empty"),
        ("gantry://a/b/c", "it has 3 names"),
        ("gantry://App", "`App` has an uppercase letter `A`"),
        ("gantry://app:1.0", "`app:1.0` has the character `:`"),
        ("gantry:///bin", "a name is empty"),
        ("gantry://-x", "`-x` starts with `-`"),
    ] {
        let err = find("deploy/app.yaml", &format!("kind: Pod\nimage: {value}\n")).unwrap_err();
        assert_eq!(err.kind(), crate::error::Kind::User);
        let text = err.render();
        assert!(
            text.starts_with(&format!(
                "error: malformed image reference `{value}` at `deploy/app.yaml:2:8`"
            )),
            "{text}"
        );
        assert!(text.contains(why), "{value}: {text}");
        assert!(
            text.contains("hint: write `gantry://BIN` or `gantry://PACKAGE/BIN`"),
            "{text}"
        );
    }
    // Quoted or in a flow collection, the same rule.
    assert!(error("a: [\"gantry://Web\"]\n").contains("`deploy/app.yaml:1:6`"));
}

#[test]
fn a_plain_reference_that_continues_on_the_next_line_is_malformed() {
    let err = error("image: gantry://app\n  oops\nnext: 1\n");
    assert!(
        err.contains("`gantry://app` at `deploy/app.yaml:1:8`"),
        "{err}"
    );
    assert!(err.contains("past the end of the line"), "{err}");
}

#[test]
fn unterminated_quotes_and_brackets_are_user_errors() {
    assert!(
        error("a: 'gantry://x\n").contains("unterminated quoted scalar at `deploy/app.yaml:1:4`")
    );
    assert!(
        error("a: [gantry://x\n").contains("unclosed flow collection at `deploy/app.yaml:1:4`")
    );
    // Quotes inside plain scalars and comments are not quotes.
    assert!(texts("a: it's # don't\nb: gantry://x\n") == ["gantry://x"]);
}

#[test]
fn replace_keeps_every_byte_outside_the_spans() {
    let text = "x: gantry://a # é\ny: \"gantry://b\"\n";
    let refs = find("f", text).unwrap();
    let out = replace(
        text,
        &[(refs[1].span.clone(), "B"), (refs[0].span.clone(), "A")],
    );
    assert_eq!(out, "x: A # é\ny: \"B\"\n");
    assert_eq!(replace(text, &[] as &[(Range<usize>, &str)]), text);
}

#[test]
#[should_panic(expected = "overlaps")]
fn overlapping_spans_are_a_bug_of_the_caller() {
    replace("abcdef", &[(1..4, "x"), (3..5, "y")]);
}

#[test]
fn quoted_keys_tabs_and_helm_template_braces() {
    let text = "\
\"image\": gantry://quoted-key
'name':\tgantry://after-a-tab
not-a-key:gantry://one-plain-scalar
{{- if .Values.enabled }}
image: \"{{ .Values.image }}\"
{{- end }}
";
    assert_eq!(texts(text), ["gantry://quoted-key", "gantry://after-a-tab"]);
}
