#[alamos::experiment("storage", level = debug)]
#[alamos::level(warn)]
fn write() {}

fn main() {
    write();
}
