#[alamos::experiment("storage")]
#[alamos::level(verbose)]
fn write() {}

fn main() {
    write();
}
