//! Thresholds (`set_level`, `set_directives`, `ALAMOS_LEVEL`), the log macros
//! and the experiment list.
//!
//! Thresholds are process-wide and `set_directives` replaces all of them, so
//! every test here holds `LOCK` and starts from the defaults. `ALAMOS_LEVEL`
//! is read once per process: those tests run `alamos_level_probe` in a child
//! process with the variable set.

// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unused_async)]
// Methods instrumented here are linted as plain methods would be (the
// expansion keeps their spans); fixtures take `&self` without using it.
#![allow(clippy::unused_self)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::process::Output;
use std::sync::{Mutex, MutexGuard, PoisonError};

use alamos::{Level, LevelFilter, SetLevelError};
use alamos_tests::capture;

static LOCK: Mutex<()> = Mutex::new(());

/// Serializes the tests of this file and resets every threshold.
fn exclusive() -> MutexGuard<'static, ()> {
    let guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    alamos::set_directives("").expect("an empty spec is valid");
    guard
}

#[alamos::experiment("levels.tree")]
fn tree_node() {}

#[alamos::experiment("levels.tree.leaf", level = bench)]
fn leaf() {}

#[alamos::experiment("levels.tree.loud", level = error)]
fn loud() {}

#[alamos::experiment("levels.treetop")]
fn treetop() {}

/// Which of the `levels.tree*` functions open a span right now.
fn enabled_now() -> BTreeMap<&'static str, bool> {
    let ((), captured) = capture(|| {
        tree_node();
        leaf();
        loud();
        treetop();
    });
    [
        ("levels.tree", "levels.tree.tree_node"),
        ("levels.tree.leaf", "levels.tree.leaf.leaf"),
        ("levels.tree.loud", "levels.tree.loud.loud"),
        ("levels.treetop", "levels.treetop.treetop"),
    ]
    .into_iter()
    .map(|(key, span)| (key, !captured.spans_named(span).is_empty()))
    .collect()
}

fn threshold(key: &str) -> LevelFilter {
    alamos::threshold(key).unwrap()
}

#[test]
fn unset_thresholds_are_prod() {
    let _guard = exclusive();
    for key in [
        "",
        "levels",
        "levels.tree",
        "levels.tree.leaf",
        "levels.treetop",
    ] {
        assert_eq!(threshold(key), Level::Prod, "{key:?}");
    }
    let enabled = enabled_now();
    assert!(enabled["levels.tree"]);
    assert!(!enabled["levels.tree.leaf"], "bench is below prod");
    assert!(enabled["levels.tree.loud"]);
}

#[test]
fn set_level_sets_a_subtree_and_the_longest_prefix_wins() {
    let _guard = exclusive();
    alamos::set_level("levels.tree", Level::Error).unwrap();
    alamos::set_level("levels.tree.leaf", Level::Bench).unwrap();
    assert_eq!(threshold("levels.tree"), Level::Error);
    assert_eq!(threshold("levels.tree.loud"), Level::Error, "inherited");
    assert_eq!(threshold("levels.tree.leaf"), Level::Bench);
    assert_eq!(threshold("levels"), Level::Prod);
    assert_eq!(threshold(""), Level::Prod);
    let enabled = enabled_now();
    assert!(!enabled["levels.tree"], "prod is below error");
    assert!(enabled["levels.tree.leaf"], "the longer key wins");
    assert!(enabled["levels.tree.loud"]);

    // The order of the calls does not matter: the more specific key still wins.
    alamos::set_level("levels", Level::Bench).unwrap();
    assert_eq!(threshold("levels.tree"), Level::Error);
    assert_eq!(threshold("levels.treetop"), Level::Bench);
}

#[test]
fn prefixes_match_whole_segments_only() {
    let _guard = exclusive();
    alamos::set_level("levels.tree", LevelFilter::Off).unwrap();
    assert_eq!(threshold("levels.treetop"), Level::Prod);
    let enabled = enabled_now();
    assert!(
        enabled["levels.treetop"],
        "`levels.tree` does not cover `levels.treetop`"
    );
    assert!(!enabled["levels.tree"]);
    assert!(
        !enabled["levels.tree.loud"],
        "off disables every level below it"
    );
}

