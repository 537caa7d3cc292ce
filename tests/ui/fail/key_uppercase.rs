#[alamos::experiment("storage.Cesium")]
fn write() {}

fn main() {
    write();
}
