//! Ordinary code that type inference must accept with alamos in the graph.
//! `serde_json`'s `impl PartialEq<Value> for i32` (and its kin) make each
//! of these ambiguous ("multiple impls satisfying `i32: PartialEq<_>`"),
//! which is why alamos's default features keep `serde_json` out.

#[alamos::experiment("inference.sum")]
fn total(v: Vec<i32>) -> i32 {
    alamos::counter!("sums", 1);
    v.into_iter().sum()
}

fn main() {
    let v = vec![1, 2, 3];
    assert_eq!(6, v.iter().copied().sum());
    assert_eq!(6, v.clone().into_iter().sum());
    assert_eq!(6, total(v));
    let product: i64 = [2_i64, 3].iter().product();
    assert!(6 == product);
    println!("inference ok");
}
