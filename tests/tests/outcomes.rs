//! Outcomes that are never guessed (issue 18, items 6 and 7).
//!
//! A macro is trusted not to leave the function only when it is named by a
//! path into a known crate (`::std::format!`, `tracing::info!`): a bare
//! name may be the user's own `macro_rules!`, whatever it is called. A body
//! with any other macro, returning a type that may be a `Result`, runs in
//! the closure form, which sees every value it returns; under
//! `#[track_caller]`, where it cannot, an exit through such a macro counts
//! `unknown`.
//!
//! Then the shapes whose tail is not a plain expression: a tail that never
//! completes (`loop` left by `return`, `match` on an uninhabited type,
//! `panic!`), alternative `#[cfg]`'d tails, attributes on the tail and a tail
//! that is a macro call, each as a free function, under `#[track_caller]`
//! and as a method of an instrumented `impl`, with their outcomes.

// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unnecessary_wraps, clippy::unused_async)]
// The shapes under test are the point: loops that never loop (http's `extend`),
// `#[cfg(all())]` and `#[cfg(any())]` to pick a tail, arguments taken by value.
#![allow(
    clippy::needless_pass_by_value,
    clippy::unused_self,
    clippy::never_loop,
    clippy::non_minimal_cfg,
    clippy::type_complexity
)]

use std::any::type_name;
use std::convert::Infallible;

use alamos_tests::{capture, record_metrics, Metrics};

/// `[ok, error, panic, unknown]` calls of `function` in `experiment`.
fn outcomes(metrics: &Metrics, experiment: &str, function: &str) -> [u64; 4] {
    ["ok", "error", "panic", "unknown"].map(|outcome| metrics.calls(experiment, function, outcome))
}

// ------------------------------------------------- shadowed names ----

/// Macros of the user's own that share the name of a macro from `std`,
/// `tracing` or `log`: the expansion must not trust the name.
mod shadowed {
    macro_rules! warn {
        ($e:expr) => {
            return Err($e)
        };
    }

    macro_rules! println {
        ($v:expr) => {
            return Ok($v)
        };
    }

    macro_rules! format {
        ($v:expr) => {
            return Err($v.to_owned())
        };
    }

    /// Finding 6 of issue 18, as written there.
    #[alamos::experiment("outcomes.shadowed", err)]
    pub(crate) fn get(k: u32) -> Result<u32, String> {
        if k == 0 {
            warn!("no key".into());
        }
        Ok(k)
    }

    #[alamos::experiment("outcomes.shadowed")]
    pub(crate) fn early(x: u32) -> Result<u32, String> {
        if x == 0 {
            println!(7);
        }
        Err("late".to_owned())
    }

    #[alamos::experiment("outcomes.shadowed")]
    pub(crate) fn formatted(x: u32) -> Result<String, String> {
        if x > 1 {
            format!("shadowed");
        }
        Ok(::std::format!("{x}"))
    }

    #[alamos::experiment("outcomes.shadowed_track_caller", err)]
    #[track_caller]
    pub(crate) fn located_get(k: u32) -> Result<u32, String> {
        if k == 0 {
            warn!("no key".into());
        }
        Ok(k)
    }

    #[alamos::experiment("outcomes.shadowed_track_caller")]
    #[track_caller]
    pub(crate) fn located_early(x: u32) -> Result<u32, String> {
        if x == 0 {
            println!(7);
        }
        Err("late".to_owned())
    }

    /// A return type that cannot be named: it may be a `Result`.
    #[alamos::experiment("outcomes.shadowed_track_caller")]
    #[track_caller]
    pub(crate) fn located_opaque(x: u32) -> Result<impl std::fmt::Display, String> {
        if x == 0 {
            println!(7);
        }
        Ok(x)
    }
}

