struct Writer;

impl Writer {
    #[alamos::skip]
    fn write(&self) {}
}

fn main() {
    Writer.write();
}
