//! A local module named `alamos`, and others named like it, do not capture
//! the paths of the expansion, which are absolute.
#![deny(warnings)]

mod alamos {
    pub mod __private {}
    pub struct Level;
}

mod alamos_support {
    pub fn helper() -> u32 {
        1
    }
}

#[::alamos::experiment("hygiene.modules", level = debug)]
fn uses_modules() -> u32 {
    ::alamos::info!("inside");
    let _ = alamos::Level;
    alamos_support::helper()
}

struct Writer;

#[::alamos::experiment("hygiene.modules")]
impl Writer {
    #[::alamos::level(warn)]
    fn write(&self) -> u32 {
        2
    }

    #[::alamos::skip]
    fn skipped(&self) -> u32 {
        3
    }
}

fn main() {
    assert_eq!(uses_modules() + Writer.write() + Writer.skipped(), 6);
}
