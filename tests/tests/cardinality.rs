//! Cardinality and memory: a million distinct would-be label values keep the
//! series at the cap and resident memory flat.
//!
//! `cardinality_probe` (a fresh process with alamos's recorder and the
//! default cap, `alamos::names::DEFAULT_MAX_LABEL_SETS`) calls a function with
//! `labels(peer = n)` for n in 0..1,000,000. The exposition must hold exactly
//! the first 256 label sets plus the `__overflow__` series, count every call
//! exactly, count the excess calls in `alamos_label_overflow_total`, and the
//! process's `VmRSS` after a million calls must be within 2 MiB of what it
//! was after 10,000 (one series per value would take hundreds of MiB: each
//! holds 31 counters and its label strings).

use std::collections::BTreeMap;

const CALLS: u64 = 1_000_000;
/// Allowed growth of resident memory from 10,000 to 1,000,000 calls.
const RSS_GROWTH_KIB: u64 = 2 * 1024;

struct Run {
    rss_kib: BTreeMap<String, u64>,
    seconds: f64,
    exposition: String,
}

fn run_probe(calls: u64, threads: u64) -> Run {
    let output = alamos_tests::probe_command(env!("CARGO_BIN_EXE_cardinality_probe"))
        .args([calls.to_string(), threads.to_string()])
        .output()
        .expect("the probe runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let (head, rest) = stdout
        .split_once("=== exposition\n")
        .expect("an exposition");
    let (exposition, _) = rest.split_once("=== end").expect("its end");
    let mut rss_kib = BTreeMap::new();
    let mut seconds = f64::NAN;
    for line in head.lines() {
        if let Some(fields) = line.strip_prefix("rss_kib ") {
            let (calls, kib) = fields.split_once(' ').expect("two fields");
            let calls = calls.strip_prefix("calls=").expect("calls=");
            let kib = kib.strip_prefix("kib=").expect("kib=");
            rss_kib.insert(calls.to_owned(), kib.parse().expect("a number"));
        } else if let Some(value) = line.strip_prefix("seconds=") {
            seconds = value.parse().expect("a number");
        }
    }
    Run {
        rss_kib,
        seconds,
        exposition: exposition.to_owned(),
    }
}

/// The samples of `name` for the probe's function, by `peer` label.
fn by_peer(exposition: &str, name: &str, rest: &str) -> BTreeMap<String, u64> {
    let prefix = format!(r#"{name}{{experiment="cardinality",function="connect",peer=""#);
    exposition
        .lines()
        .filter_map(|line| {
            let line = line.strip_prefix(&prefix)?;
            let (peer, line) = line.split_once('"')?;
            let value = line.strip_prefix(rest)?.strip_prefix(' ')?;
            Some((peer.to_owned(), value.parse().expect("an integer")))
        })
        .collect()
}

#[test]
fn a_million_label_values_keep_the_cap_count_exactly_and_memory_flat() {
    let run = run_probe(CALLS, 1);
    let cap = alamos::names::DEFAULT_MAX_LABEL_SETS as u64;
    let mut expected: BTreeMap<String, u64> = (0..cap).map(|n| (n.to_string(), 1)).collect();
    expected.insert(alamos::names::OVERFLOW_LABEL_VALUE.to_owned(), CALLS - cap);
    let ok = by_peer(
        &run.exposition,
        alamos::names::CALLS_TOTAL,
        r#",outcome="ok"}"#,
    );
    assert_eq!(ok, expected, "the first {cap} values, then the overflow");
    check(&run, "1 thread");
}

#[test]
fn threads_racing_past_the_cap_keep_it_exactly() {
    let run = run_probe(CALLS, 4);
    check(&run, "4 threads");
}

/// The cap's series and the overflow series, every call counted once, the
/// excess counted, memory flat.
fn check(run: &Run, what: &str) {
    let cap = alamos::names::DEFAULT_MAX_LABEL_SETS as u64;
    let excess = CALLS - cap;
    let ok = by_peer(
        &run.exposition,
        alamos::names::CALLS_TOTAL,
        r#",outcome="ok"}"#,
    );
    assert_eq!(ok.len() as u64, cap + 1, "series of alamos_calls_total");
    assert_eq!(ok.get(alamos::names::OVERFLOW_LABEL_VALUE), Some(&excess));
    let kept: Vec<_> = ok
        .iter()
        .filter(|(peer, _)| *peer != alamos::names::OVERFLOW_LABEL_VALUE)
        .collect();
    assert!(
        kept.iter()
            .all(|(peer, count)| **count == 1 && peer.parse::<u64>().is_ok()),
        "each kept value was called once: {kept:?}"
    );
    assert_eq!(ok.values().sum::<u64>(), CALLS, "every call counted once");
    let expected = ok.clone();

    for outcome in ["error", "panic", "cancelled"] {
        let series = by_peer(
            &run.exposition,
            alamos::names::CALLS_TOTAL,
            &format!(r#",outcome="{outcome}"}}"#),
        );
        assert_eq!(series.len() as u64, cap + 1);
        assert!(series.values().all(|count| *count == 0));
    }
    let counts = by_peer(
        &run.exposition,
        &format!("{}_count", alamos::names::CALL_DURATION_SECONDS),
        "}",
    );
    assert_eq!(counts, expected, "one histogram per kept series");
    let in_flight = by_peer(&run.exposition, alamos::names::CALLS_IN_FLIGHT, "}");
    assert_eq!(in_flight.len() as u64, cap + 1);
    assert!(in_flight.values().all(|count| *count == 0));
    let peers: usize = run
        .exposition
        .lines()
        .filter(|line| line.starts_with("alamos_") && line.contains("peer=\""))
        .map(|line| {
            line.split("peer=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert_eq!(peers as u64, cap + 1, "no other peer value anywhere");

    let overflow = format!(
        r#"{}{{experiment="cardinality",function="connect"}} "#,
        alamos::names::LABEL_OVERFLOW_TOTAL
    );
    let overflowed: Option<u64> = run
        .exposition
        .lines()
        .find_map(|line| line.strip_prefix(&overflow)?.parse().ok());
    assert_eq!(overflowed, Some(excess), "{overflow}");

    let at_10k = run.rss_kib["10000"];
    let at_1m = run.rss_kib[&CALLS.to_string()];
    eprintln!(
        "cardinality, {what}: {CALLS} calls in {:.2} s; VmRSS {at_10k} KiB after 10,000 calls, \
         {at_1m} KiB after {CALLS}, {} KiB after rendering; {} series kept",
        run.seconds,
        run.rss_kib["rendered"],
        ok.len()
    );
    assert!(at_10k > 0, "VmRSS was read");
    assert!(
        at_1m <= at_10k + RSS_GROWTH_KIB,
        "resident memory grew from {at_10k} KiB to {at_1m} KiB: {:?}",
        run.rss_kib
    );
}
