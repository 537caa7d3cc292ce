#[alamos::experiment("storage", level = debug, err, level = warn)]
fn write() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = write();
}
