fn main() {
    alamos::counter!("gc_runs", 1, experiment = "storage.cesium");
}
