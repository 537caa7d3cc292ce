//! Property tests of the parsers' round trips: W3C trace context through
//! `propagate` and `depropagate`, `traceparent` display, `ALAMOS_LEVEL`
//! directives, and the experiment-key grammar.
//!
//! Each property runs 64 cases by default, so the workspace's tests stay
//! fast; set `PROPTEST_CASES` for a deeper run. The fuzz targets in `fuzz/`
//! check the same parsers against arbitrary bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use alamos::__private::Directive;
use alamos::context::{Baggage, TraceParent, TraceState};
use alamos::{Level, LevelFilter, RemoteContext};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// 64 cases, unless `PROPTEST_CASES` says otherwise.
fn config() -> Config {
    let default = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        Config {
            cases: 64,
            ..default
        }
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn trace_id() -> impl Strategy<Value = [u8; 16]> {
    any::<[u8; 16]>().prop_filter("not all zero", |id| *id != [0; 16])
}

fn parent_id() -> impl Strategy<Value = [u8; 8]> {
    any::<[u8; 8]>().prop_filter("not all zero", |id| *id != [0; 8])
}

fn trace_parent() -> impl Strategy<Value = TraceParent> {
    (trace_id(), parent_id(), any::<u8>())
        .prop_map(|(trace, parent, flags)| TraceParent::new(trace, parent, flags).unwrap())
}

/// `tracestate` members in the W3C grammar, simple and multi-tenant keys,
/// unique keys in the generated order.
fn trace_state() -> impl Strategy<Value = TraceState> {
    let key = prop_oneof![
        "[a-z][a-z0-9_*/-]{0,20}",
        "[a-z0-9][a-z0-9_*/-]{0,10}@[a-z][a-z0-9_*/-]{0,13}",
    ];
    let value = "[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]([\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,30}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e])?";
    prop::collection::vec((key, value), 0..=32).prop_map(|members| {
        let mut seen = BTreeSet::new();
        let unique = members
            .into_iter()
            .filter(|(key, _)| seen.insert(key.clone()));
        TraceState::from_pairs(unique).unwrap()
    })
}

/// A baggage entry as generated: an HTTP-token key, any value, and optional
/// properties (`p`, `p=v`, joined by `;`).
#[derive(Clone, Debug)]
struct Entry {
    key: String,
    value: String,
    properties: Option<String>,
}

fn baggage_entries() -> impl Strategy<Value = Vec<Entry>> {
    let property = "[A-Za-z0-9_.~!#$&'*+^`|-]{1,6}(=[A-Za-z0-9]{0,6})?";
    let properties = prop::option::of(prop::collection::vec(property, 1..4));
    prop::collection::btree_map(
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}",
        (".{0,24}", properties),
        0..12,
    )
    .prop_map(|entries| {
        entries
            .into_iter()
            .map(|(key, (value, properties))| Entry {
                key,
                value,
                properties: properties.map(|p| p.join(";")),
            })
            .collect()
    })
}

/// Percent-encodes every byte but ASCII alphanumerics: more than the W3C
/// grammar requires, so the parser's decoding is what is tested.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() {
            out.push(char::from(byte));
        } else {
            write!(out, "%{byte:02x}").unwrap();
        }
    }
    out
}

