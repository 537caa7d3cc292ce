//! JSON text, written by hand for the handful of shapes alamos emits (log
//! lines; the admin endpoint's answers).
//!
//! `serde_json` would do it, but a dependency is part of every user's crate
//! graph, and `serde_json`'s `impl PartialEq<Value> for i32` (and its kin)
//! makes ordinary code ambiguous there: `assert_eq!(6, v.into_iter().sum())`
//! stops compiling (`tests/default_features` pins this). So alamos writes
//! its JSON itself, escaping strings as RFC 8259 requires.

use std::fmt;

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
    fn members_join_with_commas() {
        let mut members = Members::default();
        assert_eq!(members.as_str(), "");
        members.str("a", "x");
        members.raw("b", "1");
        members.float("c", 0.5);
        assert_eq!(members.as_str(), "\"a\":\"x\",\"b\":1,\"c\":0.5");
    }
}
