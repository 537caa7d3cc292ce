#[derive(Debug)]
struct Failure;

#[alamos::experiment("storage", err)]
fn write() -> Result<(), Failure> {
    Err(Failure)
}

fn main() {
    let _ = write();
}
