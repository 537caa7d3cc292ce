//! What depending on alamos does to a user's crate, proven on a real build
//! of `tests/default_features` (alamos with its default features, nothing
//! else): ordinary code keeps compiling and running, and `serde_json` is not
//! in the graph (its `PartialEq` impls make `assert_eq!(6, v.sum())`
//! ambiguous). And how many crates it brings: the graph of
//! `cargo tree -p alamos -e normal`, with and without default features,
//! stays under a bound (BENCHMARKS.md, "The dependency graph").

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn manifest() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("default_features/Cargo.toml")
}

#[test]
fn ordinary_inference_still_compiles_against_the_default_features() {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("default_features");
    let output = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--manifest-path"])
        .arg(manifest())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the crate failed to build or run:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "inference ok"
    );
}

#[test]
fn serde_json_is_not_in_the_default_graph() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--manifest-path",
        ])
        .arg(manifest())
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(tree.contains("alamos v"), "{tree}");
    assert!(
        !tree.contains("serde_json"),
        "serde_json is in the graph:\n{tree}"
    );
}

/// The most crates, alamos included, that `cargo tree -p alamos -e normal`
/// may list with default features: 31 at the time of writing (52 with
/// metrics-exporter-prometheus and quanta; 23 before the endpoint's mio,
/// the signal handlers and the `log` bridge, 30 before smallvec kept span
/// fields inline), with room for one more small crate.
const DEFAULT_GRAPH_BOUND: usize = 32;

/// The same with `--no-default-features`, what a library that only
/// annotates pulls: 15 at the time of writing.
const NO_DEFAULT_GRAPH_BOUND: usize = 18;

/// The distinct crates (`name vX.Y.Z`) of alamos's normal-edge graph, from
/// the workspace's lockfile, offline.
fn alamos_graph(extra: &[&str]) -> BTreeSet<String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", "alamos", "-e", "normal"])
        .args(["--prefix", "none", "--manifest-path"])
        .arg(workspace)
        .args(extra)
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .collect()
}

fn assert_bounded(graph: &BTreeSet<String>, bound: usize, what: &str) {
    assert!(
        graph.iter().any(|krate| krate.starts_with("alamos v")),
        "{graph:?}"
    );
    assert!(
        graph.len() <= bound,
        "{what}: {} crates, more than {bound}; a new dependency belongs behind a \
         feature (or raise the bound in BENCHMARKS.md and here, saying why):\n{}",
        graph.len(),
        graph.iter().cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_default_graph_stays_small() {
    let graph = alamos_graph(&[]);
    assert_bounded(&graph, DEFAULT_GRAPH_BOUND, "default features");
    // The formatting helpers alamos once borrowed, and what they brought.
    for gone in [
        "metrics-exporter-prometheus",
        "metrics-util",
        "evmap",
        "rand",
    ] {
        assert!(
            !graph
                .iter()
                .any(|krate| krate.starts_with(&format!("{gone} v"))),
            "{gone} is back in the default graph: {graph:?}"
        );
    }
}

#[test]
fn the_graph_without_default_features_stays_smaller() {
    let bare = alamos_graph(&["--no-default-features"]);
    assert_bounded(&bare, NO_DEFAULT_GRAPH_BOUND, "no default features");
    // An annotating library pulls no HTTP parser, subscriber or serde.
    for absent in ["httparse", "tracing-subscriber", "serde"] {
        assert!(
            !bare
                .iter()
                .any(|krate| krate.starts_with(&format!("{absent} v"))),
            "{absent} without default features: {bare:?}"
        );
    }
    assert!(bare.len() < alamos_graph(&[]).len());
}