#[test]
fn a_user_macro_named_like_a_known_one_is_not_trusted() {
    let ((results, captured), metrics) = record_metrics(|| {
        capture(|| {
            (
                shadowed::get(0),
                shadowed::get(3),
                shadowed::early(0),
                shadowed::early(1),
                shadowed::formatted(2),
            )
        })
    });
    assert_eq!(
        results,
        (
            Err("no key".to_owned()),
            Ok(3),
            Ok(7),
            Err("late".to_owned()),
            Err("shadowed".to_owned())
        )
    );
    assert_eq!(
        outcomes(&metrics, "outcomes.shadowed", "get"),
        [1, 1, 0, 0],
        "`warn!` returning `Err` counts `error`"
    );
    assert_eq!(
        outcomes(&metrics, "outcomes.shadowed", "early"),
        [1, 1, 0, 0],
        "`println!` returning `Ok` counts `ok`"
    );
    assert_eq!(
        outcomes(&metrics, "outcomes.shadowed", "formatted"),
        [0, 1, 0, 0]
    );
    let errors: Vec<_> = captured
        .events_in("outcomes.shadowed.get")
        .into_iter()
        .filter_map(|event| event.field("error").map(str::to_owned))
        .collect();
    assert_eq!(errors, ["no key"]);
}

/// Under `#[track_caller]` the body stays inline and the value returned
/// through the macro is never seen: `unknown`, with no `err` event, whether
/// the macro returned `Err` or `Ok`. The exits the expansion sees stay exact.
#[test]
fn under_track_caller_an_exit_through_an_untrusted_macro_is_unknown() {
    let ((results, captured), metrics) = record_metrics(|| {
        capture(|| {
            (
                shadowed::located_get(0),
                shadowed::located_get(3),
                shadowed::located_early(0),
                shadowed::located_early(1),
                shadowed::located_opaque(0).map(|v| v.to_string()),
                shadowed::located_opaque(5).map(|v| v.to_string()),
            )
        })
    });
    assert_eq!(
        results,
        (
            Err("no key".to_owned()),
            Ok(3),
            Ok(7),
            Err("late".to_owned()),
            Ok("7".to_owned()),
            Ok("5".to_owned())
        )
    );
    let experiment = "outcomes.shadowed_track_caller";
    assert_eq!(outcomes(&metrics, experiment, "located_get"), [1, 0, 0, 1]);
    assert_eq!(
        outcomes(&metrics, experiment, "located_early"),
        [0, 1, 0, 1]
    );
    assert_eq!(
        outcomes(&metrics, experiment, "located_opaque"),
        [1, 0, 0, 1]
    );
    assert!(captured
        .events_in("outcomes.shadowed_track_caller.located_get")
        .iter()
        .all(|event| event.field("error").is_none()));
}

/// The cost of not trusting bare names, pinned: a body whose macros are all
/// named by their paths stays inline (its items are named as in the plain
/// function); the same body with a bare `format!` runs in the closure form.
#[test]
fn only_paths_into_known_crates_keep_the_body_inline() {
    #[alamos::experiment("outcomes.inline")]
    fn with_paths(x: u32) -> Result<&'static str, String> {
        struct Local;
        ::tracing::debug!(x, "checking");
        let text = ::std::format!("{x}");
        ::std::assert!(!text.is_empty());
        std::debug_assert_eq!(text.len(), 1);
        if x == 0 {
            return Err(::std::format!("zero: {text}"));
        }
        Ok(type_name::<Local>())
    }

    #[alamos::experiment("outcomes.inline")]
    fn bare(x: u32) -> Result<&'static str, String> {
        struct Local;
        let text = format!("{x}");
        if x == 0 {
            return Err(text);
        }
        Ok(type_name::<Local>())
    }

    let (names, metrics) = record_metrics(|| (with_paths(1), with_paths(0), bare(1), bare(0)));
    let inline = names.0.unwrap();
    assert!(inline.ends_with("::with_paths::Local"), "{inline}");
    assert!(!inline.contains("{{closure}}"), "{inline}");
    assert_eq!(names.1, Err("zero: 0".to_owned()));
    let closure = names.2.unwrap();
    assert!(closure.ends_with("::bare::{{closure}}::Local"), "{closure}");
    assert_eq!(names.3, Err("0".to_owned()));
    assert_eq!(
        outcomes(&metrics, "outcomes.inline", "with_paths"),
        [1, 1, 0, 0]
    );
    assert_eq!(outcomes(&metrics, "outcomes.inline", "bare"), [1, 1, 0, 0]);
}

