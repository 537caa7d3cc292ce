//! Per-call metrics through a thread-local recorder: outcomes, durations and
//! the in-flight gauge. `global_recorder.rs` covers the global recorder.

// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unnecessary_wraps)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use alamos::Level;
use alamos_tests::{capture, record_metrics, record_metrics_live, Recorded};

#[derive(Debug, PartialEq)]
struct Failure;

#[test]
fn ok_calls_are_counted_with_experiment_function_and_outcome_labels() {
    #[alamos::experiment("metrics.ok")]
    fn add(a: u32, b: u32) -> u32 {
        a + b
    }

    let (sum, metrics) = record_metrics(|| add(1, 2) + add(3, 4) + add(5, 6));
    assert_eq!(sum, 21);
    assert_eq!(metrics.calls("metrics.ok", "add", "ok"), 3, "{metrics:#?}");
    assert_eq!(metrics.calls("metrics.ok", "add", "error"), 0);
    assert_eq!(metrics.calls("metrics.ok", "add", "panic"), 0);
    assert_eq!(metrics.calls("metrics.ok", "add", "cancelled"), 0);
}

#[test]
fn ok_result_is_an_ok_outcome() {
    #[alamos::experiment("metrics.ok_result")]
    fn check(x: u32) -> Result<u32, Failure> {
        Ok(x)
    }

    let (result, metrics) = record_metrics(|| check(1));
    assert_eq!(result, Ok(1));
    assert_eq!(metrics.calls("metrics.ok_result", "check", "ok"), 1);
    assert_eq!(metrics.calls("metrics.ok_result", "check", "error"), 0);
}

#[test]
fn return_err_is_an_error_outcome() {
    #[alamos::experiment("metrics.return_err")]
    fn check(x: u32) -> Result<u32, Failure> {
        if x == 0 {
            return Err(Failure);
        }
        Ok(x)
    }

    let (results, metrics) = record_metrics(|| [check(0), check(0), check(1)]);
    assert_eq!(results, [Err(Failure), Err(Failure), Ok(1)]);
    assert_eq!(metrics.calls("metrics.return_err", "check", "error"), 2);
    assert_eq!(metrics.calls("metrics.return_err", "check", "ok"), 1);
}

#[test]
fn early_question_mark_is_an_error_outcome() {
    fn parse(s: &str) -> Result<u32, Failure> {
        s.parse().map_err(|_| Failure)
    }

    #[alamos::experiment("metrics.try_err")]
    fn load(a: &str, b: &str) -> Result<u32, Failure> {
        let a = parse(a)?;
        let b = parse(b)?;
        Ok(a + b)
    }

    let (results, metrics) = record_metrics(|| [load("x", "1"), load("1", "y"), load("1", "2")]);
    assert_eq!(results, [Err(Failure), Err(Failure), Ok(3)]);
    assert_eq!(metrics.calls("metrics.try_err", "load", "error"), 2);
    assert_eq!(metrics.calls("metrics.try_err", "load", "ok"), 1);
}

#[test]
fn tail_err_is_an_error_outcome() {
    #[alamos::experiment("metrics.tail_err")]
    fn check(x: u32) -> Result<u32, Failure> {
        if x == 0 {
            Err(Failure)
        } else {
            Ok(x)
        }
    }

    let (results, metrics) = record_metrics(|| [check(0), check(2)]);
    assert_eq!(results, [Err(Failure), Ok(2)]);
    assert_eq!(metrics.calls("metrics.tail_err", "check", "error"), 1);
    assert_eq!(metrics.calls("metrics.tail_err", "check", "ok"), 1);
}

