//! Per-call cost of the hot callsites in a binary that registers only them
//! (three experiments): the baseline of `scaling_10k`.
//!
//! ```text
//! cargo bench -p alamos-benches --bench scaling_1 --bench scaling_10k
//! ```

mod common;
mod scaling;

fn main() {
    let _render = common::install_recorder();
    common::install_subscriber();
    scaling::set_levels();
    let mut c = common::criterion();
    scaling::per_call(&mut c, 1);
    c.final_summary();
}
