#[alamos::experiment("storage")]
const fn capacity() -> usize {
    64
}

const CAPACITY: usize = capacity();

fn main() {
    let _ = CAPACITY;
}