#[test]
fn off_at_the_root_disables_everything() {
    let _guard = exclusive();
    alamos::set_level("", LevelFilter::Off).unwrap();
    let enabled = enabled_now();
    assert!(enabled.values().all(|on| !on), "{enabled:?}");
    let ((), captured) = capture(|| alamos::error!("even errors"));
    assert!(captured.events().is_empty(), "{captured:#?}");

    // A subtree can still be turned back on below an `off` root.
    alamos::set_level("levels.tree.loud", Level::Warn).unwrap();
    let enabled = enabled_now();
    assert!(enabled["levels.tree.loud"]);
    assert!(!enabled["levels.tree"]);
}

#[test]
fn set_level_rejects_unknown_and_malformed_keys_and_changes_nothing() {
    let _guard = exclusive();
    match alamos::set_level("levels.tre", Level::Bench) {
        Err(SetLevelError::UnknownExperiment(unknown)) => {
            assert_eq!(unknown.key(), "levels.tre");
            assert_eq!(unknown.nearest().first(), Some(&"levels.tree"), "{unknown}");
            assert!(unknown.to_string().contains("levels.tree"), "{unknown}");
        }
        other => panic!("expected an unknown experiment, got {other:?}"),
    }
    assert!(matches!(
        alamos::set_level("Levels.Tree", Level::Bench),
        Err(SetLevelError::InvalidKey(_))
    ));
    assert!(matches!(
        alamos::set_level("levels..tree", Level::Bench),
        Err(SetLevelError::InvalidKey(_))
    ));
    assert!(alamos::threshold("levels.nowhere").is_err());
    assert_eq!(threshold("levels.tree"), Level::Prod);
    assert_eq!(threshold("levels.tree.leaf"), Level::Prod);
}

#[test]
fn set_level_is_seen_by_threads_that_already_ran_the_callsite() {
    use std::sync::mpsc;

    let _guard = exclusive();
    let (ask, asked) = mpsc::channel::<()>();
    let (tell, told) = mpsc::channel::<bool>();
    let worker = std::thread::spawn(move || {
        for () in asked {
            let ((), captured) = capture(leaf);
            tell.send(!captured.spans().is_empty()).unwrap();
        }
    });
    ask.send(()).unwrap();
    assert!(!told.recv().unwrap(), "bench is off at first");
    alamos::set_level("levels.tree.leaf", Level::Bench).unwrap();
    ask.send(()).unwrap();
    assert!(
        told.recv().unwrap(),
        "the running thread sees the new threshold"
    );
    alamos::set_level("levels.tree.leaf", Level::Debug).unwrap();
    ask.send(()).unwrap();
    assert!(!told.recv().unwrap());
    drop(ask);
    worker.join().unwrap();
}

#[test]
fn set_directives_uses_the_alamos_level_grammar() {
    let _guard = exclusive();
    alamos::set_directives("warn,levels.tree=debug,levels.tree.leaf=bench,levels.tree.loud=off")
        .unwrap();
    assert_eq!(threshold(""), Level::Warn);
    assert_eq!(threshold("levels.treetop"), Level::Warn);
    assert_eq!(threshold("levels.tree"), Level::Debug);
    assert_eq!(threshold("levels.tree.leaf"), Level::Bench);
    assert_eq!(threshold("levels.tree.loud"), LevelFilter::Off);
    let enabled = enabled_now();
    assert_eq!(
        enabled,
        BTreeMap::from([
            ("levels.tree", true),
            ("levels.tree.leaf", true),
            ("levels.tree.loud", false),
            ("levels.treetop", false),
        ])
    );

    // It replaces every earlier threshold.
    alamos::set_directives("levels.treetop=error").unwrap();
    assert_eq!(threshold(""), Level::Prod);
    assert_eq!(threshold("levels.tree.loud"), Level::Prod);
    assert_eq!(threshold("levels.treetop"), Level::Error);
}

#[test]
fn set_directives_accepts_the_trace_and_info_aliases() {
    let _guard = exclusive();
    alamos::set_directives("info,levels.tree=trace").unwrap();
    assert_eq!(threshold(""), Level::Prod);
    assert_eq!(threshold("levels.tree.leaf"), Level::Bench);
    assert!(enabled_now()["levels.tree.leaf"]);
}

