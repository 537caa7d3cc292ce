//! An instrumented function that nothing calls is dead code, as it would
//! be without the attribute: `#[expect(dead_code)]` is fulfilled.
#![deny(warnings)]

#[alamos::experiment("ui.dead")]
#[expect(dead_code)]
fn uncalled() -> u8 {
    1
}

#[expect(dead_code)]
#[alamos::experiment("ui.dead")]
async fn uncalled_async() {}

struct Relay;

#[alamos::experiment("ui.dead")]
impl Relay {
    #[expect(dead_code)]
    fn uncalled_method(&self) {}

    fn called(&self) {}
}

fn main() {
    Relay.called();
}
