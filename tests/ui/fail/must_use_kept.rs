#![deny(unused_must_use)]

#[alamos::experiment("storage")]
#[must_use = "the frame count tells how much was written"]
fn write() -> usize {
    3
}

fn main() {
    write();
}
