//! The body of `PUT /alamos/levels`, applied as the admin endpoint applies
//! it (`alamos::__private::fuzz_admin_put_levels`).
//!
//! Invariants checked on every input (raw bytes):
//! - it never panics, and answers 200 or 400 with a JSON body;
//! - it answers 200 exactly when the body is UTF-8, sets something, every
//!   directive is well-formed (the reference parser) and every key names a
//!   node of the tree: all or nothing;
//! - after a 200 the directives in force are the body's, rendered
//!   canonically (root first, then by key; `prod` for none), the answer's
//!   `old` is what was in force before and `new` what is now, and every
//!   node has the threshold of its longest covering directive;
//! - after a 400 nothing changed; the answer lists each malformed or
//!   unknown directive at its 1-based position (for a UTF-8 body), an
//!   unknown key with at most three known nearest keys, and the directives
//!   still in force.
#![no_main]

use std::collections::BTreeSet;

use alamos::__private::{fuzz_admin_directives as directives, fuzz_admin_put_levels as put};
use alamos::LevelFilter;
use alamos_fuzz as reference;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[alamos::experiment("distribution.frame_writer")]
fn frame_writer() {}

#[alamos::experiment("distribution.relay", level = debug)]
fn relay() {}

#[alamos::experiment("storage.cesium.index", level = bench)]
fn cesium_index() {}

#[alamos::experiment("api")]
fn api() {}

fn nodes() -> BTreeSet<String> {
    let mut nodes = BTreeSet::from([String::new()]);
    for experiment in alamos::experiments() {
        let key = experiment.key();
        nodes.insert(key.to_owned());
        for (at, _) in key.match_indices('.') {
            nodes.insert(key[..at].to_owned());
        }
    }
    nodes
}

/// Root first, then by key; `prod` when there is nothing.
fn canonical(directives: &[(String, LevelFilter)]) -> String {
    let mut sorted: Vec<(&str, LevelFilter)> =
        directives.iter().map(|(k, f)| (k.as_str(), *f)).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    if sorted.is_empty() {
        "prod".to_owned()
    } else {
        reference::render_directives(sorted)
    }
}

fuzz_target!(|data: &[u8]| {
    let nodes = nodes();
    assert!(
        nodes.contains("distribution.relay"),
        "experiments not registered"
    );
    let before = directives();
    let (status, body) = put(data);
    let answer: Value =
        serde_json::from_str(&body).unwrap_or_else(|err| panic!("not JSON ({err}): {body}"));

    let text = std::str::from_utf8(data).ok();
    let parsed = text.map(reference::parse_directives);
    let blank = text.is_some_and(|t| t.split(',').all(|item| item.trim().is_empty()));
    let unknown: Vec<usize> = text
        .map(|t| {
            t.split(',')
                .enumerate()
                .filter(|(index, item)| {
                    let malformed = parsed
                        .as_ref()
                        .is_some_and(|(_, m)| m.contains(&(index + 1)));
                    !malformed
                        && item
                            .split_once('=')
                            .is_some_and(|(key, _)| !nodes.contains(key.trim()))
                })
                .map(|(index, _)| index + 1)
                .collect()
        })
        .unwrap_or_default();
    let acceptable = matches!(&parsed, Some((_, malformed)) if malformed.is_empty())
        && !blank
        && unknown.is_empty();

    if acceptable {
        assert_eq!(status, 200, "{:?}: {body}", String::from_utf8_lossy(data));
        let (expected, _) = parsed.expect("UTF-8");
        let now = directives();
        assert_eq!(now, canonical(&expected), "{text:?}");
        assert_eq!(answer["old"], before.as_str());
        assert_eq!(answer["new"], now.as_str());
        for node in &nodes {
            assert_eq!(
                alamos::threshold(node).unwrap(),
                reference::threshold(&expected, node),
                "{node:?} under {text:?}"
            );
        }
        // The canonical rendering is itself an acceptable body.
        assert_eq!(put(now.as_bytes()).0, 200);
        assert_eq!(directives(), now);
    } else {
        assert_eq!(status, 400, "{:?}: {body}", String::from_utf8_lossy(data));
        assert_eq!(
            directives(),
            before,
            "a refused body changed the directives"
        );
        assert_eq!(answer["directives"], before.as_str());
        let errors = answer["errors"].as_array().expect("errors");
        assert!(!errors.is_empty());
        for error in errors {
            assert!(error["reason"].as_str().is_some_and(|r| !r.is_empty()));
        }
        if let (Some((_, malformed)), false) = (&parsed, blank) {
            let mut expected: Vec<usize> = malformed.iter().chain(&unknown).copied().collect();
            expected.sort_unstable();
            let positions: Vec<usize> = errors
                .iter()
                .map(|e| usize::try_from(e["position"].as_u64().expect("a position")).unwrap())
                .collect();
            assert_eq!(positions, expected, "{text:?}");
            for error in errors {
                let nearest = error["nearest"].as_array().expect("nearest");
                assert!(nearest.len() <= 3);
                for key in nearest {
                    assert!(nodes.contains(key.as_str().expect("a key")), "{key}");
                }
            }
        }
    }

    // Keep the instrumented functions: call them (cheap, no subscriber).
    if data.first() == Some(&0) {
        frame_writer();
        relay();
        cesium_index();
        api();
    }
});
