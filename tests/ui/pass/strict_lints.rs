//! The expansion adds no warning to a crate that denies them, including
//! allow-by-default lints that careful crates turn on.
#![deny(warnings)]
#![deny(
    unused_qualifications,
    unused_results,
    unreachable_pub,
    missing_debug_implementations,
    trivial_casts,
    trivial_numeric_casts,
    unused_import_braces,
    unused_lifetimes,
    single_use_lifetimes,
    let_underscore_drop,
    meta_variable_misuse,
    non_ascii_idents,
    redundant_lifetimes,
    unit_bindings,
    unused_macro_rules
)]

#[derive(Debug)]
struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure")
    }
}

#[alamos::experiment("lints.free", fields(x, twice = x * 2), err, ret)]
fn checked(x: u32) -> Result<u32, Failure> {
    alamos::debug!(x, "checking");
    if x == 0 {
        return Err(Failure);
    }
    let y: u32 = "2".parse().map_err(|_| Failure)?;
    Ok(x + y)
}

#[alamos::experiment("lints.free", ret)]
async fn later(x: u32) -> u32 {
    x + 1
}

#[alamos::experiment("lints.free")]
fn nothing() {}

#[alamos::experiment("lints.free")]
fn borrowed<'a>(x: &'a str) -> &'a str {
    x
}

#[derive(Debug)]
struct Writer;

#[alamos::experiment("lints.methods")]
impl Writer {
    fn write(&mut self) -> &mut Self {
        self
    }

    async fn flush(&self) -> Result<(), Failure> {
        Ok(())
    }
}

fn main() {
    assert!(checked(1).is_ok());
    let _future = later(1);
    nothing();
    assert_eq!(borrowed("a"), "a");
    let mut writer = Writer;
    let _ = writer.write();
    let _flush = writer.flush();
}
