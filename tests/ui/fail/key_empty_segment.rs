#[alamos::experiment("storage..cesium")]
fn write() {}

fn main() {
    write();
}
