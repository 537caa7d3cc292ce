#[alamos::experiment("storage")]
struct Writer {
    written: usize,
}

fn main() {
    let writer = Writer { written: 0 };
    let _ = writer.written;
}
