fn main() {
    let node = 3;
    alamos::counter!("frames", 1, __node = node);
}