#[test]
fn err_through_a_type_alias_is_an_error_outcome() {
    type IoResult<T> = std::io::Result<T>;

    #[alamos::experiment("metrics.alias_err")]
    fn open(fail: bool) -> IoResult<u8> {
        if fail {
            Err(std::io::Error::other("disk"))
        } else {
            Ok(1)
        }
    }

    let (results, metrics) = record_metrics(|| [open(true).is_err(), open(false).is_err()]);
    assert_eq!(results, [true, false]);
    assert_eq!(metrics.calls("metrics.alias_err", "open", "error"), 1);
    assert_eq!(metrics.calls("metrics.alias_err", "open", "ok"), 1);
}

#[test]
fn err_with_an_impl_trait_ok_type_is_an_error_outcome() {
    #[alamos::experiment("metrics.impl_ok_err")]
    fn render(x: u32) -> Result<impl std::fmt::Display, Failure> {
        if x == 0 {
            return Err(Failure);
        }
        Ok(x * 2)
    }

    let (results, metrics) = record_metrics(|| {
        [
            render(0).map(|d| d.to_string()),
            render(4).map(|d| d.to_string()),
        ]
    });
    assert_eq!(results, [Err(Failure), Ok("8".to_owned())]);
    assert_eq!(
        metrics.calls("metrics.impl_ok_err", "render", "error"),
        1,
        "{metrics:#?}"
    );
    assert_eq!(metrics.calls("metrics.impl_ok_err", "render", "ok"), 1);
}

#[test]
fn err_returned_by_a_macro_like_bail_is_an_error_outcome() {
    // `anyhow::bail!` and `ensure!` expand to `return Err(...)`.
    macro_rules! bail {
        ($error:expr) => {
            return Err($error)
        };
    }

    #[alamos::experiment("metrics.macro_return")]
    fn check(x: u32) -> Result<u32, Failure> {
        if x == 0 {
            bail!(Failure);
        }
        Ok(x)
    }

    let (results, metrics) = record_metrics(|| [check(0), check(1)]);
    assert_eq!(results, [Err(Failure), Ok(1)]);
    assert_eq!(
        metrics.calls("metrics.macro_return", "check", "error"),
        1,
        "{metrics:#?}"
    );
    assert_eq!(metrics.calls("metrics.macro_return", "check", "ok"), 1);
}

#[test]
fn err_leaving_through_a_question_mark_inside_a_macro_body_is_an_error_outcome() {
    macro_rules! parse_or_bail {
        ($text:expr) => {
            $text.parse::<u32>().map_err(|_| Failure)?
        };
    }

    #[alamos::experiment("metrics.macro_try")]
    fn load(s: &str) -> Result<u32, Failure> {
        let n = parse_or_bail!(s);
        Ok(n)
    }

    let (results, metrics) = record_metrics(|| [load("x"), load("2")]);
    assert_eq!(results, [Err(Failure), Ok(2)]);
    assert_eq!(
        metrics.calls("metrics.macro_try", "load", "error"),
        1,
        "{metrics:#?}"
    );
    assert_eq!(metrics.calls("metrics.macro_try", "load", "ok"), 1);
}

#[test]
fn option_none_is_not_an_error() {
    #[alamos::experiment("metrics.none")]
    fn first(v: &[u8]) -> Option<u8> {
        let x = v.first()?;
        Some(*x)
    }

    let (results, metrics) = record_metrics(|| [first(&[]), first(&[4])]);
    assert_eq!(results, [None, Some(4)]);
    assert_eq!(metrics.calls("metrics.none", "first", "ok"), 2);
    assert_eq!(metrics.calls("metrics.none", "first", "error"), 0);
}

