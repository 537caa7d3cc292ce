#[alamos::experiment(level = debug)]
fn write() {}

fn main() {
    write();
}
