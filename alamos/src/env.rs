//! The environment variables alamos reads, and the one place that reads them.
//!
//! Every `ALAMOS_*` variable is named here and read through [`var`] or
//! [`flag`], so each is reported the same way when it is malformed: one line
//! on stderr that names the variable, says what is wrong and what alamos does
//! instead, and never a panic. What a value means stays with the module that
//! owns it (directives in `tree`, addresses in `http`, the token in `admin`);
//! this module only turns the process environment into text.
//!
//! OpenTelemetry's own variables (`OTEL_*`) are read by the `otel` module,
//! which follows their specification rather than alamos's conventions.

/// Thresholds, in the directive grammar: `prod,distribution=debug`.
pub const LEVEL: &str = "ALAMOS_LEVEL";
/// `text` (the default) or `json` lines on stderr.
pub const LOG_FORMAT: &str = "ALAMOS_LOG_FORMAT";
/// Span open and close lines: `none` (the default), `close`, `open`, `full`.
pub const LOG_SPANS: &str = "ALAMOS_LOG_SPANS";
/// The address `/metrics` (and the admin routes) are served on.
pub const PROMETHEUS_ADDR: &str = "ALAMOS_PROMETHEUS_ADDR";
/// The bearer token that turns the admin routes on.
pub const ADMIN_TOKEN: &str = "ALAMOS_ADMIN_TOKEN";
/// `1` serves the admin routes on an address other than loopback.
pub const ADMIN_REMOTE: &str = "ALAMOS_ADMIN_REMOTE";
/// `1` flushes every signal on SIGTERM and SIGINT before the process ends.
pub const FLUSH_ON_SIGNALS: &str = "ALAMOS_FLUSH_ON_SIGNALS";
/// Root trace probabilities, in the directive grammar with fractions:
/// `0.01,api.auth=1`.
pub const TRACE_SAMPLE: &str = "ALAMOS_TRACE_SAMPLE";

/// The text of `name`, or `None` when it is unset. A value that is not
/// UTF-8 is reported on stderr, ending with `otherwise` (what alamos does
/// instead), and reads as unset.
#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
pub(crate) fn var(name: &str, otherwise: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            eprintln!("alamos: {name} is not valid UTF-8; {otherwise}");
            None
        }
    }
}

/// A yes/no variable: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off`
/// (any case, surrounding blanks ignored). Unset or empty gives `default`;
/// anything else is reported on stderr and gives `default` too.
#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
pub(crate) fn flag(name: &str, default: bool) -> bool {
    let fallback = if default { "using 1" } else { "using 0" };
    let Some(value) = var(name, fallback) else {
        return default;
    };
    parse_flag(&value).unwrap_or_else(|| {
        if !value.trim().is_empty() {
            eprintln!("alamos: {name}={value:?} is not one of 1, 0, true, false; {fallback}");
        }
        default
    })
}

#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_flag;

    #[test]
    fn flags_read_the_usual_spellings_and_nothing_else() {
        for yes in ["1", "true", " TRUE ", "yes", "On"] {
            assert_eq!(parse_flag(yes), Some(true), "{yes:?}");
        }
        for no in ["0", "false", "No", " off"] {
            assert_eq!(parse_flag(no), Some(false), "{no:?}");
        }
        for bad in ["", "2", "enabled", "tru", "1 1"] {
            assert_eq!(parse_flag(bad), None, "{bad:?}");
        }
    }
}
