//! The span an enabled call opens: its name, level, fields and events.

// Methods instrumented here are linted as plain methods would be (the
// expansion keeps their spans); fixtures take `&self` without using it.
#![allow(clippy::unused_self)]

use alamos::Level;
use alamos_tests::capture;

#[derive(Debug)]
struct Failure(&'static str);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "failure: {}", self.0)
    }
}

#[test]
fn span_is_named_key_dot_fn_with_the_alamos_fields() {
    #[alamos::experiment("spans.naming")]
    fn flush_buffer(n: u32) -> u32 {
        n + 1
    }

    let (value, captured) = capture(|| flush_buffer(1));
    assert_eq!(value, 2);
    let span = captured.span("spans.naming.flush_buffer");
    assert_eq!(span.field("alamos.experiment"), Some("spans.naming"));
    assert_eq!(span.field("code.function"), Some("flush_buffer"));
    assert_eq!(span.field("code.namespace"), Some("spans"));
    assert_eq!(
        span.level,
        tracing::Level::INFO,
        "the default level is prod"
    );
    assert!(span.closed, "the span closes when the call returns");
    assert_eq!(span.entered, 1);
    assert_eq!(span.exited, 1);
}

mod storage {
    pub(crate) mod cesium {
        #[alamos::experiment("spans.namespace")]
        pub(crate) fn write() {}
    }
}

#[test]
fn code_namespace_is_the_module_path() {
    let ((), captured) = capture(storage::cesium::write);
    let span = captured.span("spans.namespace.write");
    assert_eq!(span.field("code.namespace"), Some("spans::storage::cesium"));
}

#[test]
fn methods_of_an_instrumented_impl_are_type_colon_method() {
    struct FrameWriter {
        written: usize,
    }

    #[alamos::experiment("spans.impl_block")]
    impl FrameWriter {
        fn new() -> Self {
            FrameWriter { written: 0 }
        }

        fn write(&mut self, frame: &[u8]) -> usize {
            self.written += frame.len();
            self.written
        }
    }

    let (written, captured) = capture(|| {
        let mut writer = FrameWriter::new();
        writer.write(&[1, 2]);
        writer.write(&[3])
    });
    assert_eq!(written, 3);
    let new = captured.span("spans.impl_block.new");
    assert_eq!(new.field("code.function"), Some("FrameWriter::new"));
    let writes = captured.spans_named("spans.impl_block.write");
    assert_eq!(writes.len(), 2);
    for write in writes {
        assert_eq!(write.field("code.function"), Some("FrameWriter::write"));
        assert_eq!(write.field("alamos.experiment"), Some("spans.impl_block"));
    }
}

#[test]
fn methods_of_an_instrumented_trait_impl_are_type_colon_method() {
    trait Codec {
        fn encode(&self, value: u32) -> Vec<u8>;
        fn name() -> &'static str;
    }

    struct Varint;

    #[alamos::experiment("spans.trait_impl")]
    impl Codec for Varint {
        fn encode(&self, value: u32) -> Vec<u8> {
            value.to_le_bytes().to_vec()
        }

        fn name() -> &'static str {
            "varint"
        }
    }

    let ((bytes, name), captured) = capture(|| (Varint.encode(7), Varint::name()));
    assert_eq!(bytes, [7, 0, 0, 0]);
    assert_eq!(name, "varint");
    let encode = captured.span("spans.trait_impl.encode");
    assert_eq!(encode.field("code.function"), Some("Varint::encode"));
    let name = captured.span("spans.trait_impl.name");
    assert_eq!(name.field("code.function"), Some("Varint::name"));
}

#[test]
fn methods_of_an_instrumented_generic_impl_name_the_type_without_parameters() {
    struct Buffer<T> {
        items: Vec<T>,
    }

    #[alamos::experiment("spans.generic_impl")]
    impl<T: Clone> Buffer<T> {
        fn push(&mut self, item: T) -> usize {
            self.items.push(item);
            self.items.len()
        }
    }

    let (len, captured) = capture(|| {
        let mut buffer = Buffer { items: vec![1_u8] };
        let mut strings = Buffer {
            items: Vec::<String>::new(),
        };
        strings.push("a".to_owned());
        buffer.push(2)
    });
    assert_eq!(len, 2);
    let spans = captured.spans_named("spans.generic_impl.push");
    assert_eq!(spans.len(), 2, "{captured:#?}");
    for span in spans {
        assert_eq!(span.field("code.function"), Some("Buffer::push"));
    }
}

