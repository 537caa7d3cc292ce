//! Span fields in stderr lines: the same bytes as the fmt layer's own
//! formatting gave (golden files written by the build before fields were
//! kept typed, `tests/tests/golden/span_fields/`), in text and JSON, with
//! and without span lines; and a value's `Debug`/`Display` runs once per
//! span however many lines show it.

/// The probe's stderr and stdout under `format` and `spans`.
fn probe(format: &str, spans: &str) -> (String, String) {
    let mut command = alamos_tests::probe_command(env!("CARGO_BIN_EXE_fields_probe"));
    command
        .env(alamos::env::LOG_FORMAT, format)
        .env(alamos::env::LOG_SPANS, spans);
    alamos_tests::run_probe(&mut command)
}

/// `line` without the trace ids the `otel` feature adds (random; the
/// golden files were written without them): ` trace=<id>/<id>` at the end
/// of a text line, `,"trace_id":..,"span_id":..` in a JSON one.
fn without_trace_ids(line: &str) -> String {
    if let Some(start) = line.find(",\"trace_id\":\"") {
        let ids = r#","trace_id":""#.len() + 32 + r#"","span_id":""#.len() + 16 + 1;
        return format!(
            "{}{}",
            &line[..start],
            &line[(start + ids).min(line.len())..]
        );
    }
    match line.rfind(" trace=") {
        Some(start) if line.len() - start == " trace=".len() + 32 + 1 + 16 => {
            line[..start].to_owned()
        }
        _ => line.to_owned(),
    }
}

/// `line` with its timestamps and span timings replaced by placeholders.
fn mask(line: &str) -> String {
    let line = without_trace_ids(line);
    let mut out = String::new();
    let mut rest = line.as_str();
    while !rest.is_empty() {
        let bytes = rest.as_bytes();
        let timestamp = bytes.len() > 11
            && bytes[..4].iter().all(u8::is_ascii_digit)
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes[10] == b'T';
        if timestamp {
            if let Some(end) = rest.find('Z') {
                out.push_str("<time>");
                rest = &rest[end + 1..];
                continue;
            }
        }
        let timing = [
            "time.busy=",
            "time.idle=",
            "time.busy\":\"",
            "time.idle\":\"",
        ]
        .into_iter()
        .find(|prefix| rest.starts_with(prefix));
        if let Some(prefix) = timing {
            out.push_str(prefix);
            out.push_str("<d>");
            rest = &rest[prefix.len()..];
            let end = rest.find([' ', '"', '\n']).unwrap_or(rest.len());
            rest = &rest[end..];
            continue;
        }
        let next = rest.chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[..next]);
        rest = &rest[next..];
    }
    out
}

fn check(format: &str, spans: &str, golden: &str) {
    let (stdout, stderr) = probe(format, spans);
    let masked: Vec<String> = stderr.lines().map(mask).collect();
    let expected: Vec<&str> = golden.lines().collect();
    assert_eq!(masked, expected, "{format}, spans {spans}:\n{stderr}");
    // Three spans carry two counted values each: one `Debug` or `Display`
    // per value, however many lines show the span. With `otel`, the
    // OpenTelemetry layer (tracing-opentelemetry's) formats each once more
    // for the span's attributes.
    let readers = if cfg!(feature = "otel") { 2 } else { 1 };
    assert_eq!(
        stdout.trim(),
        format!("formats={}", 6 * readers),
        "{format}, spans {spans}"
    );
}

#[test]
fn text_lines_keep_their_bytes() {
    check(
        "text",
        "none",
        include_str!("golden/span_fields/text-none.txt"),
    );
}

#[test]
fn text_lines_with_span_lines_keep_their_bytes() {
    check(
        "text",
        "full",
        include_str!("golden/span_fields/text-full.txt"),
    );
}

#[test]
fn json_lines_keep_their_bytes() {
    check(
        "json",
        "none",
        include_str!("golden/span_fields/json-none.txt"),
    );
}

#[test]
fn json_lines_with_span_lines_keep_their_bytes() {
    check(
        "json",
        "full",
        include_str!("golden/span_fields/json-full.txt"),
    );
}

#[test]
fn masking_drops_trace_ids() {
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let span = "b7ad6b7169203331";
    assert_eq!(
        without_trace_ids(&format!("x{{a=1}}: hello k=1 trace={trace}/{span}")),
        "x{a=1}: hello k=1"
    );
    assert_eq!(
        without_trace_ids(&format!(
            r#"{{"target":"t","trace_id":"{trace}","span_id":"{span}","span":{{}}}}"#
        )),
        r#"{"target":"t","span":{}}"#
    );
}

#[test]
fn masking_hides_only_times() {
    assert_eq!(
        mask("2026-12-07T12:32:37.081307Z  INFO a{b=1}: close time.busy=12.5µs time.idle=3ns"),
        "<time>  INFO a{b=1}: close time.busy=<d> time.idle=<d>"
    );
    assert_eq!(
        mask(r#"{"timestamp":"2026-12-07T12:32:37Z","fields":{"time.busy":"1ms","x":"é"}}"#),
        r#"{"timestamp":"<time>","fields":{"time.busy":"<d>","x":"é"}}"#
    );
}
