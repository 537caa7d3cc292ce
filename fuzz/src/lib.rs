//! Reference implementations that the fuzz targets check alamos against.
//!
//! Each one is written from the grammar in DESIGN.md or the W3C and HTTP
//! specifications, as plainly as possible and without alamos's helpers, so
//! that a target can assert that alamos accepts exactly what the grammar
//! accepts, not merely that it does not panic.

use alamos::{Level, LevelFilter};

/// Whether `key` is an experiment key: `[a-z0-9_]+(\.[a-z0-9_]+)*`.
pub fn key_is_valid(key: &str) -> bool {
    !key.is_empty()
        && key.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// The byte offset of the first problem in a key that is not valid: where the
/// empty key or an empty segment starts, or the first character outside
/// `[a-z0-9_.]`, whichever comes first in reading order.
pub fn key_error_offset(key: &str) -> Option<usize> {
    if key.is_empty() {
        return Some(0);
    }
    let mut start = 0;
    for segment in key.split('.') {
        if segment.is_empty() {
            return Some(start);
        }
        for (offset, c) in segment.char_indices() {
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                return Some(start + offset);
            }
        }
        start += segment.len() + 1;
    }
    None
}

/// A level name, ignoring ASCII case: the five levels, their two aliases and
/// `off`.
pub fn level_filter(name: &str) -> Option<LevelFilter> {
    const NAMES: [(&str, Option<Level>); 8] = [
        ("bench", Some(Level::Bench)),
        ("trace", Some(Level::Bench)),
        ("debug", Some(Level::Debug)),
        ("prod", Some(Level::Prod)),
        ("info", Some(Level::Prod)),
        ("warn", Some(Level::Warn)),
        ("error", Some(Level::Error)),
        ("off", None),
    ];
    NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, level)| LevelFilter::from(*level))
}

/// The well-formed directives of an `ALAMOS_LEVEL` string, in order, a later
/// directive for a key replacing an earlier one; the root's key is empty.
/// Also returns the 1-based positions of the malformed ones.
pub fn parse_directives(spec: &str) -> (Vec<(String, LevelFilter)>, Vec<usize>) {
    let mut directives: Vec<(String, LevelFilter)> = Vec::new();
    let mut malformed = Vec::new();
    for (index, item) in spec.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let parsed = match item.split_once('=') {
            Some((key, level)) => {
                let key = key.trim();
                level_filter(level.trim())
                    .filter(|_| key_is_valid(key))
                    .map(|filter| (key.to_owned(), filter))
            }
            None => level_filter(item).map(|filter| (String::new(), filter)),
        };
        match parsed {
            Some(directive) => {
                directives.retain(|(key, _)| *key != directive.0);
                directives.push(directive);
            }
            None => malformed.push(index + 1),
        }
    }
    (directives, malformed)
}

