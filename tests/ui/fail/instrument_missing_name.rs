fn main() {
    alamos::counter!(debug);
}
