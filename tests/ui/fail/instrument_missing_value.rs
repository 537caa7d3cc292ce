fn main() {
    alamos::counter!("frames");
}
