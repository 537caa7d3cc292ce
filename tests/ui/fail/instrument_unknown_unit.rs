fn main() {
    alamos::counter!("frame_bytes", 3, unit = meters);
}
