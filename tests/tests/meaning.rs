//! The expansion keeps the function's meaning: each form behaves exactly as
//! it would without the attribute, and the call is still recorded.

// Methods instrumented here are linted as plain methods would be (the
// expansion keeps their spans); fixtures take `&self` without using it.
#![allow(clippy::unused_self)]
// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(
    clippy::needless_lifetimes,
    clippy::needless_return,
    clippy::unnecessary_wraps
)]

use std::cell::RefCell;
use std::num::ParseIntError;
use std::panic::{catch_unwind, Location};
use std::sync::Once;

use alamos_tests::{block_on, capture, record_metrics};

#[derive(Debug, PartialEq)]
struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure")
    }
}

impl std::error::Error for Failure {}

#[test]
fn return_and_question_mark_return_the_same_values() {
    #[alamos::experiment("meaning.return_try")]
    fn classify(s: &str) -> Result<&'static str, ParseIntError> {
        if s.is_empty() {
            return Ok("empty");
        }
        let n: i64 = s.parse()?;
        match n {
            0 => return Ok("zero"),
            n if n < 0 => Ok("negative"),
            _ => Ok("positive"),
        }
    }

    let (results, metrics) = record_metrics(|| {
        ["", "0", "-3", "8", "x"].map(|s| classify(s).map_err(|e| e.to_string()))
    });
    assert_eq!(
        results,
        [
            Ok("empty"),
            Ok("zero"),
            Ok("negative"),
            Ok("positive"),
            Err("invalid digit found in string".to_owned()),
        ]
    );
    assert_eq!(metrics.calls("meaning.return_try", "classify", "ok"), 4);
    assert_eq!(metrics.calls("meaning.return_try", "classify", "error"), 1);
}

#[test]
fn question_mark_keeps_type_inference() {
    #[alamos::experiment("meaning.inference")]
    fn five() -> Result<u32, ParseIntError> {
        let n = "5".parse()?;
        Ok(n)
    }

    #[alamos::experiment("meaning.inference")]
    fn sum(a: &str, b: &str) -> Result<u64, Box<dyn std::error::Error>> {
        Ok(a.parse::<u64>()? + b.parse::<u64>()?)
    }

    let (results, metrics) = record_metrics(|| (five(), sum("2", "3").ok(), sum("2", "z").ok()));
    assert_eq!(results, (Ok(5), Some(5), None));
    assert_eq!(metrics.calls("meaning.inference", "five", "ok"), 1);
    assert_eq!(metrics.calls("meaning.inference", "sum", "ok"), 1);
    assert_eq!(metrics.calls("meaning.inference", "sum", "error"), 1);
}

#[test]
fn question_mark_on_option() {
    #[alamos::experiment("meaning.option")]
    fn first_even_doubled(v: &[u32]) -> Option<u32> {
        let x = v.iter().find(|x| *x % 2 == 0)?;
        Some(x * 2)
    }

    let (results, metrics) =
        record_metrics(|| (first_even_doubled(&[1, 3]), first_even_doubled(&[1, 4])));
    assert_eq!(results, (None, Some(8)));
    assert_eq!(
        metrics.calls("meaning.option", "first_even_doubled", "ok"),
        2
    );
    assert_eq!(
        metrics.calls("meaning.option", "first_even_doubled", "error"),
        0
    );
}

