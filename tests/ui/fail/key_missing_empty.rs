#[alamos::experiment]
fn write() {}

fn main() {
    write();
}
