//! The user's own unreachable code is still reported in an instrumented
//! body, and only that: the expansion's classification after the body's
//! block adds no warning of its own.
#![deny(unreachable_code)]

#[alamos::experiment("ui.unreachable")]
fn early(x: u32) -> Result<u32, String> {
    return Ok(x);
    Err("never".to_owned())
}

fn main() {
    let _ = early(1);
}