#[test]
fn question_mark_on_control_flow_and_poll() {
    use std::ops::ControlFlow;
    use std::task::Poll;

    #[alamos::experiment("meaning.other_try_types")]
    fn step(x: ControlFlow<&'static str, u32>) -> ControlFlow<&'static str, u32> {
        let v = x?;
        ControlFlow::Continue(v + 1)
    }

    #[alamos::experiment("meaning.other_try_types")]
    fn ready(p: Poll<Result<u32, Failure>>) -> Result<Poll<u32>, Failure> {
        let v = p?;
        Ok(v.map(|v| v * 2))
    }

    let (results, metrics) = record_metrics(|| {
        (
            step(ControlFlow::Break("stop")),
            step(ControlFlow::Continue(1)),
            ready(Poll::Ready(Ok(2))),
            ready(Poll::Pending),
            ready(Poll::Ready(Err(Failure))),
        )
    });
    assert_eq!(results.0, ControlFlow::Break("stop"));
    assert_eq!(results.1, ControlFlow::Continue(2));
    assert_eq!(results.2, Ok(Poll::Ready(4)));
    assert_eq!(results.3, Ok(Poll::Pending));
    assert_eq!(results.4, Err(Failure));
    assert_eq!(metrics.calls("meaning.other_try_types", "step", "ok"), 2);
    assert_eq!(metrics.calls("meaning.other_try_types", "ready", "ok"), 2);
    assert_eq!(
        metrics.calls("meaning.other_try_types", "ready", "error"),
        1
    );
}

#[test]
fn generics_and_where_clauses() {
    #[alamos::experiment("meaning.generics")]
    fn largest<T>(items: &[T]) -> Option<&T>
    where
        T: PartialOrd,
    {
        let mut best = items.first()?;
        for item in items {
            if item > best {
                best = item;
            }
        }
        Some(best)
    }

    #[alamos::experiment("meaning.generics")]
    fn parse_as<T: std::str::FromStr>(s: &str) -> Result<T, T::Err> {
        let value = s.parse::<T>()?;
        Ok(value)
    }

    #[alamos::experiment("meaning.generics")]
    fn total<const N: usize>(values: [u32; N]) -> u32 {
        values.iter().sum()
    }

    let (results, metrics) = record_metrics(|| {
        (
            largest(&[3, 9, 2]).copied(),
            largest::<String>(&[]).cloned(),
            parse_as::<u8>("7"),
            parse_as::<u8>("300").is_err(),
            parse_as::<f64>("1.5"),
            total([1, 2, 3, 4]),
        )
    });
    assert_eq!(results.0, Some(9));
    assert_eq!(results.1, None);
    assert_eq!(results.2, Ok(7));
    assert!(results.3);
    assert_eq!(results.4, Ok(1.5));
    assert_eq!(results.5, 10);
    assert_eq!(metrics.calls("meaning.generics", "largest", "ok"), 2);
    assert_eq!(metrics.calls("meaning.generics", "parse_as", "ok"), 2);
    assert_eq!(metrics.calls("meaning.generics", "parse_as", "error"), 1);
    assert_eq!(metrics.calls("meaning.generics", "total", "ok"), 1);
}

#[test]
fn lifetimes_of_borrows_returned_from_arguments() {
    #[alamos::experiment("meaning.lifetimes")]
    fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
        if a.len() >= b.len() {
            return a;
        }
        b
    }

    #[alamos::experiment("meaning.lifetimes")]
    fn first_word(s: &str) -> &str {
        s.split(' ').next().unwrap_or(s)
    }

    #[alamos::experiment("meaning.lifetimes")]
    fn split_first<'a, T>(items: &'a [T]) -> Result<(&'a T, &'a [T]), Failure> {
        let (first, rest) = items.split_first().ok_or(Failure)?;
        Ok((first, rest))
    }

    let text = String::from("alamos experiment");
    let other = String::from("key");
    let (results, metrics) = record_metrics(|| {
        (
            longest(&text, &other),
            first_word(&text),
            split_first(&[1, 2, 3]).map(|(f, r)| (*f, r.len())),
            split_first::<u8>(&[]).is_err(),
        )
    });
    assert_eq!(results.0, "alamos experiment");
    assert_eq!(results.1, "alamos");
    assert_eq!(results.2, Ok((1, 2)));
    assert!(results.3);
    assert_eq!(metrics.calls("meaning.lifetimes", "longest", "ok"), 1);
    assert_eq!(
        metrics.calls("meaning.lifetimes", "split_first", "error"),
        1
    );
}

