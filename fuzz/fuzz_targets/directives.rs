//! `ALAMOS_LEVEL` directives: `parse_directives` and `set_directives`.
//!
//! Invariants checked on every input (lossily decoded as UTF-8):
//! - `parse_directives` keeps exactly the directives the grammar accepts (a
//!   reference parser), later duplicates winning, and reports each of the
//!   others at its 1-based position with its trimmed text;
//! - every directive's key is empty (the root) or passes `validate_key`, and
//!   no key appears twice;
//! - the directives rendered back to a string parse to the same list with
//!   no errors;
//! - `set_directives` reports the malformed directives and the well-formed
//!   ones naming no experiment, sorted by position, and afterwards every node
//!   of the tree has the threshold of its longest covering directive; the
//!   tree view renders.
#![no_main]

use std::collections::BTreeSet;

use alamos::__private::Directive;
use alamos::LevelFilter;
use alamos_fuzz as reference;
use libfuzzer_sys::fuzz_target;

// Some experiments, so that the tree has nodes to match and suggest.
#[alamos::experiment("distribution.frame_writer")]
fn frame_writer() {}

#[alamos::experiment("distribution.relay")]
#[alamos::level(debug)]
fn relay() {}

#[alamos::experiment("storage.cesium.index")]
#[alamos::level(bench)]
fn cesium_index() {}

#[alamos::experiment("api")]
fn api() {}

/// Every node of the tree: the named keys, their ancestors and the root.
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

fn pairs(directives: &[Directive]) -> Vec<(String, LevelFilter)> {
    directives
        .iter()
        .map(|d| (d.key.clone(), d.filter))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let spec = String::from_utf8_lossy(data);
    let items: Vec<&str> = spec.split(',').collect();

    let parsed = alamos::__private::parse_directives(&spec);
    let (expected, malformed) = reference::parse_directives(&spec);
    assert_eq!(pairs(&parsed.directives), expected, "{spec:?}");

    let mut keys = BTreeSet::new();
    for directive in &parsed.directives {
        assert!(
            directive.key.is_empty() || alamos::validate_key(&directive.key).is_ok(),
            "invalid key {:?} from {spec:?}",
            directive.key
        );
        assert!(keys.insert(directive.key.as_str()), "duplicate key");
    }

    let positions: Vec<usize> = parsed.errors.iter().map(|e| e.position).collect();
    assert_eq!(positions, malformed, "{spec:?}");
    for error in &parsed.errors {
        assert_eq!(error.text, items[error.position - 1].trim());
        assert!(!error.reason.is_empty());
        let _ = error.to_string();
    }

    let rendered =
        reference::render_directives(parsed.directives.iter().map(|d| (d.key.as_str(), d.filter)));
    let again = alamos::__private::parse_directives(&rendered);
    assert_eq!(again.errors, [], "{rendered:?}");
    assert_eq!(again.directives, parsed.directives, "{rendered:?}");

    // Applied to the process-wide tree.
    let nodes = nodes();
    assert!(
        nodes.contains("distribution.frame_writer"),
        "experiments not registered"
    );
    let result = alamos::set_directives(&spec);
    let mut unknown: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(index, item)| {
            item.split_once('=').is_some_and(|(key, _)| {
                !malformed.contains(&(index + 1)) && !nodes.contains(key.trim())
            })
        })
        .map(|(index, _)| index + 1)
        .collect();
    let mut expected_errors = malformed.clone();
    expected_errors.append(&mut unknown);
    expected_errors.sort_unstable();
    let errors = match &result {
        Ok(()) => Vec::new(),
        Err(errors) => {
            assert!(!errors.is_empty());
            errors.clone()
        }
    };
    let error_positions: Vec<usize> = errors.iter().map(|e| e.position).collect();
    assert_eq!(error_positions, expected_errors, "{spec:?}");
    for error in &errors {
        assert_eq!(error.text, items[error.position - 1].trim());
        if !malformed.contains(&error.position) {
            assert!(
                error.reason.starts_with("no experiment is named"),
                "{}",
                error.reason
            );
        }
    }
    for node in &nodes {
        assert_eq!(
            alamos::threshold(node).unwrap(),
            reference::threshold(&expected, node),
            "{node:?} under {spec:?}"
        );
    }
    for experiment in alamos::experiments() {
        assert_eq!(
            experiment.threshold(),
            reference::threshold(&expected, experiment.key())
        );
        assert_eq!(
            experiment.is_enabled(),
            experiment.threshold().enables(experiment.level())
        );
    }

    // The tree view renders whatever the thresholds are.
    let view = alamos::tree().to_string();
    assert!(view.contains("frame_writer"), "{view}");

    // Keep the instrumented functions: call them (cheap, no subscriber).
    if data.first() == Some(&0) {
        frame_writer();
        relay();
        cesium_index();
        api();
    }
});