/// A `baggage` header for the entries, with spaces around members and `=`.
fn baggage_header(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|entry| {
            let mut member = format!(" {} = {}", entry.key, encode(&entry.value));
            if let Some(properties) = &entry.properties {
                write!(member, " ; {properties}").unwrap();
            }
            member
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn remote_context() -> impl Strategy<Value = (RemoteContext, Vec<Entry>)> {
    (
        prop::option::of(trace_parent()),
        trace_state(),
        baggage_entries(),
    )
        .prop_map(|(parent, state, entries)| {
            let baggage = Baggage::parse(&baggage_header(&entries)).unwrap();
            (RemoteContext::new(parent, state, baggage), entries)
        })
}

/// The spellings of each level filter: canonical names and aliases.
fn spellings(filter: LevelFilter) -> &'static [&'static str] {
    match filter {
        LevelFilter::Level(Level::Bench) => &["bench", "trace"],
        LevelFilter::Level(Level::Debug) => &["debug"],
        LevelFilter::Level(Level::Prod) => &["prod", "info"],
        LevelFilter::Level(Level::Warn) => &["warn"],
        LevelFilter::Level(Level::Error) => &["error"],
        LevelFilter::Off => &["off"],
    }
}

fn level_filter() -> impl Strategy<Value = LevelFilter> {
    prop_oneof![
        Just(LevelFilter::Level(Level::Bench)),
        Just(LevelFilter::Level(Level::Debug)),
        Just(LevelFilter::Level(Level::Prod)),
        Just(LevelFilter::Level(Level::Warn)),
        Just(LevelFilter::Level(Level::Error)),
        Just(LevelFilter::Off),
    ]
}

/// A level filter written as any of its names, in any ASCII case.
fn spelled_level() -> impl Strategy<Value = (LevelFilter, String)> {
    (level_filter(), any::<usize>(), any::<u64>()).prop_map(|(filter, pick, case)| {
        let names = spellings(filter);
        let name = names[pick % names.len()];
        let spelled = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if (case >> (i % 64)) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        (filter, spelled)
    })
}

/// Keys from the grammar over a small alphabet, so that lists repeat keys.
fn small_key() -> impl Strategy<Value = String> {
    "[ab_1]{1,2}(\\.[ab]{1,2}){0,2}"
}

/// The reference key grammar: `[a-z0-9_]+(\.[a-z0-9_]+)*`.
fn in_key_grammar(key: &str) -> bool {
    !key.is_empty()
        && key.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

// ---------------------------------------------------------------------------
// Trace context
// ---------------------------------------------------------------------------

/// The context `depropagate` reads back from headers `context` was written to.
fn reread(context: &RemoteContext) -> RemoteContext {
    let mut headers = HashMap::new();
    context.inject(&mut headers);
    alamos::depropagate(&headers)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn traceparent_display_parses_back(parent in trace_parent()) {
        let header = parent.to_string();
        prop_assert_eq!(header.len(), 55);
        prop_assert_eq!(
            &header,
            &format!("00-{}-{}-{:02x}", parent.trace_id_hex(), parent.parent_id_hex(), parent.flags())
        );
        let back = TraceParent::parse(&header).unwrap();
        prop_assert_eq!(back, parent);
        prop_assert_eq!(back.trace_id(), parent.trace_id());
        prop_assert_eq!(back.parent_id(), parent.parent_id());
        prop_assert_eq!(back.flags(), parent.flags());
        prop_assert_eq!(header.parse::<TraceParent>(), Ok(parent));
    }

    /// A later version may append fields; spaces and tabs around the value
    /// are ignored; what is read is written back as version 00.
    #[test]
    fn traceparent_of_a_later_version_reads_the_known_fields(
        parent in trace_parent(),
        version in 1u8..=254,
        suffix in prop::option::of("[a-z0-9-]{0,12}"),
        before in "[ \t]{0,2}",
        after in "[ \t]{0,2}",
    ) {
        let fields = format!("{}-{}-{:02x}", parent.trace_id_hex(), parent.parent_id_hex(), parent.flags());
        let suffix = suffix.map(|s| format!("-{s}")).unwrap_or_default();
        let header = format!("{before}{version:02x}-{fields}{suffix}{after}");
        prop_assert_eq!(TraceParent::parse(&header), Ok(parent));
        let header_00 = format!("{before}00-{fields}{after}");
        prop_assert_eq!(TraceParent::parse(&header_00), Ok(parent));
        prop_assert_eq!(parent.to_string(), format!("00-{fields}"));
    }

    #[test]
    fn tracestate_and_baggage_display_parse_back((context, entries) in remote_context()) {
        let state = context.trace_state();
        prop_assert_eq!(&TraceState::parse(&state.to_string()).unwrap(), state);
        let baggage = context.baggage();
        prop_assert_eq!(baggage.len(), entries.len());
        for entry in &entries {
            prop_assert_eq!(baggage.get(&entry.key), Some(entry.value.as_str()));
            prop_assert_eq!(baggage.properties(&entry.key), entry.properties.as_deref());
        }
        prop_assert_eq!(&Baggage::parse(&baggage.to_string()).unwrap(), baggage);
    }

    /// The context written into a carrier reads back the same: trace id,
    /// parent id, flags, every `tracestate` member in order and every
    /// baggage entry with its properties.
    #[test]
    fn inject_then_depropagate_is_the_same_context((context, _) in remote_context()) {
        let back = reread(&context);
        prop_assert_eq!(back.parent(), context.parent());
        if let (Some(back), Some(sent)) = (back.parent(), context.parent()) {
            prop_assert_eq!(back.trace_id(), sent.trace_id());
            prop_assert_eq!(back.parent_id(), sent.parent_id());
            prop_assert_eq!(back.flags(), sent.flags());
        }
        prop_assert!(back.trace_state().iter().eq(context.trace_state().iter()));
        prop_assert!(back.baggage().iter().eq(context.baggage().iter()));
        prop_assert_eq!(back, context);
    }

    /// Header names are read case-insensitively, from any carrier, under the
    /// W3C names or Synnax's `alamos-` spellings.
    #[test]
    fn depropagate_ignores_the_spelling_of_header_names(
        (context, _) in remote_context(),
        case in any::<u64>(),
        prefixed in any::<bool>(),
    ) {
        let mut headers = BTreeMap::new();
        context.inject(&mut headers);
        let renamed: BTreeMap<String, String> = headers
            .into_iter()
            .map(|(key, value)| {
                let key = if prefixed { format!("alamos-{key}") } else { key };
                let key = key
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if (case >> (i % 64)) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                    .collect::<String>();
                (key, value)
            })
            .collect();
        prop_assert_eq!(&alamos::depropagate(&renamed), &context);
        let map: HashMap<String, String> = renamed.into_iter().collect();
        prop_assert_eq!(alamos::depropagate(&map), context);
    }

    /// Without OpenTelemetry a process forwards the context it entered:
    /// `propagate` then `depropagate` is the same context. (With the `otel`
    /// feature, `propagate` writes OpenTelemetry's current context instead;
    /// `tests/propagation_otel` covers that.)
    #[cfg(not(feature = "otel"))]
    #[test]
    fn propagate_then_depropagate_is_the_same_context((context, _) in remote_context()) {
        let mut headers = HashMap::new();
        context.clone().in_scope(|| alamos::propagate(&mut headers));
        prop_assert_eq!(alamos::depropagate(&headers), context.clone());
        let forwarded = alamos::with_parent(&headers, || {
            let mut next = HashMap::new();
            alamos::propagate(&mut next);
            next
        });
        prop_assert_eq!(forwarded, headers);
    }

    /// Whatever the headers hold, reading them never panics, and what is read
    /// is read back the same.
    #[test]
    fn depropagate_survives_any_headers(
        headers in prop::collection::hash_map(
            prop_oneof![
                Just("traceparent".to_owned()),
                Just("TraceState".to_owned()),
                Just("baggage".to_owned()),
                Just("alamos-traceparent".to_owned()),
                ".{0,12}",
            ],
            prop_oneof![
                "[0-9a-f-]{50,60}",
                "[a-z0-9=,;%@ ]{0,40}",
                ".{0,40}",
            ],
            0..6,
        ),
    ) {
        let context = alamos::depropagate(&headers);
        prop_assert_eq!(reread(&context), context);
    }
}

// ---------------------------------------------------------------------------
// Directives and keys
// ---------------------------------------------------------------------------

/// Where a directive list puts its items: `None` for the root.
type Item = (Option<String>, LevelFilter, String);

fn render(items: &[Item], pads: &[(String, String)], empty_items: &[bool]) -> String {
    let mut parts = Vec::new();
    for (index, (key, _, spelled)) in items.iter().enumerate() {
        let (left, right) = &pads[index % pads.len()];
        if empty_items[index % empty_items.len()] {
            parts.push(left.clone());
        }
        parts.push(match key {
            Some(key) => format!("{left}{key}{right}={left}{spelled}{right}"),
            None => format!("{left}{spelled}{right}"),
        });
    }
    parts.join(",")
}

/// What a directive list means: the last directive for each key, in the
/// order of those last directives.
fn later_wins(items: &[Item]) -> Vec<Directive> {
    let mut out: Vec<Directive> = Vec::new();
    for (key, filter, _) in items {
        let key = key.clone().unwrap_or_default();
        out.retain(|directive| directive.key != key);
        out.push(Directive {
            key,
            filter: *filter,
        });
    }
    out
}

fn items() -> impl Strategy<Value = Vec<Item>> {
    prop::collection::vec(
        (prop::option::weighted(0.8, small_key()), spelled_level())
            .prop_map(|(key, (filter, spelled))| (key, filter, spelled)),
        0..12,
    )
}

#[alamos::experiment("properties.a")]
fn node_a() {}

#[alamos::experiment("properties.a.b")]
fn node_a_b() {}

#[alamos::experiment("properties.ab")]
fn node_ab() {}

#[alamos::experiment("properties.c.d")]
fn node_c_d() {}

proptest! {
    #![proptest_config(config())]

    /// Directives rendered from a well-formed list, with spaces, mixed case,
    /// aliases and empty items, parse back to the list, later duplicates
    /// winning.
    #[test]
    fn rendered_directives_parse_back(
        items in items(),
        pads in prop::collection::vec(("[ \t]{0,2}", "[ \t]{0,2}"), 1..4),
        empty_items in prop::collection::vec(prop::bool::weighted(0.1), 1..4),
    ) {
        let spec = render(&items, &pads, &empty_items);
        let parsed = alamos::__private::parse_directives(&spec);
        prop_assert_eq!(parsed.errors, vec![], "{:?}", spec);
        prop_assert_eq!(parsed.directives, later_wins(&items), "{:?}", spec);
    }

    /// A malformed directive anywhere is skipped, reported at its position,
    /// and the rest still apply.
    #[test]
    fn a_malformed_directive_spoils_only_itself(
        items in items(),
        at in any::<prop::sample::Index>(),
        bad in prop_oneof!["[A-Z][a-z]{0,3}=debug", "[a-z]{1,3}=[x-z]{1,4}", "=warn", "[a-z]+\\.=prod"],
    ) {
        let mut parts: Vec<String> = items
            .iter()
            .map(|(key, _, spelled)| key.as_ref().map_or_else(|| spelled.clone(), |key| format!("{key}={spelled}")))
            .collect();
        let position = at.index(parts.len() + 1);
        parts.insert(position, bad.clone());
        let parsed = alamos::__private::parse_directives(&parts.join(","));
        prop_assert_eq!(parsed.directives, later_wins(&items));
        prop_assert_eq!(parsed.errors.len(), 1);
        prop_assert_eq!(parsed.errors[0].position, position + 1);
        prop_assert_eq!(&parsed.errors[0].text, &bad);
    }

    /// Applied, directives give every experiment the threshold of the
    /// longest covering key, whole segments only.
    #[test]
    fn set_directives_gives_the_longest_covering_directive(
        items in prop::collection::vec(
            (
                prop::option::weighted(0.8, prop::sample::select(vec![
                    "properties", "properties.a", "properties.a.b", "properties.ab", "properties.c",
                    "properties.c.d",
                ])),
                level_filter(),
            ),
            0..8,
        ),
    ) {
        let spec = items
            .iter()
            .map(|(key, filter)| key.map_or_else(|| filter.to_string(), |key| format!("{key}={filter}")))
            .collect::<Vec<_>>()
            .join(",");
        prop_assert_eq!(alamos::set_directives(&spec), Ok(()));
        for key in ["properties.a", "properties.a.b", "properties.ab", "properties.c.d", "properties"] {
            let expected = items
                .iter()
                .rev()
                .filter_map(|(directive, filter)| {
                    let directive = directive.unwrap_or("");
                    let covers = directive.is_empty()
                        || key == directive
                        || key.strip_prefix(directive).is_some_and(|rest| rest.starts_with('.'));
                    covers.then_some((directive.len(), *filter))
                })
                // The longest key; among equal keys the last directive (the
                // first here, in reverse), which `max_by_key` would not keep.
                .fold(None::<(usize, LevelFilter)>, |best, (len, filter)| match best {
                    Some((best_len, _)) if best_len >= len => best,
                    _ => Some((len, filter)),
                })
                .map_or(LevelFilter::Level(Level::Prod), |(_, filter)| filter);
            prop_assert_eq!(alamos::threshold(key), Ok(expected), "{} under {:?}", key, spec);
        }
        if spec.is_empty() {
            node_a();
            node_a_b();
            node_ab();
            node_c_d();
        }
    }

    #[test]
    fn grammar_keys_are_accepted(key in "[a-z0-9_]{1,8}(\\.[a-z0-9_]{1,8}){0,4}") {
        prop_assert_eq!(alamos::validate_key(&key), Ok(()));
    }

    /// `validate_key` accepts exactly `[a-z0-9_]+(\.[a-z0-9_]+)*`.
    #[test]
    fn validate_key_accepts_exactly_the_grammar(
        key in prop_oneof![
            "[a-z0-9_.]{0,12}",
            "[a-zA-Z0-9_. \\-/é\u{0}]{0,12}",
            any::<String>(),
        ],
    ) {
        let result = alamos::validate_key(&key);
        prop_assert_eq!(result.is_ok(), in_key_grammar(&key), "{:?}: {:?}", key, result);
        if let Err(error) = result {
            prop_assert_eq!(error.key(), key.as_str());
            prop_assert!(key.is_char_boundary(error.offset()));
        }
    }

    /// A character outside the grammar is reported where it was put.
    #[test]
    fn a_bad_character_is_reported_at_its_offset(
        key in "[a-z0-9_]{1,8}(\\.[a-z0-9_]{1,8}){0,3}",
        at in any::<prop::sample::Index>(),
        bad in "[A-Z \\-/:=,é\u{0}]",
    ) {
        let mut boundaries: Vec<usize> = (0..=key.len()).collect();
        boundaries.retain(|&i| key.is_char_boundary(i));
        let offset = boundaries[at.index(boundaries.len())];
        let mut broken = key.clone();
        broken.insert_str(offset, &bad);
        let error = alamos::validate_key(&broken).unwrap_err();
        prop_assert_eq!(error.offset(), offset, "{:?}: {}", broken, error);
    }

    /// An extra dot makes an empty segment, reported where it starts.
    #[test]
    fn an_empty_segment_is_reported_where_it_starts(
        key in "[a-z0-9_]{1,8}(\\.[a-z0-9_]{1,8}){0,3}",
        at in any::<prop::sample::Index>(),
    ) {
        // Before the key, after it, or doubling one of its dots.
        let mut spots = vec![(0, 0), (key.len(), key.len() + 1)];
        spots.extend(key.match_indices('.').map(|(i, _)| (i, i + 1)));
        let (insert, offset) = spots[at.index(spots.len())];
        let mut broken = key.clone();
        broken.insert(insert, '.');
        let error = alamos::validate_key(&broken).unwrap_err();
        prop_assert_eq!(error.offset(), offset, "{:?}: {}", broken, error);
    }

    /// Every spelling of a level, in any ASCII case, parses; the value
    /// displays as its canonical name, which parses back.
    #[test]
    fn level_names_parse_in_any_case((filter, spelled) in spelled_level()) {
        prop_assert_eq!(spelled.parse::<LevelFilter>(), Ok(filter));
        prop_assert_eq!(filter.to_string().parse::<LevelFilter>(), Ok(filter));
        match filter {
            LevelFilter::Level(level) => prop_assert_eq!(spelled.parse::<Level>(), Ok(level)),
            LevelFilter::Off => prop_assert!(spelled.parse::<Level>().is_err()),
        }
    }
}
