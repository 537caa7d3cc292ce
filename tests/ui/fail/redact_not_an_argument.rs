#[alamos::experiment("auth", redact(passwrd))]
fn login(user: &str, password: &str) -> bool {
    user != password
}

fn main() {
    login("a", "b");
}
