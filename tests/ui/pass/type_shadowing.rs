//! A body's `use` cannot shadow the names the expansion uses (the shape of
//! tokio-rs/tracing#3306): `use Bar::*` imports the variant `Foo`, which
//! would shadow the type `Foo` named in the signature.
#![deny(warnings)]
#![allow(unused_imports)]

type Foo = ();

#[allow(dead_code)]
enum Bar {
    Foo,
}

macro_rules! opaque {
    ($e:expr) => {
        $e
    };
}

#[alamos::experiment("ui.shadowing")]
fn plain() -> Foo {
    use Bar::*;
}

#[alamos::experiment("ui.shadowing")]
fn fallible() -> Result<Foo, String> {
    use Bar::*;
    Ok(())
}

#[alamos::experiment("ui.shadowing")]
fn closure_form() -> Result<Foo, String> {
    use Bar::*;
    opaque!(Ok(()))
}

#[alamos::experiment("ui.shadowing")]
#[track_caller]
fn located() -> Result<Foo, String> {
    use Bar::*;
    opaque!(Ok(()))
}

#[alamos::experiment("ui.shadowing")]
async fn asynchronous() -> Foo {
    use Bar::*;
}

#[alamos::experiment("ui.shadowing")]
#[allow(clippy::manual_async_fn)]
fn future() -> impl std::future::Future<Output = Foo> {
    async {
        use Bar::*;
    }
}

fn main() {
    plain();
    fallible().unwrap();
    closure_form().unwrap();
    located().unwrap();
    drop(asynchronous());
    drop(future());
}
