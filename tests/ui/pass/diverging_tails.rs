//! Tails that never complete, in every form: a `loop` left only by
//! `return` (http's `HeaderMap::extend`, itertools' `Iterator::next`), a
//! `match` on an uninhabited type (`From<Infallible>`), `panic!`,
//! `unreachable!` and `process::exit`. The expansion classifies the value of
//! the body's block, not the tail, and adds no `unreachable_code` warning.
#![deny(warnings)]

use std::convert::Infallible;

#[derive(Debug)]
pub struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error")
    }
}

#[alamos::experiment("ui.diverging")]
impl From<Infallible> for Error {
    fn from(err: Infallible) -> Error {
        match err {}
    }
}

pub struct Pairs {
    items: Vec<u32>,
    kept: Vec<u32>,
}

#[alamos::experiment("ui.diverging")]
impl Pairs {
    fn extend(&mut self) {
        'outer: loop {
            loop {
                match self.items.pop() {
                    Some(item) if item % 2 == 0 => {
                        self.kept.push(item);
                        continue 'outer;
                    }
                    Some(_) => continue,
                    None => return,
                }
            }
        }
    }

    fn absurd(&self, never: Infallible) -> Result<u32, Error> {
        match never {}
    }

    fn refuse(&self) -> Result<u32, Error> {
        panic!("refused")
    }
}

#[alamos::experiment("ui.diverging")]
impl Iterator for Pairs {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            let item = self.items.pop()?;
            if item % 2 == 1 {
                return Some(item);
            }
        }
    }
}

#[alamos::experiment("ui.diverging")]
fn find(items: &[u32], wanted: u32) -> Result<usize, Error> {
    let mut i = 0;
    loop {
        match items.get(i) {
            Some(&item) if item == wanted => return Ok(i),
            Some(_) => i += 1,
            None => return Err(Error),
        }
    }
}

#[alamos::experiment("ui.diverging")]
#[track_caller]
fn located_find(items: &[u32], wanted: u32) -> Result<usize, Error> {
    let mut i = 0;
    loop {
        match items.get(i) {
            Some(&item) if item == wanted => return Ok(i),
            Some(_) => i += 1,
            None => return Err(Error),
        }
    }
}

#[alamos::experiment("ui.diverging")]
fn drain(items: &mut Vec<u32>) {
    'outer: loop {
        loop {
            match items.pop() {
                Some(_) => continue 'outer,
                None => return,
            }
        }
    }
}

#[alamos::experiment("ui.diverging")]
#[track_caller]
fn located_drain(items: &mut Vec<u32>) -> () {
    loop {
        if items.pop().is_none() {
            return;
        }
    }
}

#[alamos::experiment("ui.diverging")]
fn from_never(err: Infallible) -> Error {
    match err {}
}

#[alamos::experiment("ui.diverging")]
#[track_caller]
fn located_from_never(err: Infallible) -> Result<u32, Error> {
    match err {}
}

#[alamos::experiment("ui.diverging")]
fn unreachable_tail(x: u32) -> Result<u32, Error> {
    if x < 10 {
        return Ok(x);
    }
    unreachable!("checked by the caller")
}

#[alamos::experiment("ui.diverging")]
#[track_caller]
fn located_unreachable_tail(x: u32) -> Result<u32, Error> {
    if x < 10 {
        return Ok(x);
    }
    ::std::unreachable!("checked by the caller")
}

#[alamos::experiment("ui.diverging")]
fn panic_tail(x: u32) -> u32 {
    if x < 10 {
        return x;
    }
    panic!("too big")
}

#[alamos::experiment("ui.diverging")]
fn exit_tail(code: i32) -> Result<u32, Error> {
    if code == 0 {
        return Ok(0);
    }
    std::process::exit(code)
}

#[alamos::experiment("ui.diverging")]
#[track_caller]
fn located_exit_tail(code: i32) -> u32 {
    if code == 0 {
        return 0;
    }
    std::process::exit(code)
}

#[alamos::experiment("ui.diverging")]
fn never_returns() -> ! {
    std::process::exit(0)
}

#[alamos::experiment("ui.diverging")]
async fn async_find(items: Vec<u32>, wanted: u32) -> Result<usize, Error> {
    let mut i = 0;
    loop {
        match items.get(i) {
            Some(&item) if item == wanted => return Ok(i),
            Some(_) => i += 1,
            None => return Err(Error),
        }
    }
}

#[alamos::experiment("ui.diverging")]
async fn async_never(err: Infallible) -> Result<u32, Error> {
    match err {}
}

fn main() {
    // The panics below are caught; their messages are noise.
    std::panic::set_hook(Box::new(|_| {}));
    let mut pairs = Pairs {
        items: vec![1, 2, 3, 4],
        kept: Vec::new(),
    };
    let odd: Vec<u32> = pairs.by_ref().collect();
    assert_eq!(odd, [3, 1]);
    pairs.items = vec![1, 2, 3, 4];
    pairs.extend();
    assert_eq!(pairs.kept, [4, 2]);
    assert!(std::panic::catch_unwind(|| pairs.refuse()).is_err());
    let _: fn(&Pairs, Infallible) -> Result<u32, Error> = Pairs::absurd;
    let _: fn(Infallible) -> Error = Error::from;
    let _: fn(Infallible) -> Error = from_never;
    let _: fn(Infallible) -> Result<u32, Error> = located_from_never;
    let _: fn() -> ! = never_returns;
    let _ = async_never;
    assert_eq!(find(&[1, 2], 2).ok(), Some(1));
    assert!(located_find(&[1, 2], 3).is_err());
    drain(&mut vec![1, 2]);
    located_drain(&mut vec![1]);
    assert_eq!(unreachable_tail(3).ok(), Some(3));
    assert_eq!(located_unreachable_tail(4).ok(), Some(4));
    assert!(std::panic::catch_unwind(|| unreachable_tail(30)).is_err());
    assert_eq!(panic_tail(5), 5);
    assert_eq!(exit_tail(0).ok(), Some(0));
    assert_eq!(located_exit_tail(0), 0);
    let future = async_find(vec![7, 8], 8);
    drop(future);
}