#[test]
fn mutable_borrow_returned_from_mut_self() {
    struct Slots {
        items: Vec<u32>,
    }

    #[alamos::experiment("meaning.mut_borrow")]
    impl Slots {
        fn slot(&mut self, i: usize) -> &mut u32 {
            &mut self.items[i]
        }

        fn checked(&mut self, i: usize) -> Result<&mut u32, Failure> {
            let slot = self.items.get_mut(i).ok_or(Failure)?;
            Ok(slot)
        }

        fn last_or_push(&mut self) -> &mut u32 {
            if self.items.is_empty() {
                self.items.push(0);
            }
            self.items.last_mut().unwrap()
        }
    }

    let (slots, metrics) = record_metrics(|| {
        let mut slots = Slots { items: vec![1, 2] };
        *slots.slot(0) += 10;
        *slots.checked(1).unwrap() += 20;
        assert_eq!(slots.checked(5), Err(Failure));
        *slots.last_or_push() += 100;
        slots.items
    });
    assert_eq!(slots, [11, 122]);
    assert_eq!(metrics.calls("meaning.mut_borrow", "Slots::slot", "ok"), 1);
    assert_eq!(
        metrics.calls("meaning.mut_borrow", "Slots::checked", "ok"),
        1
    );
    assert_eq!(
        metrics.calls("meaning.mut_borrow", "Slots::checked", "error"),
        1
    );
    assert_eq!(
        metrics.calls("meaning.mut_borrow", "Slots::last_or_push", "ok"),
        1
    );
}

#[test]
fn every_receiver_kind() {
    use std::pin::Pin;
    use std::rc::Rc;

    #[derive(Debug)]
    struct Counter {
        n: u32,
    }

    #[alamos::experiment("meaning.receivers")]
    impl Counter {
        fn get(&self) -> u32 {
            self.n
        }

        fn bump(&mut self) {
            self.n += 1;
        }

        fn into_inner(self) -> u32 {
            self.n
        }

        fn rebuilt(mut self, by: u32) -> Self {
            self.n += by;
            self
        }

        #[allow(clippy::boxed_local)]
        fn boxed(self: Box<Self>) -> u32 {
            self.n * 10
        }

        fn shared(self: Rc<Self>) -> usize {
            Rc::strong_count(&self)
        }

        fn pinned(self: Pin<&mut Self>) -> u32 {
            let this = self.get_mut();
            this.n += 5;
            this.n
        }
    }

    let (results, metrics) = record_metrics(|| {
        let mut counter = Counter { n: 1 };
        counter.bump();
        let got = counter.get();
        let mut counter = counter.rebuilt(3);
        let pinned = Pin::new(&mut counter).pinned();
        let boxed = Box::new(Counter { n: 4 }).boxed();
        let rc = Rc::new(Counter { n: 0 });
        let keep = Rc::clone(&rc);
        let strong = rc.shared();
        (got, pinned, counter.into_inner(), boxed, strong, keep.n)
    });
    assert_eq!(results, (2, 10, 10, 40, 2, 0));
    for method in [
        "get",
        "bump",
        "into_inner",
        "rebuilt",
        "boxed",
        "shared",
        "pinned",
    ] {
        let function = format!("Counter::{method}");
        assert_eq!(
            metrics.calls("meaning.receivers", &function, "ok"),
            1,
            "{function}: {metrics:#?}"
        );
    }
}

