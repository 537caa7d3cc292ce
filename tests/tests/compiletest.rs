//! Compile-time behaviour, pinned by trybuild.
//!
//! `ui/fail`: one mistake per file; each error points at the offending token
//! and the item is kept, so no secondary error follows. Regenerate the
//! `.stderr` snapshots with `TRYBUILD=overwrite` and review the diff.
//!
//! `ui/pass`: hygiene and lints; each program also runs.

#[test]
fn ui_fail() {
    trybuild::TestCases::new().compile_fail("ui/fail/*.rs");
}

#[test]
fn ui_pass() {
    trybuild::TestCases::new().pass("ui/pass/*.rs");
}