#[test]
fn name_argument_replaces_the_function_part() {
    #[alamos::experiment("spans.renamed", name = "write_frame")]
    fn write(n: u32) -> u32 {
        n
    }

    let (n, captured) = capture(|| write(4));
    assert_eq!(n, 4);
    assert!(captured.spans_named("spans.renamed.write").is_empty());
    let span = captured.span("spans.renamed.write_frame");
    assert_eq!(span.field("code.function"), Some("write_frame"));
}

#[test]
fn fields_record_arguments_and_expressions() {
    #[derive(Debug)]
    struct Config {
        retries: u8,
    }

    #[alamos::experiment(
        "spans.fields",
        fields(x, len = v.len(), %d, ?dbg, doubled = x * 2, shown = %name)
    )]
    #[allow(clippy::needless_pass_by_value)]
    fn run(x: u64, v: Vec<u8>, d: std::net::Ipv4Addr, dbg: Config, name: &str) -> usize {
        v.len() + usize::from(dbg.retries) + name.len() + usize::from(d.is_loopback())
    }

    let (n, captured) = capture(|| {
        run(
            21,
            vec![1, 2, 3],
            std::net::Ipv4Addr::LOCALHOST,
            Config { retries: 2 },
            "cesium",
        )
    });
    assert_eq!(n, 12);
    let span = captured.span("spans.fields.run");
    assert_eq!(span.field("x"), Some("21"));
    assert_eq!(span.field("len"), Some("3"));
    assert_eq!(span.field("d"), Some("127.0.0.1"));
    assert_eq!(span.field("dbg"), Some("Config { retries: 2 }"));
    assert_eq!(span.field("doubled"), Some("42"));
    assert_eq!(span.field("shown"), Some("cesium"));
    assert!(
        span.field("v").is_none(),
        "only named arguments are recorded"
    );
    assert!(
        span.field("name").is_none(),
        "only named arguments are recorded"
    );
}

#[test]
fn nothing_about_arguments_is_recorded_by_default() {
    #[alamos::experiment("spans.private")]
    #[allow(clippy::needless_pass_by_value)]
    fn login(user: &str, token: String, attempt: u32) -> bool {
        !user.is_empty() && !token.is_empty() && attempt > 3
    }

    let (ok, captured) = capture(|| login("ada_lovelace", "tok-8c1f99".to_owned(), 1234));
    assert!(ok);
    let span = captured.span("spans.private.login");
    let names: Vec<&str> = span.fields.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["alamos.experiment", "code.function", "code.namespace"],
        "{span:#?}"
    );
    assert!(!captured.mentions("ada_lovelace"));
    assert!(!captured.mentions("tok-8c1f99"));
    assert!(!captured.mentions("1234"));
}

#[test]
fn redacted_argument_is_recorded_only_as_redacted() {
    #[alamos::experiment("spans.redact", redact(password))]
    fn authenticate(user: &str, password: &str) -> bool {
        user.len() < password.len()
    }

    let (ok, captured) = capture(|| authenticate("ada", "hunter2-s3cret"));
    assert!(ok);
    let span = captured.span("spans.redact.authenticate");
    assert_eq!(span.field("password"), Some("<redacted>"));
    assert!(span.field("user").is_none());
    assert!(!captured.mentions("hunter2-s3cret"), "{captured:#?}");
}

#[test]
fn redact_wins_over_fields_naming_the_same_argument() {
    #[alamos::experiment("spans.redact_fields", fields(user, %password, ?pin), redact(password, pin), ret, err)]
    fn authenticate(user: &str, password: &str, pin: u32) -> Result<u32, Failure> {
        if password.is_empty() {
            return Err(Failure("empty"));
        }
        Ok(pin % 10)
    }

    let (result, captured) = capture(|| authenticate("ada", "hunter2-s3cret", 918_273));
    assert_eq!(result.unwrap(), 3);
    let span = captured.span("spans.redact_fields.authenticate");
    assert_eq!(span.field("user"), Some("ada"));
    assert_eq!(span.field("password"), Some("<redacted>"));
    assert_eq!(span.field("pin"), Some("<redacted>"));
    assert!(!captured.mentions("hunter2-s3cret"), "{captured:#?}");
    assert!(!captured.mentions("918273"), "{captured:#?}");
}