#[test]
fn impl_trait_in_argument_and_return_position() {
    #[alamos::experiment("meaning.impl_trait")]
    fn total(items: impl IntoIterator<Item = u32>) -> u32 {
        items.into_iter().sum()
    }

    #[alamos::experiment("meaning.impl_trait")]
    fn evens(limit: u32) -> impl Iterator<Item = u32> {
        (0..limit).filter(|n| n % 2 == 0)
    }

    #[alamos::experiment("meaning.impl_trait")]
    fn adder(n: u32) -> impl Fn(u32) -> u32 {
        move |x| x + n
    }

    #[alamos::experiment("meaning.impl_trait")]
    fn parsed(s: &str) -> Result<impl Iterator<Item = u32> + '_, ParseIntError> {
        let first: u32 = s.split(',').next().unwrap_or("").parse()?;
        Ok(s.split(',').map(move |p| p.parse().unwrap_or(first)))
    }

    let (results, metrics) = record_metrics(|| {
        (
            total(vec![1, 2, 3]),
            total([4_u32; 2]),
            evens(7).collect::<Vec<_>>(),
            adder(2)(40),
            parsed("1,x,3").map(Iterator::collect::<Vec<_>>),
            parsed("y,2").is_err(),
        )
    });
    assert_eq!(results.0, 6);
    assert_eq!(results.1, 8);
    assert_eq!(results.2, [0, 2, 4, 6]);
    assert_eq!(results.3, 42);
    assert_eq!(results.4, Ok(vec![1, 1, 3]));
    assert!(results.5);
    assert_eq!(metrics.calls("meaning.impl_trait", "total", "ok"), 2);
    assert_eq!(metrics.calls("meaning.impl_trait", "evens", "ok"), 1);
    assert_eq!(metrics.calls("meaning.impl_trait", "adder", "ok"), 1);
    assert_eq!(metrics.calls("meaning.impl_trait", "parsed", "error"), 1);
}

#[test]
fn coercions_at_return_sites_still_apply() {
    struct Frame {
        bytes: [u8; 4],
    }

    #[alamos::experiment("meaning.coercions")]
    impl Frame {
        fn as_slice(&self) -> &[u8] {
            &self.bytes
        }

        fn describe(&self) -> &dyn std::fmt::Debug {
            if self.bytes[0] == 0 {
                return &self.bytes;
            }
            &self.bytes[0]
        }

        fn boxed(&self) -> Box<dyn Fn() -> usize> {
            let n = self.bytes.len();
            Box::new(move || n)
        }

        fn checked(&self) -> Result<u8, Box<dyn std::error::Error>> {
            if self.bytes[0] == 0 {
                return Err(Box::new(Failure));
            }
            Ok(self.bytes[0])
        }
    }

    let frame = Frame {
        bytes: [0, 1, 2, 3],
    };
    assert_eq!(frame.as_slice(), [0, 1, 2, 3]);
    assert_eq!(format!("{:?}", frame.describe()), "[0, 1, 2, 3]");
    assert_eq!(frame.boxed()(), 4);
    assert_eq!(frame.checked().unwrap_err().to_string(), "failure");
}

#[test]
fn recursion_nests_one_span_per_level() {
    #[alamos::experiment("meaning.recursion")]
    fn depth(n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        1 + depth(n - 1)
    }

    let ((value, captured), metrics) = record_metrics(|| capture(|| depth(3)));
    assert_eq!(value, 3);
    let spans = captured.spans_named("meaning.recursion.depth");
    assert_eq!(spans.len(), 4);
    let roots = spans.iter().filter(|s| s.parent.is_none()).count();
    let children = spans
        .iter()
        .filter(|s| s.parent.as_deref() == Some("meaning.recursion.depth"))
        .count();
    assert_eq!((roots, children), (1, 3), "{captured:#?}");
    assert_eq!(metrics.calls("meaning.recursion", "depth", "ok"), 4);
    assert_eq!(metrics.in_flight("meaning.recursion", "depth"), Some(0.0));
}

#[test]
fn unsafe_fn_stays_unsafe_and_works() {
    #[alamos::experiment("meaning.unsafe")]
    unsafe fn read(ptr: *const u32) -> u32 {
        // SAFETY: the caller passes a valid, aligned pointer.
        unsafe { *ptr }
    }

    struct Raw(u32);

    #[alamos::experiment("meaning.unsafe")]
    impl Raw {
        unsafe fn get(&self) -> u32 {
            let ptr: *const u32 = &raw const self.0;
            // SAFETY: points at a live field.
            unsafe { *ptr }
        }
    }

    let value = 42_u32;
    // SAFETY: `value` is live and aligned.
    let (read_back, metrics) = record_metrics(|| unsafe { read(&raw const value) + Raw(1).get() });
    assert_eq!(read_back, 43);
    assert_eq!(metrics.calls("meaning.unsafe", "read", "ok"), 1);
    assert_eq!(metrics.calls("meaning.unsafe", "Raw::get", "ok"), 1);
}

