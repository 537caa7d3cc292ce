//! Names the expansion might rely on are shadowed by the user's own.
#![deny(warnings)]
#![allow(dead_code, non_camel_case_types)]

struct Option;
struct Some;
struct None;
struct Ok;
struct Err;
struct Box;
struct Vec;
struct String;
struct Span;
struct Level;
struct FnCall;
trait Future {}
trait Fn {}
trait FnOnce {}
trait Drop {}
trait Into {}
trait From {}
mod core {}
mod tracing {}
mod metrics {}
mod linkme {}

type Result = u8;

#[derive(Debug)]
struct Failure;

impl ::std::fmt::Display for Failure {
    fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
        f.write_str("failure")
    }
}

#[alamos::experiment("hygiene.shadowed", fields(x), err, ret)]
fn checked(x: u32) -> ::std::result::Result<u32, Failure> {
    alamos::info!(x, "checking");
    if x == 0 {
        return ::std::result::Result::Err(Failure);
    }
    let y: u32 = "2".parse().map_err(|_| Failure)?;
    ::std::result::Result::Ok(x + y)
}

#[alamos::experiment("hygiene.shadowed")]
fn maybe(x: ::std::option::Option<u32>) -> ::std::option::Option<u32> {
    let x = x?;
    ::std::option::Option::Some(x)
}

#[alamos::experiment("hygiene.shadowed", ret)]
async fn later(x: u32) -> u32 {
    x + 1
}

fn main() {
    assert!(matches!(checked(1), ::std::result::Result::Ok(3)));
    assert!(maybe(::std::option::Option::None).is_none());
    let _future = later(1);
}