#[test]
fn panic_is_a_panic_outcome_with_the_span_closed_and_in_flight_back_to_zero() {
    #[alamos::experiment("metrics.panic")]
    fn explode(really: bool) -> u8 {
        assert!(!really, "boom");
        1
    }

    let (((caught, ok), captured), metrics) = record_metrics(|| {
        capture(|| {
            let caught = catch_unwind(|| explode(true));
            (caught, explode(false))
        })
    });
    assert_eq!(ok, 1);
    let payload = caught.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"boom"),
        "the panic unwinds to the caller unchanged"
    );
    assert_eq!(
        metrics.calls("metrics.panic", "explode", "panic"),
        1,
        "{metrics:#?}"
    );
    assert_eq!(metrics.calls("metrics.panic", "explode", "ok"), 1);
    assert_eq!(metrics.calls("metrics.panic", "explode", "error"), 0);
    assert_eq!(metrics.in_flight("metrics.panic", "explode"), Some(0.0));
    assert_eq!(metrics.durations("metrics.panic", "explode").len(), 2);
    let spans = captured.spans_named("metrics.panic.explode");
    assert_eq!(spans.len(), 2);
    for span in spans {
        assert!(span.closed, "{span:#?}");
        assert_eq!(span.entered, span.exited, "{span:#?}");
    }
}

#[test]
fn panic_through_an_error_returning_function_is_a_panic_not_an_error() {
    #[alamos::experiment("metrics.panic_result")]
    fn fallible() -> Result<u8, Failure> {
        let v: Vec<u8> = Vec::new();
        Ok(v[3])
    }

    let (caught, metrics) = record_metrics(|| catch_unwind(fallible));
    assert!(caught.is_err());
    assert_eq!(
        metrics.calls("metrics.panic_result", "fallible", "panic"),
        1
    );
    assert_eq!(
        metrics.calls("metrics.panic_result", "fallible", "error"),
        0
    );
    assert_eq!(metrics.calls("metrics.panic_result", "fallible", "ok"), 0);
    assert_eq!(
        metrics.in_flight("metrics.panic_result", "fallible"),
        Some(0.0)
    );
}

#[test]
fn a_call_made_while_unwinding_is_not_counted_as_a_panic() {
    #[alamos::experiment("metrics.drop_during_panic")]
    fn cleanup() -> u8 {
        1
    }

    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            assert_eq!(cleanup(), 1);
        }
    }

    let (caught, metrics) = record_metrics(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let _guard = Guard;
            panic!("unrelated");
        }))
    });
    assert!(caught.is_err());
    assert_eq!(
        metrics.calls("metrics.drop_during_panic", "cleanup", "ok"),
        1
    );
    assert_eq!(
        metrics.calls("metrics.drop_during_panic", "cleanup", "panic"),
        0
    );
}

#[test]
fn each_call_records_one_duration_sample() {
    #[alamos::experiment("metrics.duration")]
    fn sleep(ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }

    let ((), metrics) = record_metrics(|| {
        sleep(0);
        sleep(20);
        sleep(0);
    });
    let samples = metrics.durations("metrics.duration", "sleep");
    assert_eq!(samples.len(), 3, "{metrics:#?}");
    assert!(samples.iter().all(|s| *s >= 0.0));
    assert!(
        samples.iter().any(|s| *s >= 0.02),
        "durations are in seconds: {samples:?}"
    );
    assert!(samples.iter().all(|s| *s < 10.0), "{samples:?}");
}

#[test]
fn in_flight_counts_calls_in_progress() {
    #[alamos::experiment("metrics.in_flight")]
    fn outer(recorded: &Recorded, depth: u32) -> Vec<Option<f64>> {
        let mut seen = vec![recorded.snapshot().in_flight("metrics.in_flight", "outer")];
        if depth > 0 {
            seen.extend(outer(recorded, depth - 1));
        }
        seen
    }

    let (seen, metrics) = record_metrics_live(|recorded| outer(recorded, 2));
    assert_eq!(seen, [Some(1.0), Some(2.0), Some(3.0)]);
    assert_eq!(metrics.in_flight("metrics.in_flight", "outer"), Some(0.0));
    assert_eq!(metrics.calls("metrics.in_flight", "outer", "ok"), 3);
}