// ------------------------------------------------- finding 8 shapes ----

/// Stamps out one body as a free function, a `#[track_caller]` function and
/// a method of an instrumented `impl`, all under `$key`.
macro_rules! forms {
    ($key:literal, $free:ident, $located:ident, $method:ident,
     ($($params:tt)*) -> $ret:ty $body:block) => {
        #[alamos::experiment($key)]
        fn $free($($params)*) -> $ret $body

        #[alamos::experiment($key)]
        #[track_caller]
        fn $located($($params)*) -> $ret $body

        #[alamos::experiment($key)]
        impl Forms {
            fn $method(&self, $($params)*) -> $ret $body
        }
    };
}

struct Forms;

/// A source of items for the loops below, as `Iterator::next` is in http's
/// `extend`.
fn take(items: &mut Vec<u32>) -> Option<u32> {
    items.pop()
}

// A tail that never completes: a `loop` left by `return` only.
forms!("outcomes.loop_tail", find, located_find, find_method,
    (mut items: Vec<u32>, wanted: u32) -> Result<u32, String> {
        'outer: loop {
            loop {
                match take(&mut items) {
                    Some(item) if item == wanted => return Ok(item),
                    Some(_) => continue 'outer,
                    None => return Err(::std::format!("no {wanted}")),
                }
            }
        }
    }
);

// http's `extend`: a `()` function whose tail never completes.
forms!("outcomes.loop_tail", drain, located_drain, drain_method,
    (mut items: Vec<u32>) -> () {
        'outer: loop {
            loop {
                match take(&mut items) {
                    Some(_) => continue 'outer,
                    None => return,
                }
            }
        }
    }
);

// A tail that panics, by a trusted and by an untrusted name.
forms!("outcomes.panic_tail", explode, located_explode, explode_method,
    (why: &str) -> Result<u32, String> {
        if why.is_empty() {
            return Ok(0);
        }
        ::std::panic!("{why}")
    }
);

forms!("outcomes.panic_tail", bare_explode, located_bare_explode, bare_explode_method,
    (why: &str) -> Result<u32, String> {
        if why.is_empty() {
            return Ok(0);
        }
        unreachable!("{why}")
    }
);

// A `match` on an uninhabited type: never called, but it must compile and
// classify the function's other shapes.
forms!("outcomes.never", absurd, located_absurd, absurd_method,
    (never: Infallible) -> Result<u32, String> {
        match never {}
    }
);

// Two alternative tails, one compiled in, as in http's `StatusCode::as_str`.
forms!("outcomes.cfg_tail", cfg_err, located_cfg_err, cfg_err_method,
    (x: u32) -> Result<u32, String> {
        #[cfg(any())]
        {
            Ok(x)
        }
        #[cfg(all())]
        {
            Err(::std::format!("{x} refused"))
        }
    }
);

forms!("outcomes.cfg_tail", cfg_ok, located_cfg_ok, cfg_ok_method,
    (x: u32) -> Result<u32, String> {
        #[cfg(all())]
        {
            Ok(x)
        }
        #[cfg(any())]
        unsafe {
            Err(::std::format!("{x} refused"))
        }
    }
);

// An attribute on the tail.
forms!("outcomes.attr_tail", attr_tail, located_attr_tail, attr_tail_method,
    (x: u32) -> Result<u32, String> {
        if x == 0 {
            return Err("zero".to_owned());
        }
        #[allow(unused_unsafe)]
        unsafe {
            Ok(x)
        }
    }
);

/// A macro the expansion does not know, as a tail.
macro_rules! checked {
    ($x:expr) => {
        if $x == 0 {
            Err(::std::format!("{} is zero", $x))
        } else {
            Ok($x)
        }
    };
}

forms!("outcomes.macro_tail", macro_tail, located_macro_tail, macro_tail_method,
    (x: u32) -> Result<u32, String> {
        checked!(x)
    }
);

forms!("outcomes.macro_tail", known_macro_tail, located_known_macro_tail, known_macro_tail_method,
    (x: u32) -> String {
        ::std::format!("{x}")
    }
);

