struct Writer;

impl Writer {
    #[alamos::level(debug)]
    fn write(&self) {}
}

fn main() {
    Writer.write();
}
