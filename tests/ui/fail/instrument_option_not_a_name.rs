fn main() {
    alamos::counter!("frames", 1, 5);
}
