//! The expansion's statics are invisible to the body: a local named like one
//! of them is the user's own.
#![deny(warnings)]
// The user's locals are named like the expansion's statics on purpose.
#![allow(non_snake_case)]

#[alamos::experiment("hygiene.items")]
fn compute(x: u32) -> u32 {
    let __ALAMOS_CALLSITE = x;
    let __ALAMOS_CALLSITE_REF = 2;
    alamos::info!("computing");
    __ALAMOS_CALLSITE * __ALAMOS_CALLSITE_REF
}

fn main() {
    assert_eq!(compute(21), 42);
}
