use alamos_tests::{capture, record_metrics};

#[derive(Debug)]
struct Error;

#[alamos::experiment("smoke.basic", level = debug, fields(x))]
fn add(x: u32, y: u32) -> Result<u32, Error> {
    alamos::info!(x, "adding");
    if y == 0 {
        return Err(Error);
    }
    let parsed: u32 = "7".parse().map_err(|_| Error)?;
    Ok(x + y + parsed)
}

#[test]
fn smoke() {
    alamos::set_level("smoke", alamos::Level::Bench).unwrap();
    let ((a, b), metrics) = record_metrics(|| capture(|| (add(1, 2), add(1, 0))).0);
    println!("{a:?} {b:?}");
    let ((_, _), captured) = capture(|| (add(1, 2), add(1, 0)));
    println!("{captured:#?}");
    println!("{metrics:#?}");
    println!("{:#?}", alamos::experiments());
}