thread_local! {
    static PANIC_LOCATION: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// Records where each panic on this thread happened, then reports it as usual.
fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info.location().map(|l| (l.file().to_owned(), l.line()));
            PANIC_LOCATION.with(|last| *last.borrow_mut() = location);
            previous(info);
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
}

#[test]
fn track_caller_reports_the_callers_location() {
    #[alamos::experiment("meaning.track_caller")]
    #[track_caller]
    fn located() -> &'static Location<'static> {
        Location::caller()
    }

    #[track_caller]
    #[alamos::experiment("meaning.track_caller")]
    fn located_above() -> &'static Location<'static> {
        Location::caller()
    }

    struct Checker;

    #[alamos::experiment("meaning.track_caller")]
    impl Checker {
        #[track_caller]
        fn located(&self) -> &'static Location<'static> {
            Location::caller()
        }
    }

    let (line, location) = (line!(), located());
    assert_eq!((location.file(), location.line()), (file!(), line));
    let (line, location) = (line!(), located_above());
    assert_eq!((location.file(), location.line()), (file!(), line));
    let (line, location) = (line!(), Checker.located());
    assert_eq!((location.file(), location.line()), (file!(), line));
}

#[test]
fn track_caller_panics_report_the_callers_location() {
    #[alamos::experiment("meaning.track_caller_panic")]
    #[track_caller]
    fn must(value: Option<u8>) -> u8 {
        value.expect("a value is required")
    }

    watch_panics();
    let (caught, metrics) = record_metrics(|| {
        let line = line!() + 1;
        let caught = catch_unwind(|| must(None));
        (caught, line)
    });
    let (caught, line) = caught;
    assert_eq!(
        panic_message(&*caught.unwrap_err()).as_deref(),
        Some("a value is required")
    );
    let location = PANIC_LOCATION.with(|last| last.borrow_mut().take());
    assert_eq!(location, Some((file!().to_owned(), line)));
    assert_eq!(
        metrics.calls("meaning.track_caller_panic", "must", "panic"),
        1
    );
}

#[test]
fn cfg_attributes_are_kept() {
    #[alamos::experiment("meaning.cfg")]
    #[cfg(any())]
    fn pick() -> u8 {
        1
    }

    #[alamos::experiment("meaning.cfg")]
    #[cfg(all())]
    #[allow(clippy::non_minimal_cfg)]
    fn pick() -> u8 {
        2
    }

    #[cfg_attr(all(), alamos::experiment("meaning.cfg"))]
    fn chosen() -> u8 {
        3
    }

    let (value, metrics) = record_metrics(|| pick() + chosen());
    assert_eq!(value, 5);
    assert_eq!(metrics.calls("meaning.cfg", "pick", "ok"), 1);
    assert_eq!(metrics.calls("meaning.cfg", "chosen", "ok"), 1);
}

#[test]
fn closures_keep_their_own_return_and_question_mark() {
    #[alamos::experiment("meaning.closures")]
    fn sum_valid(input: &[&str]) -> Result<u32, Failure> {
        let parse = |s: &str| -> Result<u32, Failure> {
            let n: u32 = s.parse().map_err(|_| Failure)?;
            if n == 0 {
                return Err(Failure);
            }
            Ok(n)
        };
        let total: u32 = input.iter().filter_map(|s| parse(s).ok()).sum();
        let bonus = |flag: bool| {
            if flag {
                return 100;
            }
            1
        };
        Ok(total + bonus(false))
    }

    let (result, metrics) = record_metrics(|| sum_valid(&["x", "0", "5", "6"]));
    assert_eq!(result, Ok(12));
    assert_eq!(metrics.calls("meaning.closures", "sum_valid", "ok"), 1);
    assert_eq!(metrics.calls("meaning.closures", "sum_valid", "error"), 0);
}

