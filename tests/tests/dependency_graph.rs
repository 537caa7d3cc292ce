//! What depending on alamos does to a user's crate, proven on a real build
//! of `tests/default_features` (alamos with its default features, nothing
//! else): ordinary code keeps compiling and running, and `serde_json` is not
//! in the graph (its `PartialEq` impls make `assert_eq!(6, v.sum())`
//! ambiguous).

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
