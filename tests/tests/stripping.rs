//! Compile-time stripping, proven on real builds of `tests/max_level_off`.
//!
//! That crate is built by its own cargo invocation: inside the workspace,
//! cargo would unify `alamos/max_level_off` into every other build.

use std::path::{Path, PathBuf};
use std::process::Command;

const CANARY: &[u8] = b"zz_stripped_canary";

struct Build {
    binary: PathBuf,
    output: String,
}

fn build(profile: &str, feature: Option<&str>) -> Build {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("max_level_off/Cargo.toml");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("max_level_off")
        .join(feature.unwrap_or("none"));
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target);
    if profile == "release" {
        cargo.arg("--release");
    }
    if let Some(feature) = feature {
        cargo.args(["--features", feature]);
    }
    let status = cargo.status().expect("cargo runs");
    assert!(
        status.success(),
        "building {} ({profile}, {feature:?}) failed",
        manifest.display()
    );
    let binary = target.join(profile).join("alamos-max-level-off");
    let run = Command::new(&binary).output().expect("the program runs");
    assert!(
        run.status.success(),
        "{} failed: {}",
        binary.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    Build {
        binary,
        output: String::from_utf8_lossy(&run.stdout).trim().to_owned(),
    }
}

fn contains_canary(binary: &Path) -> bool {
    let bytes = std::fs::read(binary).expect("the binary is readable");
    bytes.windows(CANARY.len()).any(|window| window == CANARY)
}

#[test]
fn max_level_off_emits_nothing_and_leaves_no_key_in_the_binary() {
    let stripped = build("release", Some("max_level_off"));
    assert_eq!(stripped.output, "spans=0 events=0 series=0 experiments=0");
    assert!(
        !contains_canary(&stripped.binary),
        "the experiment key survived in {}",
        stripped.binary.display()
    );
}

#[test]
fn without_a_ceiling_the_same_program_is_instrumented() {
    // The control: the same source, built the same way, does emit and does
    // carry the key, so the test above can fail.
    let instrumented = build("release", None);
    assert_eq!(
        instrumented.output,
        "spans=6 events=19 series=38 experiments=5"
    );
    assert!(contains_canary(&instrumented.binary));
}

#[test]
fn release_max_level_off_strips_release_builds_only() {
    let release = build("release", Some("release_max_level_off"));
    assert_eq!(release.output, "spans=0 events=0 series=0 experiments=0");
    assert!(!contains_canary(&release.binary));

    let debug = build("debug", Some("release_max_level_off"));
    assert_eq!(debug.output, "spans=6 events=19 series=38 experiments=5");
}
