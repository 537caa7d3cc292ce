#![deny(dead_code)]

#[alamos::experiment("ui.dead")]
fn uncalled() -> u8 {
    1
}

#[alamos::experiment("ui.dead")]
async fn uncalled_async() {}

struct Relay;

#[alamos::experiment("ui.dead")]
impl Relay {
    fn uncalled_method(&self) {}

    fn called(&self) {}
}

fn main() {
    Relay.called();
}