#[test]
fn ret_records_the_returned_value_as_an_event_in_the_span() {
    #[alamos::experiment("spans.ret", ret)]
    fn square(x: u32) -> u32 {
        if x == 0 {
            return 0;
        }
        x * x
    }

    let ((nine, zero), captured) = capture(|| (square(3), square(0)));
    assert_eq!((nine, zero), (9, 0));
    let events = captured.events_in("spans.ret.square");
    let values: Vec<_> = events.iter().map(|e| e.field("return")).collect();
    assert_eq!(values, [Some("9"), Some("0")], "{captured:#?}");
    assert!(events.iter().all(|e| e.level == tracing::Level::INFO));
}

#[test]
fn err_records_the_error_as_an_event_in_the_span() {
    #[alamos::experiment("spans.err", err)]
    fn check(x: u32) -> Result<u32, Failure> {
        if x == 0 {
            return Err(Failure("zero"));
        }
        if x > 100 {
            Err(Failure("too big"))
        } else {
            Ok(x)
        }
    }

    let (results, captured) = capture(|| [check(0), check(500), check(5)]);
    assert!(results[0].is_err() && results[1].is_err());
    assert_eq!(results[2].as_ref().unwrap(), &5);
    let events = captured.events_in("spans.err.check");
    let errors: Vec<_> = events.iter().map(|e| e.field("error")).collect();
    assert_eq!(
        errors,
        [Some("failure: zero"), Some("failure: too big")],
        "Display by default, nothing for Ok: {captured:#?}"
    );
    assert!(events.iter().all(|e| e.level == tracing::Level::ERROR));
}

#[test]
fn err_debug_records_the_error_with_debug() {
    #[alamos::experiment("spans.err_debug", err(Debug))]
    fn check(x: u32) -> Result<u32, Failure> {
        if x == 0 {
            Err(Failure("zero"))
        } else {
            Ok(x)
        }
    }

    let (result, captured) = capture(|| check(0));
    assert!(result.is_err());
    let events = captured.events_in("spans.err_debug.check");
    assert_eq!(events.len(), 1, "{captured:#?}");
    assert_eq!(events[0].field("error"), Some("Failure(\"zero\")"));
}

#[test]
fn err_records_an_error_leaving_through_question_mark() {
    #[derive(Debug)]
    struct Wrapped(Failure);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "wrapped {}", self.0)
        }
    }

    impl From<Failure> for Wrapped {
        fn from(failure: Failure) -> Self {
            Wrapped(failure)
        }
    }

    fn inner(fail: bool) -> Result<u32, Failure> {
        if fail {
            Err(Failure("inner"))
        } else {
            Ok(1)
        }
    }

    #[alamos::experiment("spans.err_try", err)]
    fn outer(fail: bool) -> Result<u32, Wrapped> {
        let value = inner(fail)?;
        Ok(value + 1)
    }

    let ((failed, passed), captured) = capture(|| (outer(true), outer(false)));
    assert_eq!(failed.unwrap_err().to_string(), "wrapped failure: inner");
    assert_eq!(passed.unwrap(), 2);
    let spans = captured.spans_named("spans.err_try.outer");
    assert_eq!(spans.len(), 2);
    let events = captured.events_in("spans.err_try.outer");
    assert_eq!(events.len(), 1, "exactly one error event: {captured:#?}");
    assert_eq!(events[0].level, tracing::Level::ERROR);
    let error = events[0].field("error").unwrap();
    assert!(error.contains("failure: inner"), "{error}");
}

#[test]
fn ret_records_a_value_returned_through_question_mark() {
    fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
        s.parse()
    }

    #[alamos::experiment("spans.ret_try", ret)]
    fn load(s: &str) -> Result<u32, std::num::ParseIntError> {
        let n = parse(s)?;
        Ok(n)
    }

    let ((ok, err), captured) = capture(|| (load("7"), load("x")));
    assert_eq!(ok, Ok(7));
    assert!(err.is_err());
    let returns: Vec<_> = captured
        .events_in("spans.ret_try.load")
        .iter()
        .map(|e| e.field("return").map(str::to_owned))
        .collect();
    assert_eq!(returns.len(), 2, "one return event per call: {captured:#?}");
    assert_eq!(returns[0].as_deref(), Some("Ok(7)"));
    assert!(
        returns[1].as_deref().is_some_and(|r| r.starts_with("Err(")),
        "{returns:?}"
    );
}

