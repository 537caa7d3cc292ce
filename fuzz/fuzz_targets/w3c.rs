//! W3C trace context: `TraceParent::parse`, `TraceState::parse`,
//! `Baggage::parse`, and `depropagate`/`propagate` over a `HashMap` carrier.
//!
//! The input (lossily decoded as UTF-8) is read as carrier lines
//! `name:value`; each value, and the whole input, also goes through each
//! parser. Invariants:
//! - `TraceParent::parse` accepts exactly the W3C grammar (a reference
//!   parser), with the same ids and flags; a parsed value displays as a
//!   version-00 header that parses back to it (and that is the input,
//!   trimmed, when the input was version 00);
//! - a parsed `TraceState` has at most 32 members with unique keys and values
//!   in the grammar, displays as a header that parses back to it, and
//!   `from_pairs` of its members rebuilds it;
//! - a parsed `Baggage` has at most 180 entries with unique token keys,
//!   displays as a header no longer than its input that parses back to it;
//! - `depropagate` reads the first `traceparent` (or `alamos-traceparent`)
//!   that parses, the `tracestate` only with a parent, the `baggage`, each
//!   as the carrier's case-insensitive `get` finds it, and ignores what does
//!   not parse; it gives the same context for a `BTreeMap` carrier; injecting the context and reading it back gives the same
//!   context, and `propagate` inside it writes the same headers.
#![no_main]

use std::collections::{BTreeMap, HashMap};

use alamos::context::{Baggage, TraceParent, TraceState};
use alamos::{Carrier, RemoteContext};
use alamos_fuzz as reference;
use libfuzzer_sys::fuzz_target;

fn check_traceparent(text: &str) {
    let parsed = TraceParent::parse(text);
    let expected = reference::traceparent(text);
    match (&parsed, &expected) {
        (Ok(parent), Some((trace, span, flags))) => {
            assert_eq!(&parent.trace_id_hex(), trace);
            assert_eq!(&parent.parent_id_hex(), span);
            assert_eq!(format!("{:02x}", parent.flags()), *flags);
            assert_eq!(parent.is_sampled(), parent.flags() & 1 == 1);
            let header = parent.to_string();
            assert_eq!(header.len(), 55);
            assert!(header.starts_with("00-"));
            assert_eq!(TraceParent::parse(&header).as_ref(), Ok(parent));
            assert_eq!(header.parse::<TraceParent>().as_ref(), Ok(parent));
            let trimmed = text.trim_matches(|c| c == ' ' || c == '\t');
            if trimmed.starts_with("00") {
                assert_eq!(header, trimmed);
            }
            assert_eq!(
                TraceParent::new(parent.trace_id(), parent.parent_id(), parent.flags()).as_ref(),
                Some(parent)
            );
        }
        (Err(error), None) => {
            let _ = error.to_string();
        }
        _ => panic!("{text:?}: parsed {parsed:?}, reference {expected:?}"),
    }
}

fn check_tracestate(text: &str) {
    let Ok(state) = TraceState::parse(text) else {
        return;
    };
    assert!(state.len() <= 32);
    assert_eq!(state.is_empty(), state.iter().next().is_none());
    let mut keys: Vec<&str> = Vec::new();
    for (key, value) in state.iter() {
        assert!(reference::tracestate_key_is_valid(key), "{key:?}");
        assert!(reference::tracestate_value_is_valid(value), "{value:?}");
        assert!(!keys.contains(&key), "duplicate {key:?}");
        keys.push(key);
        assert_eq!(state.get(key), Some(value));
    }
    let header = state.to_string();
    assert_eq!(
        TraceState::parse(&header).as_ref(),
        Ok(&state),
        "{header:?}"
    );
    assert_eq!(TraceState::from_pairs(state.iter()).as_ref(), Ok(&state));
}

