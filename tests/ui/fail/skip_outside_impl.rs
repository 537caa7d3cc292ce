#[alamos::skip]
fn write() {}

fn main() {
    write();
}