/// A synchronous fn whose tail is an async block is instrumented as the
/// future it returns (issue 13, A1): the block's own `?` and `return` end
/// the future, and an `Err` output counts `error`.
#[test]
fn async_blocks_keep_their_own_return_and_question_mark() {
    #[alamos::experiment("meaning.async_blocks")]
    #[allow(clippy::manual_async_fn)]
    fn job(s: String) -> impl std::future::Future<Output = Result<u32, ParseIntError>> {
        async move {
            let n: u32 = s.parse()?;
            if n == 0 {
                return Ok(100);
            }
            Ok(n)
        }
    }

    let (results, metrics) = record_metrics(|| {
        (
            block_on(job("x".to_owned())).is_err(),
            block_on(job("0".to_owned())),
            block_on(job("7".to_owned())),
        )
    });
    assert_eq!(results, (true, Ok(100), Ok(7)));
    assert_eq!(metrics.calls("meaning.async_blocks", "job", "ok"), 2);
    assert_eq!(metrics.calls("meaning.async_blocks", "job", "error"), 1);
}

#[test]
fn nested_fn_items_keep_their_own_question_mark() {
    #[alamos::experiment("meaning.nested_items")]
    fn outer(s: &str) -> u32 {
        fn helper(s: &str) -> Result<u32, ParseIntError> {
            let n: u32 = s.parse()?;
            Ok(n)
        }
        helper(s).unwrap_or(0)
    }

    let (values, metrics) = record_metrics(|| (outer("4"), outer("z")));
    assert_eq!(values, (4, 0));
    assert_eq!(metrics.calls("meaning.nested_items", "outer", "ok"), 2);
}

#[test]
fn question_mark_inside_macro_arguments() {
    fn num(s: &str) -> Result<u32, ParseIntError> {
        s.parse()
    }

    #[alamos::experiment("meaning.macros")]
    fn pair(a: &str, b: &str) -> Result<Vec<u32>, ParseIntError> {
        Ok(vec![num(a)?, num(b)?])
    }

    #[alamos::experiment("meaning.macros")]
    fn shown(x: Option<u32>) -> Option<String> {
        Some(format!("<{}>", x?))
    }

    #[alamos::experiment("meaning.macros")]
    fn repeated(a: &str) -> Result<Vec<u32>, ParseIntError> {
        Ok(vec![num(a)?; 2])
    }

    #[alamos::experiment("meaning.macros")]
    fn named(a: &str) -> Result<String, ParseIntError> {
        Ok(format!("{value:>3}", value = num(a)?))
    }

    let (results, metrics) = record_metrics(|| {
        (
            pair("1", "2"),
            pair("1", "b").is_err(),
            shown(Some(3)),
            shown(None),
            repeated("4"),
            repeated("r").is_err(),
            named("5"),
            named("n").is_err(),
        )
    });
    assert_eq!(results.0, Ok(vec![1, 2]));
    assert!(results.1);
    assert_eq!(results.2.as_deref(), Some("<3>"));
    assert_eq!(results.3, None);
    assert_eq!(results.4, Ok(vec![4, 4]));
    assert!(results.5);
    assert_eq!(results.6.as_deref(), Ok("  5"));
    assert!(results.7);
    assert_eq!(metrics.calls("meaning.macros", "pair", "error"), 1);
    assert_eq!(metrics.calls("meaning.macros", "shown", "ok"), 2);
    assert_eq!(metrics.calls("meaning.macros", "named", "error"), 1);
    assert_eq!(
        metrics.calls("meaning.macros", "repeated", "error"),
        1,
        "`vec![x?; n]` returned Err through `?`: {metrics:#?}"
    );
}

fn flag(s: &str) -> Result<bool, std::str::ParseBoolError> {
    s.parse()
}

