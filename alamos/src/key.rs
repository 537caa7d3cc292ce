//! Experiment keys.
//!
//! A key names a node of the experiment tree like a file path names a file:
//! dot-separated segments of `[a-z0-9_]+`, the parent first
//! (`distribution.frame_writer`). The root experiment's key is the empty string.
//! A key covers another when it is the same key or one of its ancestors, whole
//! segments only: `dist` does not cover `distribution`.

use std::fmt;

/// The key of the root experiment, the parent of every other.
pub const ROOT: &str = "";

/// Checks that `key` is a well-formed experiment key.
///
/// The root key (empty) is not accepted here: it cannot be named by a macro.
///
/// # Errors
///
/// Returns the first problem found, with the byte offset where it starts.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::new(key, 0, KeyErrorKind::Empty));
    }
    let mut start = 0;
    for segment in key.split('.') {
        if segment.is_empty() {
            return Err(KeyError::new(key, start, KeyErrorKind::EmptySegment));
        }
        if let Some((offset, c)) = segment
            .char_indices()
            .find(|&(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '_'))
        {
            return Err(KeyError::new(key, start + offset, KeyErrorKind::Char(c)));
        }
        start += segment.len() + 1;
    }
    Ok(())
}

/// Whether `ancestor` is `key` itself or one of its ancestors, by whole segments.
pub(crate) fn covers(ancestor: &str, key: &str) -> bool {
    ancestor.is_empty()
        || key == ancestor
        || (key.len() > ancestor.len()
            && key.starts_with(ancestor)
            && key.as_bytes()[ancestor.len()] == b'.')
}

/// `key` and each of its ancestors, the root last.
pub(crate) fn lineage(key: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(key);
    std::iter::from_fn(move || {
        let current = next?;
        next = if current.is_empty() {
            None
        } else {
            Some(current.rfind('.').map_or(ROOT, |dot| &current[..dot]))
        };
        Some(current)
    })
}

/// Why a string is not an experiment key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError {
    key: String,
    offset: usize,
    kind: KeyErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyErrorKind {
    Empty,
    EmptySegment,
    Char(char),
}

impl KeyError {
    fn new(key: &str, offset: usize, kind: KeyErrorKind) -> Self {
        KeyError {
            key: key.to_owned(),
            offset,
            kind,
        }
    }

    /// The rejected key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The byte offset in the key where the problem starts.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            KeyErrorKind::Empty => f.write_str("experiment key is empty"),
            KeyErrorKind::EmptySegment => write!(
                f,
                "experiment key {:?} has an empty segment at byte {}; segments are separated by single dots",
                self.key, self.offset
            ),
            KeyErrorKind::Char(c) => write!(
                f,
                "experiment key {:?} has {c:?} at byte {}; segments use only a-z, 0-9 and _",
                self.key, self.offset
            ),
        }
    }
}

impl std::error::Error for KeyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dotted_lowercase_segments() {
        for key in ["storage", "distribution.frame_writer", "a.b_2.c3", "_x"] {
            assert_eq!(validate_key(key), Ok(()), "{key}");
        }
    }

    #[test]
    fn rejects_malformed_keys_with_position() {
        let cases = [
            ("", 0),
            (".a", 0),
            ("a.", 2),
            ("a..b", 2),
            ("Storage", 0),
            ("storage.cache size", 13),
            ("storage-x", 7),
            ("dé", 1),
        ];
        for (key, offset) in cases {
            let err = validate_key(key).unwrap_err();
            assert_eq!(err.offset(), offset, "{key}: {err}");
            assert_eq!(err.key(), key);
        }
    }

    #[test]
    fn covers_whole_segments_only() {
        assert!(covers("", "storage"));
        assert!(covers("distribution", "distribution"));
        assert!(covers("distribution", "distribution.frame_writer"));
        assert!(!covers("dist", "distribution"));
        assert!(!covers("distribution.frame_writer", "distribution"));
    }

    #[test]
    fn lineage_walks_to_the_root() {
        let all: Vec<_> = lineage("a.b.c").collect();
        assert_eq!(all, ["a.b.c", "a.b", "a", ""]);
        assert_eq!(lineage("").collect::<Vec<_>>(), [""]);
    }
}
