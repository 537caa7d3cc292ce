//! Experiment keys: `validate_key`, and the key checks of `threshold` and
//! `parse_directives`.
//!
//! Invariants checked on every input (lossily decoded as UTF-8):
//! - `validate_key` accepts exactly `[a-z0-9_]+(\.[a-z0-9_]+)*`;
//! - a rejection hands back the key and the byte offset of the first problem,
//!   on a character boundary, and displays a message;
//! - `threshold(key)` rejects a malformed key as such, and for a well-formed
//!   key that names no node suggests at most three known keys, those that
//!   extend the key first;
//! - `set_level(key, _)` fails exactly as `threshold(key)` does, and when it
//!   succeeds the key's threshold is the one set;
//! - as a directive, `<key>=debug` is kept exactly when the trimmed key is
//!   valid.
#![no_main]

use std::collections::BTreeSet;

use alamos::{Level, LevelFilter, SetLevelError};
use alamos_fuzz as reference;
use libfuzzer_sys::fuzz_target;

#[alamos::experiment("distribution.frame_writer")]
fn frame_writer() {}

#[alamos::experiment("distribution.relay")]
fn relay() {}

#[alamos::experiment("storage.cesium")]
fn cesium() {}

fn nodes() -> BTreeSet<&'static str> {
    let mut nodes = BTreeSet::from([""]);
    for experiment in alamos::experiments() {
        let key = experiment.key();
        nodes.insert(key);
        for (at, _) in key.match_indices('.') {
            nodes.insert(&key[..at]);
        }
    }
    nodes
}

fuzz_target!(|data: &[u8]| {
    let key = String::from_utf8_lossy(data);
    let key = key.as_ref();

    let valid = reference::key_is_valid(key);
    match alamos::validate_key(key) {
        Ok(()) => assert!(valid, "accepted {key:?}"),
        Err(error) => {
            assert!(!valid, "rejected {key:?}: {error}");
            assert_eq!(error.key(), key);
            assert!(key.is_char_boundary(error.offset()));
            assert_eq!(
                Some(error.offset()),
                reference::key_error_offset(key),
                "{key:?}"
            );
            assert!(!error.to_string().is_empty());
        }
    }

    let nodes = nodes();
    match alamos::threshold(key) {
        Ok(_) => assert!(nodes.contains(key), "{key:?} is not a node"),
        Err(SetLevelError::InvalidKey(error)) => {
            assert!(!valid && !key.is_empty(), "{key:?}: {error}");
        }
        Err(SetLevelError::UnknownExperiment(unknown)) => {
            assert!(valid && !nodes.contains(key), "{key:?}");
            assert_eq!(unknown.key(), key);
            let nearest = unknown.nearest();
            assert!(!nearest.is_empty() && nearest.len() <= 3, "{nearest:?}");
            assert!(nearest.iter().all(|n| !n.is_empty() && nodes.contains(n)));
            let extends: Vec<bool> = nearest.iter().map(|n| n.starts_with(key)).collect();
            assert!(extends.windows(2).all(|w| w[0] >= w[1]), "{nearest:?}");
            let _ = unknown.to_string();
        }
        Err(other) => panic!("unexpected error {other:?}"),
    }

    // `set_level` checks the key as `threshold` does, and sets it when known.
    let filter = [
        LevelFilter::Off,
        LevelFilter::from(Level::Bench),
        LevelFilter::from(Level::Debug),
        LevelFilter::from(Level::Prod),
        LevelFilter::from(Level::Warn),
        LevelFilter::from(Level::Error),
    ][data.len() % 6];
    let before = alamos::threshold(key).err();
    let set = alamos::set_level(key, filter).err();
    assert_eq!(set, before, "{key:?}");
    if set.is_none() {
        assert_eq!(alamos::threshold(key), Ok(filter));
    }

    if !key.contains([',', '=']) {
        let parsed = alamos::__private::parse_directives(&format!("{key}=debug"));
        let trimmed = key.trim();
        if reference::key_is_valid(trimmed) {
            assert_eq!(parsed.errors, []);
            assert_eq!(parsed.directives.len(), 1);
            assert_eq!(parsed.directives[0].key, trimmed);
            assert_eq!(parsed.directives[0].filter, LevelFilter::from(Level::Debug));
        } else {
            assert_eq!(parsed.directives, []);
            assert_eq!(parsed.errors.len(), 1, "{key:?}");
        }
    }

    if data.first() == Some(&0) {
        frame_writer();
        relay();
        cesium();
    }
});
