//! A tail that is a macro call, trusted or not, with parentheses or braces,
//! in every form.
#![deny(warnings)]

macro_rules! checked {
    ($x:expr) => {
        if $x == 0 {
            Err(::std::format!("{} is zero", $x))
        } else {
            Ok($x)
        }
    };
}

macro_rules! statements {
    ($x:expr) => {
        let y = $x * 2;
        Ok(y)
    };
}

#[alamos::experiment("ui.macro_tails")]
fn untrusted(x: u32) -> Result<u32, String> {
    checked!(x)
}

#[alamos::experiment("ui.macro_tails")]
#[track_caller]
fn located_untrusted(x: u32) -> Result<u32, String> {
    checked!(x)
}

#[alamos::experiment("ui.macro_tails")]
fn braces(x: u32) -> Result<u32, String> {
    statements! { x }
}

#[alamos::experiment("ui.macro_tails")]
#[track_caller]
fn located_braces(x: u32) -> Result<u32, String> {
    statements! { x }
}

#[alamos::experiment("ui.macro_tails")]
fn trusted(x: u32) -> String {
    ::std::format!("{x}")
}

#[alamos::experiment("ui.macro_tails")]
fn bare_vec(x: u32) -> Vec<u32> {
    vec![x; 2]
}

#[alamos::experiment("ui.macro_tails")]
fn unit_macro_tail(x: u32) {
    ::std::debug_assert!(x < 100)
}

pub struct Parser;

#[alamos::experiment("ui.macro_tails")]
impl Parser {
    fn parse(&self, x: u32) -> Result<u32, String> {
        checked!(x)
    }

    fn describe(&self, x: u32) -> String {
        format!("{x}")
    }
}

#[alamos::experiment("ui.macro_tails")]
async fn async_untrusted(x: u32) -> Result<u32, String> {
    checked!(x)
}

fn main() {
    assert!(untrusted(0).is_err());
    assert_eq!(located_untrusted(2), Ok(2));
    assert_eq!(braces(2), Ok(4));
    assert_eq!(located_braces(3), Ok(6));
    assert_eq!(trusted(4), "4");
    assert_eq!(bare_vec(1), [1, 1]);
    unit_macro_tail(1);
    assert_eq!(Parser.parse(5), Ok(5));
    assert_eq!(Parser.describe(6), "6");
    drop(async_untrusted(1));
}
