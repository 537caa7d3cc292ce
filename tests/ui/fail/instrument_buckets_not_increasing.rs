fn main() {
    alamos::histogram!("frame_size", 3.0, buckets = [1.0, 10.0, 5.0]);
}
