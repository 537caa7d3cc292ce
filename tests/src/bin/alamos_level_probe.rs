//! A program for `tests/levels.rs`: run with some `ALAMOS_LEVEL`, it reports
//! on stdout which of its callsites are enabled, then every experiment with
//! its level and threshold. It calls no init function: the environment must
//! be read at the first instrumented call.
//!
//! Output, one fact per line:
//!
//! ```text
//! call distribution.frame_writer.write on
//! log root.debug off
//! experiment distribution.frame_writer level=bench threshold=bench
//! ```

use alamos_tests::capture;

#[alamos::experiment("distribution.frame_writer", level = bench)]
fn write() {}

#[alamos::experiment("distribution.relay", level = debug)]
fn relay() {}

#[alamos::experiment("storage.cesium", level = error)]
fn cesium_write() {}

#[alamos::experiment("storage.kv")]
fn kv_get() {}

#[alamos::experiment("api")]
fn serve() {}

#[alamos::experiment("api", level = debug)]
fn trace_request() {}

fn main() {
    let calls: [(&str, fn()); 6] = [
        ("distribution.frame_writer.write", write),
        ("distribution.relay.relay", relay),
        ("storage.cesium.cesium_write", cesium_write),
        ("storage.kv.kv_get", kv_get),
        ("api.serve", serve),
        ("api.trace_request", trace_request),
    ];
    for (span, call) in calls {
        let ((), captured) = capture(call);
        let on = !captured.spans_named(span).is_empty();
        println!("call {span} {}", if on { "on" } else { "off" });
    }

    let ((), captured) = capture(|| {
        alamos::debug!(which = "root.debug");
        alamos::prod!(which = "root.prod");
        alamos::error!(which = "root.error");
    });
    for which in ["root.debug", "root.prod", "root.error"] {
        let on = captured
            .events()
            .iter()
            .any(|event| event.field("which") == Some(which));
        println!("log {which} {}", if on { "on" } else { "off" });
    }

    for experiment in alamos::experiments() {
        println!(
            "experiment {} level={} threshold={}",
            experiment.key(),
            experiment.level(),
            experiment.threshold()
        );
    }
}
