//! OTLP metrics do not depend on alamos's subscriber: with
//! `Builder::subscriber(false)` (a program that installs its own) the
//! builder still pushes the metrics its recorder keeps; spans and log
//! records then need the program's own layer.
#![cfg(feature = "otel")]

#[path = "propagation_otel/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::time::{Duration, Instant};

use receiver::Receiver;

#[alamos::experiment("metrics_push_test.api")]
fn handle(n: u32) -> u32 {
    n + 1
}

#[test]
fn metrics_are_pushed_without_alamoss_subscriber() {
    let receiver = Receiver::start();
    let guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_endpoint(false)
        .otel(
            alamos::OtelConfig::new()
                .endpoint(receiver.endpoint())
                .service_name("metrics-push-test")
                .metric_export_interval(Duration::from_millis(50)),
        )
        .install()
        .expect("installs");
    for n in 0..3 {
        handle(n);
    }
    let pushed = |receiver: &Receiver| {
        receiver
            .metric_pushes()
            .iter()
            .any(|names| names.iter().any(|name| name == alamos::names::CALLS_TOTAL))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pushed(&receiver) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        pushed(&receiver),
        "pushed while running: {:?}",
        receiver.metric_pushes()
    );
    let before = receiver.metric_pushes().len();
    drop(guard);
    assert!(
        receiver.metric_pushes().len() > before,
        "and once more when the guard is dropped"
    );
    // No subscriber of alamos's: no layer, so no spans or log records.
    assert!(receiver.spans().is_empty());
    assert_eq!(receiver.log_requests(), 0);
}
