#[alamos::experiment("storage", err)]
fn frames() -> impl Iterator<Item = u8> {
    0..3
}

fn main() {
    let _ = frames().count();
}