#[test]
fn stringify_sees_its_input_as_written() {
    #[alamos::experiment("meaning.quoting_macros")]
    fn quoted(s: &str) -> Result<&'static str, std::str::ParseBoolError> {
        let _ = flag(s)?;
        Ok(stringify!(flag(s)?))
    }

    assert_eq!(quoted("true"), Ok("flag(s)?"));
}

#[test]
fn assert_message_shows_the_condition_as_written() {
    #[alamos::experiment("meaning.quoting_macros")]
    fn asserted(s: &str) -> Result<(), std::str::ParseBoolError> {
        assert!(flag(s)?);
        Ok(())
    }

    assert_eq!(asserted("true"), Ok(()));
    let caught = catch_unwind(|| asserted("false"));
    assert_eq!(
        panic_message(&*caught.unwrap_err()).as_deref(),
        Some("assertion failed: flag(s)?")
    );
}

#[test]
fn never_returning_function_still_panics_through() {
    #[alamos::experiment("meaning.never")]
    fn die(message: &'static str) -> ! {
        std::panic::panic_any(message)
    }

    let (caught, metrics) = record_metrics(|| catch_unwind(|| die("gone")));
    assert_eq!(caught.unwrap_err().downcast_ref::<&str>(), Some(&"gone"));
    assert_eq!(metrics.calls("meaning.never", "die", "panic"), 1);
}

#[test]
fn argument_patterns_and_mut_bindings() {
    struct Point {
        x: i32,
        y: i32,
    }

    #[alamos::experiment("meaning.patterns", fields(a, y))]
    fn combine((a, b): (i32, i32), Point { x, y }: Point, mut acc: Vec<i32>) -> Vec<i32> {
        acc.extend([a, b, x, y]);
        acc
    }

    let (v, captured) = capture(|| combine((1, 2), Point { x: 3, y: 4 }, vec![0]));
    assert_eq!(v, [0, 1, 2, 3, 4]);
    let span = captured.span("meaning.patterns.combine");
    assert_eq!(span.field("a"), Some("1"));
    assert_eq!(span.field("y"), Some("4"));
}

#[test]
fn trait_default_method_can_be_instrumented() {
    trait Greeter {
        fn name(&self) -> String;

        #[alamos::experiment("meaning.default_method")]
        fn greet(&self) -> String {
            format!("hello {}", self.name())
        }
    }

    struct World;

    impl Greeter for World {
        fn name(&self) -> String {
            "world".to_owned()
        }
    }

    let (greeting, metrics) = record_metrics(|| World.greet());
    assert_eq!(greeting, "hello world");
    assert_eq!(metrics.calls("meaning.default_method", "greet", "ok"), 1);
}

#[test]
fn drop_order_of_locals_and_tail_temporaries_is_unchanged() {
    type Log = RefCell<Vec<&'static str>>;

    struct Noisy<'a>(&'static str, &'a Log);

    impl Drop for Noisy<'_> {
        fn drop(&mut self) {
            self.1.borrow_mut().push(self.0);
        }
    }

    impl Noisy<'_> {
        fn len(&self) -> usize {
            self.0.len()
        }
    }

    fn plain(log: &Log) -> usize {
        let _first = Noisy("first", log);
        let _second = Noisy("second", log);
        Noisy("temporary", log).len()
    }

    #[alamos::experiment("meaning.drop_order")]
    fn instrumented(log: &Log) -> usize {
        let _first = Noisy("first", log);
        let _second = Noisy("second", log);
        Noisy("temporary", log).len()
    }

    let (plain_log, instrumented_log) = (RefCell::new(Vec::new()), RefCell::new(Vec::new()));
    assert_eq!(plain(&plain_log), 9);
    let (len, metrics) = record_metrics(|| instrumented(&instrumented_log));
    assert_eq!(len, 9);
    assert_eq!(*instrumented_log.borrow(), *plain_log.borrow());
    assert_eq!(metrics.calls("meaning.drop_order", "instrumented", "ok"), 1);
}
