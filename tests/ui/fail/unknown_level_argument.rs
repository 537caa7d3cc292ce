#[alamos::experiment("storage", level = verbose)]
fn write() {}

fn main() {
    write();
}
