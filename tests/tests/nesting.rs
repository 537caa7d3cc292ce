//! Instrumented items inside instrumented items: each log macro belongs to
//! the innermost instrumented function around it.

// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::items_after_statements)]
// Methods instrumented here are linted as plain methods would be (the
// expansion keeps their spans); fixtures take `&self` without using it.
#![allow(clippy::unused_self)]

use alamos_tests::capture;

#[alamos::experiment("nesting.outer")]
fn outer() -> u32 {
    alamos::info!("outer log");

    #[alamos::experiment("nesting.inner")]
    fn inner() -> u32 {
        alamos::info!("inner log");
        fn plain() {
            alamos::info!("plain fn inside inner");
        }
        plain();

        struct Deep;

        #[alamos::experiment("nesting.deep")]
        impl Deep {
            fn method(&self) {
                alamos::info!("deep method");
            }
        }
        Deep.method();
        1
    }

    let closure = || alamos::info!("closure in outer");
    closure();
    inner() + 1
}

#[test]
fn logs_belong_to_the_innermost_instrumented_function() {
    let (result, captured) = capture(|| {
        alamos::info!("outside");
        outer()
    });
    assert_eq!(result, 2);
    let experiment_of = |message: &str| {
        captured
            .events()
            .into_iter()
            .find(|event| event.field("message") == Some(message))
            .unwrap_or_else(|| panic!("no event {message:?} in {captured:#?}"))
            .field("alamos.experiment")
            .map(str::to_owned)
    };
    assert_eq!(experiment_of("outside").as_deref(), Some(""));
    assert_eq!(experiment_of("outer log").as_deref(), Some("nesting.outer"));
    assert_eq!(
        experiment_of("closure in outer").as_deref(),
        Some("nesting.outer")
    );
    assert_eq!(experiment_of("inner log").as_deref(), Some("nesting.inner"));
    assert_eq!(
        experiment_of("plain fn inside inner").as_deref(),
        Some("nesting.inner")
    );
    assert_eq!(
        experiment_of("deep method").as_deref(),
        Some("nesting.deep")
    );
    let deep = captured.span("nesting.deep.method");
    assert_eq!(deep.parent.as_deref(), Some("nesting.inner.inner"));
}

#[test]
fn nested_experiments_are_registered_at_start_up() {
    let keys: Vec<&str> = alamos::experiments()
        .iter()
        .map(alamos::Experiment::key)
        .collect();
    for key in ["nesting.outer", "nesting.inner", "nesting.deep"] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
}
