//! Leaves tasks running when its guard drops, for `tests/tasks.rs`: one
//! stuck thread (`storage.cesium.flush`), two runs of `distribution.stream`
//! (the second a restart), and a finished task that must not be reported.

use std::sync::mpsc;
use std::time::Duration;

fn main() {
    let guard = alamos::Builder::new()
        .subscriber(false)
        .prometheus_endpoint(false)
        .install()
        .expect("alamos installs");
    alamos::spawn("api.done", || ()).join().expect("finishes");
    let (_keep, stuck) = mpsc::channel::<()>();
    let (_keep_streams, streams) = mpsc::channel::<()>();
    let streams = std::sync::Arc::new(std::sync::Mutex::new(streams));
    // Blocks until the process exits: a flush waiting on a disk that hangs.
    let _flush = alamos::spawn("storage.cesium.flush", move || {
        let _ = stuck.recv();
    });
    for _ in 0..2 {
        let streams = std::sync::Arc::clone(&streams);
        let _stream = alamos::spawn("distribution.stream", move || {
            let _ = streams
                .lock()
                .map(|rx| rx.recv_timeout(Duration::from_secs(30)));
        });
    }
    std::thread::sleep(Duration::from_millis(150));
    drop(guard);
    // The stuck threads are left behind; exiting ends them.
    std::process::exit(0);
}
