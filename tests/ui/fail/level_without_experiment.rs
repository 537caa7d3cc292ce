#[alamos::level(debug)]
fn write() {}

fn main() {
    write();
}