#[test]
fn set_directives_reports_bad_directives_and_applies_the_rest() {
    let _guard = exclusive();
    let errors = alamos::set_directives(
        "debug,levels.tree=verbose,levels.tre=error,Levels.Tree=bench,levels.treetop=warn",
    )
    .unwrap_err();
    let reported: Vec<(usize, &str)> = errors
        .iter()
        .map(|error| (error.position, error.text.as_str()))
        .collect();
    assert_eq!(
        reported,
        [
            (2, "levels.tree=verbose"),
            (3, "levels.tre=error"),
            (4, "Levels.Tree=bench"),
        ]
    );
    assert!(errors[0].reason.contains("verbose"), "{}", errors[0]);
    assert!(
        errors[1].reason.contains("levels.tree"),
        "nearest known key: {}",
        errors[1]
    );
    assert!(errors[2].reason.contains('L'), "{}", errors[2]);
    assert_eq!(threshold(""), Level::Debug);
    assert_eq!(
        threshold("levels.tree"),
        Level::Debug,
        "the bad directive was skipped"
    );
    assert_eq!(threshold("levels.treetop"), Level::Warn);
}

#[test]
fn garbage_directives_never_panic_and_leave_defaults() {
    let _guard = exclusive();
    let garbage = [
        ",,,",
        "=",
        "==",
        "a=b=c",
        " = ",
        "levels.tree=",
        "=debug",
        ".=debug",
        "levels..tree=bench",
        "levels.tree=debug=bench",
        "\u{0}",
        "é=debug",
        "levels.tree = off , ,",
        "OFF",
        "Prod",
        "levels.tree=ΩMEGA",
        "x".repeat(10_000).as_str(),
    ]
    .map(str::to_owned);
    for spec in &garbage {
        let result = std::panic::catch_unwind(|| alamos::set_directives(spec));
        assert!(result.is_ok(), "set_directives({spec:?}) panicked");
    }
    alamos::set_directives("OFF").unwrap();
    assert_eq!(threshold(""), LevelFilter::Off, "levels ignore ASCII case");
    alamos::set_directives("levels.tree = off , ,").unwrap();
    assert_eq!(
        threshold("levels.tree"),
        LevelFilter::Off,
        "spaces around parts are fine"
    );
    assert_eq!(threshold(""), Level::Prod);
}

#[alamos::experiment("levels.logs", level = debug)]
fn log_everything() {
    alamos::bench!(which = "bench");
    alamos::debug!(which = "debug");
    alamos::prod!(which = "prod");
    alamos::info!(which = "info");
    alamos::warn!(which = "warn");
    alamos::error!(which = "error");
}

