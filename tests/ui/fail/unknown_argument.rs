#[alamos::experiment("storage", verbose)]
fn write() {}

fn main() {
    write();
}