fn check_baggage(text: &str) {
    let Ok(baggage) = Baggage::parse(text) else {
        return;
    };
    assert!(text.len() <= 8192);
    assert!(baggage.len() <= 180);
    let mut keys: Vec<&str> = Vec::new();
    for (key, value) in baggage.iter() {
        assert!(reference::is_token(key), "{key:?}");
        assert!(!keys.contains(&key), "duplicate {key:?}");
        keys.push(key);
        assert_eq!(baggage.get(key), Some(value));
    }
    let header = baggage.to_string();
    assert!(header.len() <= text.len(), "{header:?} from {text:?}");
    assert_eq!(Baggage::parse(&header).as_ref(), Ok(&baggage), "{header:?}");
    // Values survive `insert` (which drops properties) and the header.
    let mut plain = Baggage::new();
    for (key, value) in baggage.iter() {
        plain.insert(key, value).unwrap();
    }
    let plain_header = plain.to_string();
    if plain_header.len() <= 8192 {
        let back = Baggage::parse(&plain_header).unwrap();
        assert!(back.iter().eq(baggage.iter()), "{plain_header:?}");
    }
}

/// What `depropagate` should read from a carrier, from its `Carrier::get`
/// answers: the first of `traceparent` and `alamos-traceparent` that parses;
/// with a parent, the `tracestate` (else `alamos-tracestate`) if it parses;
/// the `baggage` (else `alamos-baggage`) if it parses.
fn expected_context(
    carrier: &HashMap<String, String>,
) -> (Option<TraceParent>, TraceState, Baggage) {
    let get = |key: &str| Carrier::get(carrier, key);
    let either = |key: &str| get(key).or_else(|| get(&format!("alamos-{key}")));
    let parent = ["traceparent", "alamos-traceparent"]
        .into_iter()
        .find_map(|key| get(key).and_then(|value| TraceParent::parse(value).ok()));
    let state = parent
        .and_then(|_| either("tracestate"))
        .and_then(|value| TraceState::parse(value).ok())
        .unwrap_or_default();
    let baggage = either("baggage")
        .and_then(|value| Baggage::parse(value).ok())
        .unwrap_or_default();
    (parent, state, baggage)
}

fn check_carrier(carrier: &HashMap<String, String>) {
    let context = alamos::depropagate(carrier);
    let (parent, state, baggage) = expected_context(carrier);
    assert_eq!(context.parent(), parent.as_ref(), "{carrier:?}");
    assert_eq!(context.trace_state(), &state, "{carrier:?}");
    assert_eq!(context.baggage(), &baggage, "{carrier:?}");

    // Keys that differ only in case make the lookup order-dependent.
    let mut lower: Vec<String> = carrier.keys().map(|k| k.to_ascii_lowercase()).collect();
    lower.sort_unstable();
    lower.dedup();
    if lower.len() == carrier.len() {
        let tree: BTreeMap<String, String> = carrier
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(alamos::depropagate(&tree), context);
    }

    let mut injected = HashMap::new();
    context.inject(&mut injected);
    assert_eq!(alamos::depropagate(&injected), context, "{injected:?}");
    assert_eq!(injected.is_empty(), context.is_empty());
    let rebuilt = RemoteContext::new(
        context.parent().copied(),
        context.trace_state().clone(),
        context.baggage().clone(),
    );
    assert_eq!(rebuilt, context);

    let mut propagated = HashMap::new();
    {
        let _entered = context.clone().enter();
        alamos::propagate(&mut propagated);
    }
    assert_eq!(propagated, injected);
    let mut outside = HashMap::new();
    alamos::propagate(&mut outside);
    assert!(outside.is_empty(), "{outside:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    check_traceparent(text);
    check_tracestate(text);
    check_baggage(text);

    let mut carrier = HashMap::new();
    for line in text.split('\n') {
        let (key, value) = line.split_once(':').unwrap_or(("traceparent", line));
        check_traceparent(value);
        check_tracestate(value);
        check_baggage(value);
        carrier.insert(key.to_owned(), value.to_owned());
    }
    check_carrier(&carrier);
});