#[test]
fn span_level_maps_alamos_levels_to_tracing_levels() {
    #[alamos::experiment("spans.level_map.bench", level = bench)]
    fn bench() {}
    #[alamos::experiment("spans.level_map.trace", level = trace)]
    fn trace() {}
    #[alamos::experiment("spans.level_map.debug", level = debug)]
    fn debug() {}
    #[alamos::experiment("spans.level_map.prod", level = prod)]
    fn prod() {}
    #[alamos::experiment("spans.level_map.info", level = info)]
    fn info() {}
    #[alamos::experiment("spans.level_map.warn", level = warn)]
    fn warn() {}
    #[alamos::experiment("spans.level_map.error", level = error)]
    fn error() {}

    alamos::set_level("spans.level_map", Level::Bench).unwrap();
    let ((), captured) = capture(|| {
        bench();
        trace();
        debug();
        prod();
        info();
        warn();
        error();
    });
    let expected = [
        ("spans.level_map.bench.bench", tracing::Level::TRACE),
        ("spans.level_map.trace.trace", tracing::Level::TRACE),
        ("spans.level_map.debug.debug", tracing::Level::DEBUG),
        ("spans.level_map.prod.prod", tracing::Level::INFO),
        ("spans.level_map.info.info", tracing::Level::INFO),
        ("spans.level_map.warn.warn", tracing::Level::WARN),
        ("spans.level_map.error.error", tracing::Level::ERROR),
    ];
    for (name, level) in expected {
        assert_eq!(captured.span(name).level, level, "{name}");
    }
}

#[test]
fn instrumented_calls_nest_as_parent_and_child() {
    #[alamos::experiment("spans.nesting")]
    fn outer() -> u32 {
        middle() + middle()
    }

    #[alamos::experiment("spans.nesting")]
    fn middle() -> u32 {
        inner()
    }

    #[alamos::experiment("spans.nesting.deep")]
    fn inner() -> u32 {
        1
    }

    let (n, captured) = capture(outer);
    assert_eq!(n, 2);
    assert_eq!(captured.span("spans.nesting.outer").parent, None);
    let middles = captured.spans_named("spans.nesting.middle");
    assert_eq!(middles.len(), 2);
    for middle in &middles {
        assert_eq!(middle.parent.as_deref(), Some("spans.nesting.outer"));
    }
    let inners = captured.spans_named("spans.nesting.deep.inner");
    assert_eq!(inners.len(), 2);
    for inner in &inners {
        assert_eq!(inner.parent.as_deref(), Some("spans.nesting.middle"));
    }
}

#[test]
fn level_attribute_above_or_below_experiment() {
    #[alamos::level(debug)]
    #[alamos::experiment("spans.level_attr.above")]
    fn above() -> u8 {
        1
    }

    #[alamos::experiment("spans.level_attr.below")]
    #[alamos::level(warn)]
    fn below() -> u8 {
        2
    }

    let ((a, b), captured) = capture(|| (above(), below()));
    assert_eq!((a, b), (1, 2));
    assert!(
        captured
            .spans_named("spans.level_attr.above.above")
            .is_empty(),
        "debug is below the default threshold prod: {captured:#?}"
    );
    assert_eq!(
        captured.span("spans.level_attr.below.below").level,
        tracing::Level::WARN
    );

    alamos::set_level("spans.level_attr.above", Level::Debug).unwrap();
    let (a, captured) = capture(above);
    assert_eq!(a, 1);
    assert_eq!(
        captured.span("spans.level_attr.above.above").level,
        tracing::Level::DEBUG
    );

    let experiments = alamos::experiments();
    let level_of = |key: &str| {
        experiments
            .iter()
            .find(|e| e.key() == key)
            .map(alamos::Experiment::level)
    };
    assert_eq!(level_of("spans.level_attr.above"), Some(Level::Debug));
    assert_eq!(level_of("spans.level_attr.below"), Some(Level::Warn));
}

#[test]
fn level_attribute_on_one_method_of_an_instrumented_impl() {
    struct Relay;

    #[alamos::experiment("spans.method_level", level = warn)]
    impl Relay {
        fn send(&self) -> u8 {
            1
        }

        #[alamos::level(error)]
        fn fail(&self) -> u8 {
            2
        }

        #[alamos::level(bench)]
        fn trace_frame(&self) -> u8 {
            3
        }
    }

    alamos::set_level("spans.method_level", Level::Bench).unwrap();
    let (sum, captured) = capture(|| Relay.send() + Relay.fail() + Relay.trace_frame());
    assert_eq!(sum, 6);
    assert_eq!(
        captured.span("spans.method_level.send").level,
        tracing::Level::WARN
    );
    assert_eq!(
        captured.span("spans.method_level.fail").level,
        tracing::Level::ERROR
    );
    assert_eq!(
        captured.span("spans.method_level.trace_frame").level,
        tracing::Level::TRACE
    );
}