/// Every form of one function: `[free, #[track_caller], method]`.
macro_rules! each_form {
    ($free:ident, $located:ident, $method:ident, ($($arg:expr),*)) => {
        [
            $free($($arg),*),
            $located($($arg),*),
            Forms.$method($($arg),*),
        ]
    };
}

fn three<T: Clone>(value: T) -> [T; 3] {
    [value.clone(), value.clone(), value]
}

fn functions(free: &str, located: &str, method: &str) -> [String; 3] {
    [
        free.to_owned(),
        located.to_owned(),
        format!("Forms::{method}"),
    ]
}

#[test]
fn a_tail_that_never_completes_counts_its_returns() {
    let (results, metrics) = record_metrics(|| {
        let found = each_form!(find, located_find, find_method, (vec![1, 2, 3], 2));
        let missing = each_form!(find, located_find, find_method, (vec![1, 3], 2));
        each_form!(drain, located_drain, drain_method, (vec![1, 2]));
        (found, missing)
    });
    assert_eq!(results.0, three(Ok(2)));
    assert_eq!(results.1, three(Err("no 2".to_owned())));
    for function in functions("find", "located_find", "find_method") {
        assert_eq!(
            outcomes(&metrics, "outcomes.loop_tail", &function),
            [1, 1, 0, 0],
            "{function}"
        );
    }
    for function in functions("drain", "located_drain", "drain_method") {
        assert_eq!(
            outcomes(&metrics, "outcomes.loop_tail", &function),
            [1, 0, 0, 0],
            "{function}"
        );
    }
}

#[test]
fn a_tail_that_panics_counts_panic() {
    let calls: [fn(&str) -> Result<u32, String>; 6] = [
        explode,
        located_explode,
        |why| Forms.explode_method(why),
        bare_explode,
        located_bare_explode,
        |why| Forms.bare_explode_method(why),
    ];
    let (results, metrics) = record_metrics(|| {
        calls.map(|call| {
            let ok = call("");
            let unwound = std::panic::catch_unwind(|| call("boom")).is_err();
            (ok, unwound)
        })
    });
    assert!(
        results.iter().all(|result| *result == (Ok(0), true)),
        "{results:?}"
    );
    for function in functions("explode", "located_explode", "explode_method")
        .into_iter()
        .chain(functions(
            "bare_explode",
            "located_bare_explode",
            "bare_explode_method",
        ))
    {
        assert_eq!(
            outcomes(&metrics, "outcomes.panic_tail", &function),
            [1, 0, 1, 0],
            "{function}"
        );
    }
}

#[test]
fn the_cfg_tail_compiled_in_is_classified() {
    let (results, metrics) = record_metrics(|| {
        (
            each_form!(cfg_err, located_cfg_err, cfg_err_method, (4)),
            each_form!(cfg_ok, located_cfg_ok, cfg_ok_method, (5)),
        )
    });
    assert_eq!(results.0, three(Err("4 refused".to_owned())));
    assert_eq!(results.1, three(Ok(5)));
    for function in functions("cfg_err", "located_cfg_err", "cfg_err_method") {
        assert_eq!(
            outcomes(&metrics, "outcomes.cfg_tail", &function),
            [0, 1, 0, 0],
            "{function}"
        );
    }
    for function in functions("cfg_ok", "located_cfg_ok", "cfg_ok_method") {
        assert_eq!(
            outcomes(&metrics, "outcomes.cfg_tail", &function),
            [1, 0, 0, 0],
            "{function}"
        );
    }
}