/// Whether the directive for `ancestor` covers `key`: the root covers
/// everything; otherwise `key` is `ancestor` or starts with `ancestor.`.
pub fn covers(ancestor: &str, key: &str) -> bool {
    ancestor.is_empty()
        || key == ancestor
        || key
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The threshold of `key`: the directive with the longest covering key, else
/// `prod`.
pub fn threshold(directives: &[(String, LevelFilter)], key: &str) -> LevelFilter {
    let mut best: Option<&(String, LevelFilter)> = None;
    for directive in directives {
        if covers(&directive.0, key) && best.is_none_or(|b| directive.0.len() > b.0.len()) {
            best = Some(directive);
        }
    }
    best.map_or(LevelFilter::Level(Level::Prod), |d| d.1)
}

/// Renders directives back into a string: a bare level for the root,
/// `key=level` for the rest.
pub fn render_directives<'a>(
    directives: impl IntoIterator<Item = (&'a str, LevelFilter)>,
) -> String {
    directives
        .into_iter()
        .map(|(key, filter)| {
            if key.is_empty() {
                filter.to_string()
            } else {
                format!("{key}={filter}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// A `traceparent` the W3C grammar accepts, as its lowercase hex fields
/// `(trace-id, parent-id, flags)`. Version `00` is exactly
/// `00-<32 hex>-<16 hex>-<2 hex>`; a later version (not `ff`) may append
/// `-<anything>`. Spaces and tabs around the value are ignored; ids are not
/// all zero.
pub fn traceparent(header: &str) -> Option<(String, String, String)> {
    let value = header.trim_matches(|c| c == ' ' || c == '\t').as_bytes();
    if value.len() < 55 {
        return None;
    }
    let (head, tail) = value.split_at(55);
    let version = &head[..2];
    if !is_lower_hex(version) || version == b"ff" {
        return None;
    }
    if !(tail.is_empty() || (version != b"00" && tail[0] == b'-')) {
        return None;
    }
    let (trace, parent, flags) = (&head[3..35], &head[36..52], &head[53..55]);
    let dashes = head[2] == b'-' && head[35] == b'-' && head[52] == b'-';
    let hex = is_lower_hex(trace) && is_lower_hex(parent) && is_lower_hex(flags);
    let nonzero = trace.iter().any(|&b| b != b'0') && parent.iter().any(|&b| b != b'0');
    (dashes && hex && nonzero).then(|| {
        let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
        (text(trace), text(parent), text(flags))
    })
}

/// A `tracestate` key: `lcalpha 0*255(lcalpha / DIGIT / "_" / "-"/ "*" / "/")`
/// or `(lcalpha / DIGIT) 0*240(...) "@" lcalpha 0*13(...)`.
pub fn tracestate_key_is_valid(key: &str) -> bool {
    fn tail(bytes: &[u8]) -> bool {
        bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
        })
    }
    let bytes = key.as_bytes();
    if let Some(at) = bytes.iter().position(|&b| b == b'@') {
        let (tenant, system) = (&bytes[..at], &bytes[at + 1..]);
        (1..=241).contains(&tenant.len())
            && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
            && tail(&tenant[1..])
            && (1..=14).contains(&system.len())
            && system[0].is_ascii_lowercase()
            && tail(&system[1..])
    } else {
        (1..=256).contains(&bytes.len()) && bytes[0].is_ascii_lowercase() && tail(&bytes[1..])
    }
}

/// A `tracestate` value: 1 to 256 printable ASCII characters but `,` and
/// `=`, the last not a space.
pub fn tracestate_value_is_valid(value: &str) -> bool {
    let bytes = value.as_bytes();
    (1..=256).contains(&bytes.len())
        && bytes
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) && b != b',' && b != b'=')
        && bytes.last() != Some(&b' ')
}

/// An HTTP token (RFC 9110 `tchar`), as baggage keys are.
pub fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether the `/metrics` endpoint should accept a request head: at most
/// 8 KiB of UTF-8; a request line of exactly three space-separated parts, an
/// uppercase method, an origin-form target and version `HTTP/1.1` or
/// `HTTP/1.0`; up to the first empty line, header lines `name:value` with a
/// name that is not empty and holds no whitespace. Lines end in LF or CRLF.
pub fn http_head_is_valid(head: &[u8]) -> bool {
    if head.len() > 8 * 1024 {
        return false;
    }
    let Ok(text) = std::str::from_utf8(head) else {
        return false;
    };
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return false;
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return false;
    }
    if !target.starts_with('/') || !(version == "HTTP/1.1" || version == "HTTP/1.0") {
        return false;
    }
    for line in lines {
        if line.is_empty() {
            break;
        }
        match line.split_once(':') {
            Some((name, _))
                if !name.is_empty() && !name.contains(|c: char| c.is_ascii_whitespace()) => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_agree_with_hand_written_cases() {
        assert!(key_is_valid("distribution.frame_writer"));
        assert!(!key_is_valid("a..b"));
        assert_eq!(key_error_offset("a..b"), Some(2));
        assert_eq!(key_error_offset("ab.Cd"), Some(3));
        assert_eq!(level_filter("INFO"), Some(LevelFilter::Level(Level::Prod)));
        let (directives, malformed) = parse_directives("prod,a=debug,b=x,a=off");
        assert_eq!(
            directives,
            [
                (String::new(), LevelFilter::Level(Level::Prod)),
                ("a".to_owned(), LevelFilter::Off)
            ]
        );
        assert_eq!(malformed, [3]);
        assert!(traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").is_some());
        assert!(traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-x").is_some());
        assert!(traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-x").is_none());
        assert!(tracestate_key_is_valid("fw529a3039@dt"));
        assert!(http_head_is_valid(
            b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
        ));
        assert!(!http_head_is_valid(b"GET /metrics HTTP/2.0\r\n\r\n"));
    }
}
