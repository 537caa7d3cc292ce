//! `alamos::init()` in a fresh process, configured only by the environment
//! (`ALAMOS_PROMETHEUS_ADDR`, `ALAMOS_ADMIN_TOKEN`, `ALAMOS_ADMIN_REMOTE`),
//! for `tests/admin.rs`, `tests/admin_remote.rs` and
//! `tests/endpoint_slow_clients.rs`: prints the served address (or `none`)
//! on stdout, then serves until a line arrives on stdin. With the argument
//! `remote` or `local`, the builder says `admin_remote(true)` or `(false)`.

use std::io::BufRead;

fn main() {
    let remote = match std::env::args().nth(1).as_deref() {
        Some("remote") => Some(true),
        Some("local") => Some(false),
        _ => None,
    };
    let guard = match remote {
        None => alamos::init(),
        Some(remote) => alamos::Builder::new()
            .admin_remote(remote)
            .install()
            .expect("alamos installs"),
    };
    match guard.prometheus_addr() {
        Some(addr) => println!("{addr}"),
        None => println!("none"),
    }
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    drop(guard);
}
