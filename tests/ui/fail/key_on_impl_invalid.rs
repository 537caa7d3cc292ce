struct Writer;

#[alamos::experiment("Storage")]
impl Writer {
    fn write(&self) {}
}

fn main() {
    Writer.write();
}
