//! The expansion names every path absolutely, so it works without the prelude.
#![deny(warnings)]
#![no_implicit_prelude]

extern crate alamos;
extern crate std;

#[derive(Debug)]
struct Failure;

impl ::std::fmt::Display for Failure {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str("failure")
    }
}

#[alamos::experiment("hygiene.no_prelude", fields(x), err, ret)]
fn checked(x: u32) -> ::std::result::Result<u32, Failure> {
    alamos::info!(x, "checking");
    if x == 0 {
        return ::std::result::Result::Err(Failure);
    }
    let y: u32 = ::std::result::Result::map_err("2".parse(), |_| Failure)?;
    ::std::result::Result::Ok(x + y)
}

#[alamos::experiment("hygiene.no_prelude")]
fn maybe(x: ::std::option::Option<u32>) -> ::std::option::Option<u32> {
    let x = x?;
    ::std::option::Option::Some(x)
}

#[alamos::experiment("hygiene.no_prelude")]
async fn later(x: u32) -> u32 {
    x + 1
}

struct Writer;

#[alamos::experiment("hygiene.no_prelude")]
impl Writer {
    fn write(&self) -> u32 {
        1
    }
}

fn main() {
    let _ = checked(1);
    let _ = maybe(::std::option::Option::None);
    let _future = later(1);
    let _ = Writer.write();
}
