//! Inner attributes of a body apply to the whole function, in every form.
#![deny(warnings)]

macro_rules! opaque {
    ($e:expr) => {
        $e
    };
}

#[alamos::experiment("ui.inner")]
fn sync() {
    #![allow(unused_variables)]
    let unused = 1;
}

#[alamos::experiment("ui.inner")]
#[track_caller]
fn located() -> u8 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

#[alamos::experiment("ui.inner")]
fn closure_form() -> Result<u8, String> {
    #![allow(unused_variables)]
    let unused = 1;
    opaque!(Ok(2))
}

#[alamos::experiment("ui.inner")]
async fn asynchronous() {
    #![allow(unused_variables)]
    let unused = 1;
}

struct Plain;

impl Plain {
    #[alamos::experiment("ui.inner")]
    fn method(&self) {
        #![allow(unused_variables)]
        let unused = 1;
    }
}

struct Instrumented;

#[alamos::experiment("ui.inner")]
impl Instrumented {
    async fn method(&self) {
        #![allow(unused_variables)]
        let unused = 1;
    }
}

#[alamos::experiment("ui.inner", level = bench)]
#[allow(clippy::needless_return)]
fn stripped_or_not() {
    #![allow(unused_variables)]
    let unused = 1;
}

fn main() {
    sync();
    let _ = located();
    let _ = closure_form();
    drop(asynchronous());
    Plain.method();
    drop(Instrumented.method());
    stripped_or_not();
}
