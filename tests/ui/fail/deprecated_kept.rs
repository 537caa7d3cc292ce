#![deny(deprecated)]

#[alamos::experiment("storage")]
#[deprecated(note = "use write_frame")]
fn write() {}

fn main() {
    write();
}
