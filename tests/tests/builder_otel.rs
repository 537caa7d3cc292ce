//! `alamos::Builder::otel`: the stderr subscriber and OTLP export installed
//! together, as a binary would; dropping the guard exports every span.
#![cfg(feature = "otel")]

// Shared with propagation_otel, which uses more of it.
#[path = "propagation_otel/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use receiver::Receiver;

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

#[alamos::experiment("builder_otel.api")]
fn handle(n: u32) -> Result<u32, Refused> {
    let stored = store(n)?;
    Ok(stored + 1)
}

#[alamos::experiment("builder_otel.storage", level = debug)]
fn store(n: u32) -> Result<u32, Refused> {
    if n == 0 {
        return Err(Refused);
    }
    Ok(n)
}

#[test]
fn the_builder_exports_spans_and_the_guard_flushes_them() {
    let receiver = Receiver::start();
    alamos::set_level("builder_otel", alamos::Level::Debug).expect("known key");
    let guard = alamos::Builder::new()
        .recorder(false)
        .span_events(alamos::SpanEvents::None)
        .otel(
            alamos::OtelConfig::new()
                .endpoint(receiver.endpoint())
                .service_name("builder-otel"),
        )
        .install()
        .expect("installs");
    for n in 0..5 {
        let _ = handle(n);
    }
    drop(guard);

    let spans = receiver.spans();
    let handles: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "builder_otel.api.handle")
        .collect();
    let stores: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "builder_otel.storage.store")
        .collect();
    assert_eq!(handles.len(), 5, "{spans:#?}");
    assert_eq!(stores.len(), 5, "{spans:#?}");
    for store in &stores {
        let parent = handles
            .iter()
            .find(|h| Some(&h.span_id) == store.parent_span_id.as_ref())
            .expect("each store span is a child of a handle span");
        assert_eq!(parent.trace_id, store.trace_id);
        assert_eq!(
            store.attribute("alamos.experiment"),
            Some("builder_otel.storage")
        );
        assert_eq!(store.attribute("code.function"), Some("store"));
        assert_eq!(store.service_name, "builder-otel");
    }
    // n == 0 failed in both functions: both spans carry the error status.
    let failed =
        |spans: &[&receiver::ReceivedSpan]| spans.iter().filter(|s| s.status_code == 2).count();
    assert_eq!(failed(&handles), 1);
    assert_eq!(failed(&stores), 1);
}