#[test]
fn in_flight_is_per_function() {
    #[alamos::experiment("metrics.in_flight_pair")]
    fn caller(recorded: &Recorded) -> (Option<f64>, Option<f64>) {
        callee(recorded)
    }

    #[alamos::experiment("metrics.in_flight_pair")]
    fn callee(recorded: &Recorded) -> (Option<f64>, Option<f64>) {
        let now = recorded.snapshot();
        (
            now.in_flight("metrics.in_flight_pair", "caller"),
            now.in_flight("metrics.in_flight_pair", "callee"),
        )
    }

    let (seen, metrics) = record_metrics_live(caller);
    assert_eq!(seen, (Some(1.0), Some(1.0)));
    assert_eq!(
        metrics.in_flight("metrics.in_flight_pair", "caller"),
        Some(0.0)
    );
    assert_eq!(
        metrics.in_flight("metrics.in_flight_pair", "callee"),
        Some(0.0)
    );
}

#[test]
fn methods_are_labelled_type_colon_method() {
    struct Writer;

    #[alamos::experiment("metrics.methods")]
    impl Writer {
        // Linted as the plain method would be: the expansion keeps its span.
        #[allow(clippy::unused_self)]
        fn write(&self) -> Result<(), Failure> {
            Err(Failure)
        }
    }

    let (result, metrics) = record_metrics(|| Writer.write());
    assert_eq!(result, Err(Failure));
    assert_eq!(
        metrics.calls("metrics.methods", "Writer::write", "error"),
        1
    );
    assert_eq!(
        metrics.durations("metrics.methods", "Writer::write").len(),
        1
    );
    assert_eq!(
        metrics.in_flight("metrics.methods", "Writer::write"),
        Some(0.0)
    );
}

#[test]
fn name_argument_is_the_function_label() {
    #[alamos::experiment("metrics.renamed", name = "write_frame")]
    fn write() {}

    let ((), metrics) = record_metrics(write);
    assert_eq!(metrics.calls("metrics.renamed", "write_frame", "ok"), 1);
    assert_eq!(metrics.calls("metrics.renamed", "write", "ok"), 0);
}

#[test]
fn disabled_callsite_records_nothing_and_keeps_its_behaviour() {
    #[alamos::experiment("metrics.disabled", level = debug)]
    fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
        if s.is_empty() {
            return Ok(0);
        }
        let n: u32 = s.parse()?;
        Ok(n * 2)
    }

    let ((results, captured), metrics) =
        record_metrics(|| capture(|| [parse(""), parse("21"), parse("x")]));
    assert_eq!(results[0], Ok(0));
    assert_eq!(results[1], Ok(42));
    assert!(results[2].is_err());
    assert!(
        metrics.is_empty(),
        "a disabled callsite recorded {metrics:#?}"
    );
    assert!(captured.spans().is_empty());
}

#[test]
fn enabling_and_disabling_a_callsite_at_run_time() {
    #[alamos::experiment("metrics.toggle", level = debug)]
    fn work() -> u8 {
        1
    }

    let (_, before) = record_metrics(work);
    alamos::set_level("metrics.toggle", Level::Debug).unwrap();
    let (_, enabled) = record_metrics(|| work() + work());
    alamos::set_level("metrics.toggle", alamos::LevelFilter::Off).unwrap();
    let (_, after) = record_metrics(work);
    assert!(before.is_empty(), "{before:#?}");
    assert_eq!(enabled.calls("metrics.toggle", "work", "ok"), 2);
    assert!(after.is_empty(), "{after:#?}");
}

#[test]
fn each_local_recorder_sees_only_its_own_calls() {
    #[alamos::experiment("metrics.local")]
    fn tick() {}

    let ((), first) = record_metrics(|| {
        tick();
        tick();
    });
    let ((), second) = record_metrics(tick);
    assert_eq!(first.calls("metrics.local", "tick", "ok"), 2);
    assert_eq!(second.calls("metrics.local", "tick", "ok"), 1);
}
