fn main() {
    alamos::counter!(experiment = "Bad-Key", "gc_runs", 1);
}
