#[alamos::experiment("storage", fields(frame, size))]
fn write(frame: u64) -> u64 {
    frame
}

fn main() {
    write(1);
}