fn logged(captured: &alamos_tests::Captured) -> Vec<(String, tracing::Level, String)> {
    captured
        .events()
        .into_iter()
        .map(|event| {
            (
                event.field("which").unwrap_or_default().to_owned(),
                event.level,
                event
                    .field("alamos.experiment")
                    .unwrap_or("<none>")
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn log_macros_carry_the_experiment_even_when_its_span_is_disabled() {
    let _guard = exclusive();
    let ((), captured) = capture(log_everything);
    assert!(captured.spans().is_empty(), "the debug span is below prod");
    let key = "levels.logs".to_owned();
    assert_eq!(
        logged(&captured),
        [
            ("prod".to_owned(), tracing::Level::INFO, key.clone()),
            ("info".to_owned(), tracing::Level::INFO, key.clone()),
            ("warn".to_owned(), tracing::Level::WARN, key.clone()),
            ("error".to_owned(), tracing::Level::ERROR, key),
        ]
    );
}

#[test]
fn log_macros_are_gated_by_their_experiments_threshold() {
    let _guard = exclusive();
    alamos::set_level("levels.logs", Level::Bench).unwrap();
    let ((), captured) = capture(log_everything);
    let which: Vec<String> = logged(&captured).into_iter().map(|(w, _, _)| w).collect();
    assert_eq!(which, ["bench", "debug", "prod", "info", "warn", "error"]);
    assert!(
        captured
            .events()
            .iter()
            .all(|e| e.span.as_deref() == Some("levels.logs.log_everything")),
        "with the span enabled, the events are inside it: {captured:#?}"
    );
    assert_eq!(captured.events()[0].level, tracing::Level::TRACE);
    assert_eq!(captured.events()[1].level, tracing::Level::DEBUG);

    alamos::set_level("levels.logs", Level::Warn).unwrap();
    let ((), captured) = capture(log_everything);
    let which: Vec<String> = logged(&captured).into_iter().map(|(w, _, _)| w).collect();
    assert_eq!(which, ["warn", "error"]);

    alamos::set_level("levels.logs", LevelFilter::Off).unwrap();
    let ((), captured) = capture(log_everything);
    assert!(captured.events().is_empty(), "{captured:#?}");

    alamos::set_level("", LevelFilter::Off).unwrap();
    alamos::set_level("levels.logs", Level::Error).unwrap();
    let ((), captured) = capture(log_everything);
    let which: Vec<String> = logged(&captured).into_iter().map(|(w, _, _)| w).collect();
    assert_eq!(
        which,
        ["error"],
        "the experiment's threshold, not the root's"
    );
}

#[test]
fn log_macros_outside_instrumented_functions_belong_to_the_root() {
    let _guard = exclusive();
    let emit = || {
        alamos::debug!(which = "debug");
        alamos::info!(which = "info");
        alamos::warn!(which = "warn");
    };
    let ((), captured) = capture(emit);
    assert_eq!(
        logged(&captured),
        [
            ("info".to_owned(), tracing::Level::INFO, String::new()),
            ("warn".to_owned(), tracing::Level::WARN, String::new()),
        ]
    );

    alamos::set_level("", Level::Debug).unwrap();
    let ((), captured) = capture(emit);
    assert_eq!(logged(&captured).len(), 3);

    alamos::set_level("", Level::Warn).unwrap();
    let ((), captured) = capture(emit);
    let which: Vec<String> = logged(&captured).into_iter().map(|(w, _, _)| w).collect();
    assert_eq!(which, ["warn"]);
}

#[test]
fn log_macros_accept_tracing_field_syntax() {
    #[derive(Debug)]
    struct Config {
        retries: u8,
    }

    let _guard = exclusive();
    let name = "cesium";
    let config = Config { retries: 3 };
    let ((), captured) = capture(|| {
        alamos::warn!(count = 3, %name, ?config, "flushed {} frames", 12);
    });
    let events = captured.events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.field("count"), Some("3"));
    assert_eq!(event.field("name"), Some("cesium"));
    assert_eq!(event.field("config"), Some("Config { retries: 3 }"));
    assert_eq!(event.field("message"), Some("flushed 12 frames"));
    assert_eq!(event.field("alamos.experiment"), Some(""));
    assert_eq!(config.retries, 3, "the macro only borrowed it");
}

#[test]
fn log_macros_in_closures_methods_and_async_fns_carry_the_key() {
    struct Writer;

    #[alamos::experiment("levels.scoped")]
    impl Writer {
        fn write(&self) {
            let nested = || alamos::info!(which = "closure");
            nested();
            alamos::info!(which = "method");
        }

        async fn flush(&self) {
            alamos::info!(which = "async");
        }
    }

    let _guard = exclusive();
    let ((), captured) = capture(|| {
        Writer.write();
        alamos_tests::block_on(Writer.flush());
        alamos::info!(which = "outside");
    });
    let scoped: Vec<(String, String)> = logged(&captured)
        .into_iter()
        .map(|(which, _, key)| (which, key))
        .collect();
    assert_eq!(
        scoped,
        [
            ("closure".to_owned(), "levels.scoped".to_owned()),
            ("method".to_owned(), "levels.scoped".to_owned()),
            ("async".to_owned(), "levels.scoped".to_owned()),
            ("outside".to_owned(), String::new()),
        ]
    );
}

#[allow(dead_code)]
mod never_called {
    #[alamos::experiment("levels.never_called.free", level = warn)]
    pub(crate) fn free() {}

    #[alamos::experiment("levels.never_called.generic", level = debug)]
    pub(crate) fn generic<T: Default>() -> T {
        T::default()
    }

    #[alamos::experiment("levels.never_called.asynchronous")]
    pub(crate) async fn asynchronous() {}

    pub(crate) struct Holder<T>(T);

    #[alamos::experiment("levels.never_called.methods", level = bench)]
    impl<T> Holder<T> {
        pub(crate) fn get(&self) -> &T {
            &self.0
        }
    }
}

#[test]
fn experiments_lists_every_key_of_the_binary_even_never_called() {
    let _guard = exclusive();
    alamos::set_level("levels.tree", Level::Debug).unwrap();
    let experiments = alamos::experiments();
    let keys: Vec<&str> = experiments.iter().map(alamos::Experiment::key).collect();
    assert_eq!(
        keys,
        [
            "levels.logs",
            "levels.never_called.asynchronous",
            "levels.never_called.free",
            "levels.never_called.generic",
            "levels.never_called.methods",
            "levels.scoped",
            "levels.tree",
            "levels.tree.leaf",
            "levels.tree.loud",
            "levels.treetop",
        ],
        "sorted, named keys only, never the root: {experiments:#?}"
    );
    let find = |key: &str| experiments.iter().find(|e| e.key() == key).unwrap();
    let expected = [
        (
            "levels.never_called.free",
            Level::Warn,
            LevelFilter::from(Level::Prod),
        ),
        (
            "levels.never_called.generic",
            Level::Debug,
            Level::Prod.into(),
        ),
        (
            "levels.never_called.asynchronous",
            Level::Prod,
            Level::Prod.into(),
        ),
        (
            "levels.never_called.methods",
            Level::Bench,
            Level::Prod.into(),
        ),
        ("levels.tree", Level::Prod, Level::Debug.into()),
        ("levels.tree.leaf", Level::Bench, Level::Debug.into()),
        ("levels.tree.loud", Level::Error, Level::Debug.into()),
        ("levels.treetop", Level::Prod, Level::Prod.into()),
    ];
    for (key, level, threshold) in expected {
        let experiment = find(key);
        assert_eq!(experiment.level(), level, "{key}");
        assert_eq!(experiment.threshold(), threshold, "{key}");
    }
}

/// Runs the probe with `ALAMOS_LEVEL` set to `value`, or unset for `None`.
fn probe(value: Option<&OsStr>) -> Probe {
    let mut command = alamos_tests::probe_command(env!("CARGO_BIN_EXE_alamos_level_probe"));
    if let Some(value) = value {
        command.env(alamos::env::LEVEL, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the probe runs");
    let stdout = String::from_utf8(stdout).unwrap();
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(status.success(), "the probe failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    Probe { stdout, stderr }
}

#[derive(Debug)]
struct Probe {
    stdout: String,
    stderr: String,
}

impl Probe {
    /// `on`/`off` for each callsite and root log line.
    fn switches(&self) -> BTreeMap<&str, &str> {
        self.stdout
            .lines()
            .filter(|line| line.starts_with("call ") || line.starts_with("log "))
            .filter_map(|line| {
                let mut words = line.split(' ').skip(1);
                Some((words.next()?, words.next()?))
            })
            .collect()
    }

    fn is_on(&self, name: &str) -> bool {
        match self.switches().get(name) {
            Some(&"on") => true,
            Some(&"off") => false,
            _ => panic!("the probe did not report {name}: {self:#?}"),
        }
    }

    fn experiment(&self, key: &str) -> &str {
        let prefix = format!("experiment {key} ");
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no experiment {key}: {self:#?}"))
    }

    /// The stderr lines that mention `text`.
    fn reports(&self, text: &str) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.contains(text))
            .collect()
    }
}

#[test]
fn alamos_level_unset_means_prod() {
    let probe = probe(None);
    assert_eq!(probe.stderr, "");
    assert!(!probe.is_on("distribution.frame_writer.write"));
    assert!(!probe.is_on("distribution.relay.relay"));
    assert!(probe.is_on("storage.cesium.cesium_write"));
    assert!(probe.is_on("storage.kv.kv_get"));
    assert!(probe.is_on("api.serve"));
    assert!(!probe.is_on("api.trace_request"));
    assert!(!probe.is_on("root.debug"));
    assert!(probe.is_on("root.prod"));
    assert_eq!(probe.experiment("storage.kv"), "level=prod threshold=prod");
    assert_eq!(probe.experiment("api"), "level=debug threshold=prod");
}

#[test]
fn alamos_level_design_example() {
    let probe = probe(Some(OsStr::new(
        "prod,distribution=debug,distribution.frame_writer=bench,storage.cesium=off",
    )));
    assert_eq!(probe.stderr, "", "every directive is valid");
    assert!(probe.is_on("distribution.frame_writer.write"));
    assert!(probe.is_on("distribution.relay.relay"));
    assert!(
        !probe.is_on("storage.cesium.cesium_write"),
        "off disables even error"
    );
    assert!(probe.is_on("storage.kv.kv_get"));
    assert!(probe.is_on("api.serve"));
    assert!(!probe.is_on("api.trace_request"));
    assert!(!probe.is_on("root.debug"));
    assert!(probe.is_on("root.prod"));
    assert_eq!(
        probe.experiment("distribution.frame_writer"),
        "level=bench threshold=bench"
    );
    assert_eq!(
        probe.experiment("distribution.relay"),
        "level=debug threshold=debug"
    );
    assert_eq!(
        probe.experiment("storage.cesium"),
        "level=error threshold=off"
    );
    assert_eq!(probe.experiment("storage.kv"), "level=prod threshold=prod");
}

#[test]
fn alamos_level_accepts_aliases_and_off_at_the_root() {
    let probe = probe(Some(OsStr::new("info,distribution=trace")));
    assert_eq!(probe.stderr, "");
    assert!(probe.is_on("distribution.frame_writer.write"));
    assert!(!probe.is_on("api.trace_request"));

    let probe = self::probe(Some(OsStr::new("off")));
    assert_eq!(probe.stderr, "");
    let switches = probe.switches();
    assert!(switches.values().all(|on| *on == "off"), "{probe:#?}");
}

#[test]
fn alamos_level_malformed_directives_are_reported_and_the_rest_applies() {
    let probe = probe(Some(OsStr::new(
        "debug,storage=verbose,Distribution=bench,=warn,api=warn",
    )));
    let verbose = probe.reports("storage=verbose");
    assert_eq!(verbose.len(), 1, "{probe:#?}");
    assert!(verbose[0].contains("level"), "says why: {}", verbose[0]);
    let uppercase = probe.reports("Distribution=bench");
    assert_eq!(uppercase.len(), 1, "{probe:#?}");
    assert!(
        uppercase[0].contains("'D'") || uppercase[0].contains("uppercase"),
        "says why: {}",
        uppercase[0]
    );
    let no_key = probe.reports("\"=warn\"");
    assert_eq!(no_key.len(), 1, "{probe:#?}");
    assert!(no_key[0].contains("key"), "says why: {}", no_key[0]);
    assert!(probe.reports("api=warn").is_empty(), "{probe:#?}");
    assert!(
        probe.stderr.contains(alamos::env::LEVEL),
        "names the variable: {probe:#?}"
    );

    assert!(
        probe.is_on("distribution.relay.relay"),
        "root debug applies"
    );
    assert!(
        !probe.is_on("distribution.frame_writer.write"),
        "the bad directive was skipped"
    );
    assert!(
        probe.is_on("storage.kv.kv_get"),
        "storage falls back to the root's debug"
    );
    assert!(!probe.is_on("api.serve"), "api=warn applies");
    assert!(probe.is_on("root.debug"));
}

#[test]
fn alamos_level_unknown_keys_are_reported_with_the_nearest_known_keys() {
    let probe = probe(Some(OsStr::new(
        "prod,distribution.frame_writr=bench,dist=bench,storage.kv=debug",
    )));
    let typo = probe.reports("distribution.frame_writr");
    assert_eq!(typo.len(), 1, "{probe:#?}");
    assert!(typo[0].contains("distribution.frame_writer"), "{}", typo[0]);
    let prefix = probe.reports("\"dist\"");
    assert_eq!(prefix.len(), 1, "{probe:#?}");
    assert!(prefix[0].contains("distribution"), "{}", prefix[0]);
    assert!(probe.reports("storage.kv").is_empty(), "{probe:#?}");

    assert!(
        !probe.is_on("distribution.frame_writer.write"),
        "`dist` does not cover `distribution`"
    );
    assert_eq!(probe.experiment("storage.kv"), "level=prod threshold=debug");
}

#[test]
fn alamos_level_ancestors_of_named_keys_are_known() {
    let probe = probe(Some(OsStr::new("storage=warn")));
    assert_eq!(probe.stderr, "", "storage is the parent of storage.kv");
    assert!(!probe.is_on("storage.kv.kv_get"));
    assert!(probe.is_on("storage.cesium.cesium_write"));
}

#[test]
#[cfg(unix)]
fn alamos_level_that_is_not_utf8_is_reported_and_ignored() {
    use std::os::unix::ffi::OsStrExt;

    let probe = probe(Some(OsStr::from_bytes(b"debug,api=\xff")));
    assert!(probe.stderr.contains(alamos::env::LEVEL), "{probe:#?}");
    assert!(probe.stderr.contains("UTF-8"), "{probe:#?}");
    assert!(probe.is_on("storage.kv.kv_get"));
    assert!(!probe.is_on("distribution.relay.relay"), "defaults to prod");
    assert_eq!(probe.experiment("api"), "level=debug threshold=prod");
}
