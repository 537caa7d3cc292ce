//! JSON text, written by hand for the handful of shapes alamos emits (log
//! lines; the admin endpoint's answers), and [`ser`], a `serde::Serializer`
//! for the values users attach with [`report`](fn@crate::report).
//!
//! `serde_json` would do it, but a dependency is part of every user's crate
//! graph, and `serde_json`'s `impl PartialEq<Value> for i32` (and its kin)
//! makes ordinary code ambiguous there: `assert_eq!(6, v.into_iter().sum())`
//! stops compiling (`tests/default_features` pins this). So alamos writes
//! its JSON itself, escaping strings as RFC 8259 requires.

#[cfg(feature = "reports")]
pub(crate) mod ser;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes `text` as a JSON string, quotes included.
pub(crate) fn string(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if u32::from(c) < 0x20 => "",
            _ => continue,
        };
        out.write_str(&text[start..index])?;
        if escape.is_empty() {
            write!(out, "\\u{:04x}", u32::from(c))?;
        } else {
            out.write_str(escape)?;
        }
        start = index + c.len_utf8();
    }
    out.write_str(&text[start..])?;
    out.write_char('"')
}

/// Writes a float as a JSON number, or as a string for what JSON cannot
/// hold (`"NaN"`, `"inf"`, `"-inf"`).
pub(crate) fn float(out: &mut impl fmt::Write, value: f64) -> fmt::Result {
    if value.is_finite() {
        // `{:?}` keeps a decimal point or exponent, so the value reads back
        // as a float, and is the shortest text that round-trips.
        write!(out, "{value:?}")
    } else {
        string(out, &value.to_string())
    }
}

/// Writes a wall-clock time as an RFC 3339 string in UTC, to the
/// millisecond: `"2026-11-28T09:41:07.125Z"`. Times before 1970 are written
/// as the epoch.
pub(crate) fn timestamp(out: &mut impl fmt::Write, time: SystemTime) -> fmt::Result {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let days = seconds / 86_400;
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    write!(
        out,
        "\"{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z\"",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// The Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A comma-separated list of `"name":value` members, for building an object
/// a member at a time.
#[derive(Debug, Default)]
pub(crate) struct Members {
    text: String,
}

impl Members {
    /// The members, without braces.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    fn name(&mut self, name: &str) {
        if !self.text.is_empty() {
            self.text.push(',');
        }
        let _ = string(&mut self.text, name);
        self.text.push(':');
    }

    pub(crate) fn str(&mut self, name: &str, value: &str) {
        self.name(name);
        let _ = string(&mut self.text, value);
    }

    pub(crate) fn display(&mut self, name: &str, value: impl fmt::Display) {
        self.str(name, &value.to_string());
    }

    pub(crate) fn float(&mut self, name: &str, value: f64) {
        self.name(name);
        let _ = float(&mut self.text, value);
    }

    /// Appends members that are already JSON text (`"a":1,"b":2`).
    pub(crate) fn extend_raw(&mut self, members: &str) {
        if members.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push(',');
        }
        self.text.push_str(members);
    }

    /// A value that is already JSON text (a number, a bool, an object).
    pub(crate) fn raw(&mut self, name: &str, json: &str) {
        self.name(name);
        self.text.push_str(json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> String {
        let mut out = String::new();
        string(&mut out, text).unwrap();
        out
    }

    #[test]
    fn strings_are_escaped_as_rfc_8259_requires() {
        assert_eq!(quoted("plain"), "\"plain\"");
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quoted("line\nfeed\ttab\r"), "\"line\\nfeed\\ttab\\r\"");
        assert_eq!(quoted("\u{1}\u{1f}"), "\"\\u0001\\u001f\"");
        assert_eq!(quoted("ünïcødé ✓"), "\"ünïcødé ✓\"");
    }

    #[test]
    fn floats_stay_floats_and_non_finite_ones_become_strings() {
        let text = |value| {
            let mut out = String::new();
            float(&mut out, value).unwrap();
            out
        };
        assert_eq!(text(2.0), "2.0");
        assert_eq!(text(0.1), "0.1");
        assert_eq!(text(1e300), "1e300");
        assert_eq!(text(f64::NAN), "\"NaN\"");
        assert_eq!(text(f64::INFINITY), "\"inf\"");
    }

    #[test]
    fn timestamps_are_rfc_3339_utc() {
        let text = |seconds: u64, millis: u64| {
            let mut out = String::new();
            let time = UNIX_EPOCH
                + std::time::Duration::from_secs(seconds)
                + std::time::Duration::from_millis(millis);
            timestamp(&mut out, time).unwrap();
            out
        };
        assert_eq!(text(0, 0), "\"1970-01-01T00:00:00.000Z\"");
        assert_eq!(text(951_782_400, 5), "\"2000-02-29T00:00:00.005Z\"");
        assert_eq!(text(1_709_251_199, 999), "\"2024-02-29T23:59:59.999Z\"");
        assert_eq!(text(4_102_444_800, 0), "\"2100-01-01T00:00:00.000Z\"");
        let mut before = String::new();
        timestamp(&mut before, UNIX_EPOCH - std::time::Duration::from_secs(1)).unwrap();
        assert_eq!(before, "\"1970-01-01T00:00:00.000Z\"");
    }

    #[test]
    fn members_join_with_commas() {
        let mut members = Members::default();
        assert_eq!(members.as_str(), "");
        members.str("a", "x");
        members.raw("b", "1");
        members.float("c", 0.5);
        assert_eq!(members.as_str(), "\"a\":\"x\",\"b\":1,\"c\":0.5");
    }
}
