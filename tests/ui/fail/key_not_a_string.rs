#[alamos::experiment(storage)]
fn write() {}

fn main() {
    write();
}
