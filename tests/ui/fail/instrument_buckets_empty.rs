fn main() {
    alamos::histogram!("frame_size", 3.0, buckets = []);
}
