//! A binary for `tests/tests/span_fields.rs`: spans with fields of every kind
//! (numbers, booleans, strings, `Debug` and `Display` values, a field
//! recorded later, an error's status), events inside them, under
//! `alamos::init()` in the format the environment asks for. Says on stdout
//! how many times the counted field's `Debug` and `Display` ran.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

static FORMATS: AtomicUsize = AtomicUsize::new(0);

/// A field value that counts how often it is formatted.
struct Counted(u32);

impl fmt::Debug for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        FORMATS.fetch_add(1, Ordering::Relaxed);
        write!(f, "Counted({})", self.0)
    }
}

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        FORMATS.fetch_add(1, Ordering::Relaxed);
        write!(f, "counted #{}", self.0)
    }
}

// Read through `Debug` only.
#[allow(dead_code)]
#[derive(Debug)]
struct Node {
    id: u32,
    zone: &'static str,
}

#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused \"now\"")
    }
}

impl std::error::Error for Refused {}

#[alamos::experiment("probe.fields", fields(n, ratio, flag, name, ?node, %shown, ?counted))]
fn outer(
    n: u64,
    ratio: f64,
    flag: bool,
    name: &str,
    node: &Node,
    shown: &Counted,
    counted: &Counted,
) -> Result<u32, Refused> {
    alamos::info!(k = -3i64, "inside \"outer\"");
    tracing::info!(text = "a \"quoted\"\tstr", "a foreign event");
    inner(-7, n)
}

#[alamos::experiment("probe.fields.inner", fields(delta, big = n * 1_000), err)]
fn inner(delta: i64, n: u64) -> Result<u32, Refused> {
    let error = Refused;
    alamos::warn!(error = &error as &dyn std::error::Error, delta, "inner");
    if n.is_multiple_of(2) {
        return Err(error);
    }
    Ok(1)
}

fn main() {
    let _guard = alamos::init();
    for n in 0..3u32 {
        let node = Node {
            id: 7,
            zone: "eu\n1",
        };
        let _ = outer(
            u64::from(n),
            0.25 * f64::from(n),
            n == 1,
            "frame \u{e9}\"x\"",
            &node,
            &Counted(10),
            &Counted(20),
        );
    }
    let plain = tracing::info_span!(
        "plain",
        a = 1u64,
        b = "x y",
        c = tracing::field::Empty,
        d = tracing::field::Empty
    );
    plain.in_scope(|| {
        tracing::info!("before the record");
        plain.record("c", 3.5f64);
        tracing::info!("after one record");
        plain.record("d", true);
        tracing::info!(ok = true, "after two");
    });
    let empty = tracing::info_span!("empty", later = tracing::field::Empty);
    empty.in_scope(|| {
        empty.record("later", "now");
        tracing::info!("recorded into an empty span");
    });
    drop((plain, empty));
    let _ = writeln!(
        std::io::stdout(),
        "formats={}",
        FORMATS.load(Ordering::Relaxed)
    );
}
