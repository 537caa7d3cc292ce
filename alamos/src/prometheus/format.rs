//! The lexical rules both expositions share: which characters a name may
//! hold, how a label value or a HELP text is escaped, how a float is
//! spelled.
//!
//! # Names
//!
//! A metric name matches `[a-zA-Z_:][a-zA-Z0-9_:]*` and a label name
//! `[a-zA-Z_][a-zA-Z0-9_]*` (Prometheus's data model; OpenMetrics allows the
//! same). Every character outside the class becomes one `_`, per character
//! (not per byte), so `1ms` is `_ms` and `é` is `_`: the same names
//! `metrics_exporter_prometheus::formatting` gives, which the tests check.
//!
//! # Escapes
//!
//! | where | escaped |
//! |---|---|
//! | label values (both formats) | `\` as `\\`, `"` as `\"`, line feed as `\n` |
//! | `# HELP` of the text format 0.0.4 | `\` as `\\`, line feed as `\n` |
//! | `# HELP` of OpenMetrics | as a label value |
//!
//! Everything else, other control characters included, is written as it
//! is. Every backslash is escaped, which is where the output differs from
//! metrics-exporter-prometheus 0.18 (whose helpers alamos used before): it
//! reads a backslash before `\` (or `"`, in label values) as an escape
//! already made and passes it through, so a scraper reads `a\\b` back as
//! `a\b`, and it writes a backslash before a line feed after the line
//! feed's escape.

use std::fmt::Write as _;

/// A metric name with every character outside `[a-zA-Z_:]` (first) or
/// `[a-zA-Z0-9_:]` (rest) replaced by `_`.
pub(super) fn sanitize_metric_name(name: &str) -> String {
    sanitize(name, |c| c == ':')
}

/// A label name with every character outside `[a-zA-Z_]` (first) or
/// `[a-zA-Z0-9_]` (rest) replaced by `_`.
pub(super) fn sanitize_label_key(key: &str) -> String {
    sanitize(key, |_| false)
}

