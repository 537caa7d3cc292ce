#[alamos::experiment("storage.frame writer")]
fn write() {}

fn main() {
    write();
}