#[test]
fn a_tail_with_an_attribute_or_a_macro_is_classified() {
    let (results, metrics) = record_metrics(|| {
        (
            each_form!(attr_tail, located_attr_tail, attr_tail_method, (0)),
            each_form!(attr_tail, located_attr_tail, attr_tail_method, (6)),
            each_form!(macro_tail, located_macro_tail, macro_tail_method, (0)),
            each_form!(macro_tail, located_macro_tail, macro_tail_method, (7)),
            each_form!(
                known_macro_tail,
                located_known_macro_tail,
                known_macro_tail_method,
                (8)
            ),
        )
    });
    assert_eq!(results.0, three(Err("zero".to_owned())));
    assert_eq!(results.1, three(Ok(6)));
    assert_eq!(results.2, three(Err("0 is zero".to_owned())));
    assert_eq!(results.3, three(Ok(7)));
    assert_eq!(results.4, three("8".to_owned()));
    for (free, located, method, expected) in [
        (
            "attr_tail",
            "located_attr_tail",
            "attr_tail_method",
            [1, 1, 0, 0],
        ),
        (
            "macro_tail",
            "located_macro_tail",
            "macro_tail_method",
            [1, 1, 0, 0],
        ),
        (
            "known_macro_tail",
            "located_known_macro_tail",
            "known_macro_tail_method",
            [1, 0, 0, 0],
        ),
    ] {
        let experiment = if free == "attr_tail" {
            "outcomes.attr_tail"
        } else {
            "outcomes.macro_tail"
        };
        for function in functions(free, located, method) {
            assert_eq!(
                outcomes(&metrics, experiment, &function),
                expected,
                "{function}"
            );
        }
    }
}

/// The same shapes in an `async fn`, whose body is a future classified when
/// it completes.
#[test]
fn the_shapes_in_an_async_fn() {
    #[alamos::experiment("outcomes.async")]
    async fn find(mut items: Vec<u32>, wanted: u32) -> Result<u32, String> {
        'outer: loop {
            loop {
                match take(&mut items) {
                    Some(item) if item == wanted => return Ok(item),
                    Some(_) => continue 'outer,
                    None => return Err(::std::format!("no {wanted}")),
                }
            }
        }
    }

    #[alamos::experiment("outcomes.async")]
    async fn cfg_err(x: u32) -> Result<u32, String> {
        #[cfg(any())]
        {
            Ok(x)
        }
        #[cfg(all())]
        {
            Err(::std::format!("{x} refused"))
        }
    }

    #[alamos::experiment("outcomes.async")]
    async fn macro_tail(x: u32) -> Result<u32, String> {
        checked!(x)
    }

    #[alamos::experiment("outcomes.async")]
    async fn absurd(never: Infallible) -> Result<u32, String> {
        match never {}
    }

    let _: fn(Infallible) -> _ = absurd;
    let (results, metrics) = record_metrics(|| {
        alamos_tests::block_on(async {
            (
                find(vec![1, 2], 2).await,
                find(vec![1], 2).await,
                cfg_err(3).await,
                macro_tail(0).await,
                macro_tail(1).await,
            )
        })
    });
    assert_eq!(
        results,
        (
            Ok(2),
            Err("no 2".to_owned()),
            Err("3 refused".to_owned()),
            Err("0 is zero".to_owned()),
            Ok(1)
        )
    );
    assert_eq!(outcomes(&metrics, "outcomes.async", "find"), [1, 1, 0, 0]);
    assert_eq!(
        outcomes(&metrics, "outcomes.async", "cfg_err"),
        [0, 1, 0, 0]
    );
    assert_eq!(
        outcomes(&metrics, "outcomes.async", "macro_tail"),
        [1, 1, 0, 0]
    );
}

/// `unknown` is an outcome like the others: a label value of
/// `alamos_calls_total`, listed in `Outcome::ALL`.
#[test]
fn an_unknown_outcome_is_exported_with_its_label() {
    let (early, metrics) = record_metrics(|| shadowed::located_early(0));
    assert_eq!(early, Ok(7));
    assert_eq!(
        metrics.calls("outcomes.shadowed_track_caller", "located_early", "unknown"),
        1
    );
    assert_eq!(alamos::Outcome::Unknown.as_str(), "unknown");
    assert_eq!(alamos::Outcome::Unknown.to_string(), "unknown");
    assert!(alamos::Outcome::ALL.contains(&alamos::Outcome::Unknown));
}

/// The functions on an uninhabited argument cannot be called; naming them
/// shows they compiled in every form.
#[test]
fn a_match_on_an_uninhabited_type_compiles_in_every_form() {
    let forms: [fn(Infallible) -> Result<u32, String>; 3] =
        [absurd, located_absurd, |never| Forms.absurd_method(never)];
    assert_eq!(forms.len(), 3);
}