fn sanitize(name: &str, also: fn(char) -> bool) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            let valid = c == '_'
                || also(c)
                || if i == 0 {
                    c.is_ascii_alphabetic()
                } else {
                    c.is_ascii_alphanumeric()
                };
            if valid {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Appends `value` escaped as a label value: `\`, `"` and line feeds. The
/// same escape serves OpenMetrics's HELP text.
pub(super) fn escape_label_value(out: &mut String, value: &str) {
    escape(out, value, true);
}

/// Appends `text` escaped as the text format's HELP: `\` and line feeds.
pub(super) fn escape_help(out: &mut String, text: &str) {
    escape(out, text, false);
}

fn escape(out: &mut String, text: &str, quote: bool) {
    // Runs without a special character are copied whole.
    let mut rest = text;
    while let Some(at) = rest.find(|c| matches!(c, '\\' | '\n') || quote && c == '"') {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// `# HELP {name} {help}` of the text format, `help` escaped.
pub(super) fn write_help_line(out: &mut String, name: &str, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(out, help);
    out.push('\n');
}

/// `# TYPE {name} {kind}`.
pub(super) fn write_type_line(out: &mut String, name: &str, kind: &str) {
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A float as Prometheus reads it: `+Inf`, `-Inf` and `NaN` by name, every
/// other value in Rust's shortest round-trip digits, without an exponent
/// (`0.000001`, `2.5`, `1e21` as `1000000000000000000000`), which Go's
/// `strconv.ParseFloat` reads back exactly.
pub(super) fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::formatting as theirs;
    use proptest::prelude::*;

    use super::*;

    /// Reads an escaped string back as Prometheus's parsers do.
    fn unescape(escaped: &str) -> String {
        let mut out = String::new();
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn label_value(value: &str) -> String {
        let mut out = String::new();
        escape_label_value(&mut out, value);
        out
    }

    fn help(text: &str) -> String {
        let mut out = String::new();
        escape_help(&mut out, text);
        out
    }

    /// Whether metrics-exporter-prometheus's "already escaped" reading
    /// applies: a backslash before a backslash, before a line feed (it
    /// writes the line feed's escape first, the held backslash after), or
    /// (in label values only) before a double quote.
    fn has_escape_like_pair(text: &str, quote: bool) -> bool {
        text.contains("\\\\") || text.contains("\\\n") || quote && text.contains("\\\"")
    }

    #[test]
    fn known_cases() {
        for (name, expected) in [
            ("*", "_"),
            ("foo1:bar2", "foo1:bar2"),
            ("1foobar", "_foobar"),
            ("123", "_23"),
            (":a", ":a"),
            ("é.x", "__x"),
            ("", ""),
        ] {
            assert_eq!(sanitize_metric_name(name), expected, "{name:?}");
        }
        for (key, expected) in [
            (":", "_"),
            ("service.name", "service_name"),
            ("__x", "__x"),
            ("9a", "_a"),
        ] {
            assert_eq!(sanitize_label_key(key), expected, "{key:?}");
        }
        assert_eq!(label_value("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
        assert_eq!(label_value(r"\\"), r"\\\\");
        assert_eq!(help("a\"b\\c\nd"), r#"a"b\\c\nd"#);
        assert_eq!(help(r"\\"), r"\\\\");
        let mut line = String::new();
        write_help_line(&mut line, "m", "two\nlines");
        write_type_line(&mut line, "m", "gauge");
        assert_eq!(line, "# HELP m two\\nlines\n# TYPE m gauge\n");
    }

    #[test]
    fn special_floats_are_spelled_as_prometheus_reads_them() {
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(-0.0), "-0");
        assert_eq!(float(0.000_001), "0.000001");
        assert_eq!(float(2.5), "2.5");
        assert_eq!(float(1e21), "1000000000000000000000");
    }

    #[test]
    fn where_metrics_exporter_prometheus_loses_a_backslash() {
        // It reads `\\` as an escape already made: a scraper then sees one
        // backslash where the value had two. Here both survive.
        assert_eq!(theirs::sanitize_label_value(r"\\"), r"\\");
        assert_eq!(unescape(&label_value(r"\\")), r"\\");
        assert_eq!(theirs::sanitize_description(r"a\\b"), r"a\\b");
        assert_eq!(unescape(&help(r"a\\b")), r"a\\b");
        // And it writes a backslash before a line feed after the line feed.
        assert_eq!(theirs::sanitize_description("\\\n"), r"\n\\");
        assert_eq!(help("\\\n"), r"\\\n");
    }

    proptest! {
        #[test]
        fn names_match_metrics_exporter_prometheus(name in any::<String>()) {
            prop_assert_eq!(sanitize_metric_name(&name), theirs::sanitize_metric_name(&name));
            prop_assert_eq!(sanitize_label_key(&name), theirs::sanitize_label_key(&name));
        }

        #[test]
        fn ascii_names_match_metrics_exporter_prometheus(name in "[ -~]{0,12}") {
            prop_assert_eq!(sanitize_metric_name(&name), theirs::sanitize_metric_name(&name));
            prop_assert_eq!(sanitize_label_key(&name), theirs::sanitize_label_key(&name));
        }

        #[test]
        fn label_values_match_and_round_trip(
            value in r#"([a-z\\"\n\t ]|\PC){0,16}|[a\\"\n]{0,8}"#,
        ) {
            let ours = label_value(&value);
            prop_assert_eq!(unescape(&ours), value.clone());
            prop_assert!(!ours.contains('\n'));
            if !has_escape_like_pair(&value, true) {
                prop_assert_eq!(ours, theirs::sanitize_label_value(&value));
            }
        }

        #[test]
        fn help_texts_match_and_round_trip(
            text in r#"([a-z\\"\n\t ]|\PC){0,16}|[a\\"\n]{0,8}"#,
        ) {
            let ours = help(&text);
            prop_assert_eq!(unescape(&ours), text.clone());
            prop_assert!(!ours.contains('\n'));
            if !has_escape_like_pair(&text, false) {
                prop_assert_eq!(&ours, &theirs::sanitize_description(&text));
            }
            let mut line = String::new();
            write_help_line(&mut line, "m", &text);
            let mut oracle = String::new();
            theirs::write_help_line(&mut oracle, "m", None, None, &text);
            if !has_escape_like_pair(&text, false) {
                prop_assert_eq!(line, oracle);
            }
        }

        #[test]
        fn type_lines_match(name in "[a-z_:]{1,12}", kind in "(counter|gauge|histogram)") {
            let mut ours = String::new();
            write_type_line(&mut ours, &name, &kind);
            let mut oracle = String::new();
            theirs::write_type_line(&mut oracle, &name, None, None, &kind);
            prop_assert_eq!(ours, oracle);
        }

        #[test]
        fn floats_read_back(value in any::<f64>()) {
            let text = float(value);
            if value.is_nan() {
                prop_assert_eq!(text, "NaN");
            } else {
                let back = match text.as_str() {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    other => other.parse().unwrap(),
                };
                prop_assert_eq!(back.to_bits(), value.to_bits());
            }
        }
    }
}
