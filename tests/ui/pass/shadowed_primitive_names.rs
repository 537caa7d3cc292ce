//! Primitive type names can be shadowed too; the expansion must spell them
//! as `::core::primitive::...`.
#![deny(warnings)]
#![allow(dead_code, non_camel_case_types)]

struct bool;
struct str;
struct u64;

#[alamos::experiment("hygiene.primitives", ret)]
fn checked(x: ::core::primitive::u32) -> ::core::primitive::u32 {
    alamos::info!("checking");
    x + 1
}

#[alamos::experiment("hygiene.primitives", ret)]
async fn later(x: ::core::primitive::u32) -> ::core::primitive::u32 {
    alamos::info!("later");
    x + 1
}

fn main() {
    assert_eq!(checked(1), 2);
    let _future = later(1);
}
