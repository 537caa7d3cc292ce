//! `alamos::init()` in a fresh process, configured only by the environment
//! (`ALAMOS_PROMETHEUS_ADDR`, `ALAMOS_ADMIN_TOKEN`), for `tests/admin.rs`:
//! prints the served address (or `none`) on stdout, then serves until a
//! line arrives on stdin.

use std::io::BufRead;

fn main() {
    let guard = alamos::init();
    match guard.prometheus_addr() {
        Some(addr) => println!("{addr}"),
        None => println!("none"),
    }
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    drop(guard);
}
