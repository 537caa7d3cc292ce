fn main() {
    alamos::counter!("frames", 1, buckets = [1.0, 2.0]);
}
