//! Locals and arguments named like the expansion's own stay the user's.
#![deny(warnings)]

#[derive(Debug)]
struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure")
    }
}

#[alamos::experiment("hygiene.locals", fields(__alamos_value), err, ret)]
fn compute(__alamos_value: u32, __alamos_call: u32) -> Result<u32, Failure> {
    let __alamos_is_error = 1;
    let __alamos_error = 2;
    let __alamos_span = 3;
    let __alamos_enabled = 4;
    let __alamos_future = 5;
    let __alamos_fake_return = 6;
    let total = __alamos_value
        + __alamos_call
        + __alamos_is_error
        + __alamos_error
        + __alamos_span
        + __alamos_enabled
        + __alamos_future
        + __alamos_fake_return;
    if total == 0 {
        return Err(Failure);
    }
    let checked: u32 = "1".parse().map_err(|_| Failure)?;
    Ok(total + checked)
}

#[alamos::experiment("hygiene.locals", labels(shard = __alamos_labels))]
async fn later(
    __alamos_future: u32,
    __alamos_span: u32,
    __alamos_start: u32,
    __alamos_labels: u32,
) -> u32 {
    let __alamos_enabled = __alamos_future + __alamos_span + __alamos_start + __alamos_labels;
    __alamos_enabled
}

fn main() {
    assert_eq!(
        compute(10, 20).unwrap(),
        10 + 20 + 1 + 2 + 3 + 4 + 5 + 6 + 1
    );
    let _future = later(1, 2, 3, 4);
}
