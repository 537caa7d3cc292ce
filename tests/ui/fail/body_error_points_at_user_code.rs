#[alamos::experiment("storage")]
fn write(frame: &[u8]) -> Result<usize, String> {
    let written: usize = frame.len();
    if written == 0 {
        return Err(0);
    }
    Ok(written)
}

fn main() {
    let _ = write(&[1]);
}
