fn main() {
    alamos::counter!(loud, "frames", 1);
}