#[test]
fn level_attribute_above_an_instrumented_impl() {
    struct Cache;

    #[alamos::level(debug)]
    #[alamos::experiment("spans.impl_level_above")]
    impl Cache {
        fn get(&self) -> u8 {
            7
        }
    }

    let (v, captured) = capture(|| Cache.get());
    assert_eq!(v, 7);
    assert!(captured.spans().is_empty(), "{captured:#?}");
    alamos::set_level("spans.impl_level_above", Level::Debug).unwrap();
    let (v, captured) = capture(|| Cache.get());
    assert_eq!(v, 7);
    assert_eq!(
        captured.span("spans.impl_level_above.get").level,
        tracing::Level::DEBUG
    );
}

#[test]
fn skip_leaves_one_method_uninstrumented() {
    struct Index(u32);

    #[alamos::experiment("spans.skip")]
    impl Index {
        fn lookup(&self, key: u32) -> u32 {
            self.hash(key)
        }

        #[alamos::skip]
        fn hash(&self, key: u32) -> u32 {
            key.wrapping_mul(self.0)
        }
    }

    let index = Index(31);
    let (v, captured) = capture(|| (index.lookup(2), index.hash(3)));
    assert_eq!(v, (62, 93));
    assert_eq!(captured.spans().len(), 1, "{captured:#?}");
    assert_eq!(captured.span("spans.skip.lookup").entered, 1);
    assert!(captured.spans_named("spans.skip.hash").is_empty());
}

#[test]
fn method_of_an_instrumented_impl_takes_its_own_fields() {
    struct Node {
        id: u32,
    }

    #[alamos::experiment("spans.method_fields")]
    impl Node {
        #[alamos::experiment(fields(frame, node = self.id))]
        fn write(&self, frame: u64) -> u64 {
            frame + u64::from(self.id)
        }
    }

    let (v, captured) = capture(|| Node { id: 3 }.write(10));
    assert_eq!(v, 13);
    let span = captured.span("spans.method_fields.write");
    assert_eq!(span.field("frame"), Some("10"));
    assert_eq!(span.field("node"), Some("3"));
    assert_eq!(span.field("code.function"), Some("Node::write"));
}

#[test]
fn disabled_callsite_opens_no_span_and_evaluates_no_field() {
    use std::cell::Cell;

    #[alamos::experiment("spans.disabled", level = debug, fields(seen = probe.replace(true)))]
    fn quiet(probe: &Cell<bool>) -> u8 {
        5
    }

    let probe = Cell::new(false);
    let (v, captured) = capture(|| quiet(&probe));
    assert_eq!(v, 5);
    assert!(captured.spans().is_empty(), "{captured:#?}");
    assert!(
        !probe.get(),
        "a field expression ran for a disabled callsite"
    );
}

/// The span's metadata is the callsite's own: built once in a `static` by the
/// expansion, with the function's location, not the macro's.
#[test]
fn span_metadata_names_the_function_and_where_it_is() {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    type Seen = Arc<Mutex<Vec<&'static tracing::Metadata<'static>>>>;
    struct Metadata(Seen);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Metadata {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: Context<'_, S>,
        ) {
            self.0.lock().unwrap().push(attrs.metadata());
        }
    }

    #[alamos::experiment("spans.metadata")]
    fn located() {}
    let line = line!() - 2;

    let seen = Seen::default();
    let subscriber = tracing_subscriber::registry().with(Metadata(Arc::clone(&seen)));
    tracing::subscriber::with_default(subscriber, || {
        located();
        located();
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(std::ptr::eq(seen[0], seen[1]), "one metadata per callsite");
    let metadata = seen[0];
    assert_eq!(metadata.name(), "spans.metadata.located");
    assert_eq!(metadata.target(), "spans");
    assert_eq!(metadata.module_path(), Some("spans"));
    assert_eq!(metadata.file(), Some(file!()));
    assert!(
        metadata.line().is_some_and(|at| at.abs_diff(line) <= 1),
        "{:?} is not near line {line}",
        metadata.line()
    );
    assert!(metadata.is_span());
    assert_eq!(*metadata.level(), tracing::Level::INFO);
    let fields: Vec<&str> = metadata.fields().iter().map(|f| f.name()).collect();
    assert_eq!(
        fields,
        [
            "alamos.experiment",
            "code.function",
            "code.namespace",
            "otel.status_code"
        ]
    );
}
