fn main() {
    let node = 3;
    alamos::gauge!("queue_depth", 1.0, r#experiment = node);
}
