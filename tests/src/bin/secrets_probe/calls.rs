//! The calls of the secrets probe, shared with `tests/secrets.rs`: a secret
//! handed to instrumented functions in every way a user might without asking
//! alamos to record it, and a control value in every way a user asks alamos to
//! record one.

// With `--all-features` (`max_level_off`) these functions are stripped and
// clippy reads them as written; their shapes are the cases under test.
#![allow(clippy::unused_async)]

use std::fmt;

/// An error that carries the secret in both `Display` and `Debug`.
#[derive(Debug)]
pub(crate) struct VaultError(String);

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vault refused key {}", self.0)
    }
}

/// A session whose `Debug` shows the secret.
#[derive(Debug)]
pub(crate) struct Session {
    user: String,
    password: String,
}

// --- where the secret goes, unasked ---------------------------------------

/// The secret is an argument that no `fields(...)` names.
#[alamos::experiment("secrets.auth", fields(user))]
fn login(user: &str, password: &str) -> bool {
    alamos::info!("checking credentials");
    !user.is_empty() && !password.is_empty()
}

/// The secret is redacted; only its length is recorded.
#[alamos::experiment("secrets.auth", redact(password), fields(user, len = password.len()))]
fn login_redacted(user: &str, password: &str) -> bool {
    alamos::info!("checking credentials");
    !user.is_empty() && !password.is_empty()
}

/// Named in `fields` *and* redacted: redaction wins, in every format.
#[alamos::experiment("secrets.auth", redact(password, pin), fields(password, %pin))]
fn login_named_and_redacted(password: &str, pin: &str) -> usize {
    password.len() + pin.len()
}

/// Returns the secret in an `Err` that `err` is not asked to record.
#[alamos::experiment("secrets.vault")]
fn unseal(key: &str) -> Result<(), VaultError> {
    Err(VaultError(key.to_owned()))
}

/// Propagates that `Err` through `?`.
#[alamos::experiment("secrets.vault")]
fn unseal_twice(key: &str) -> Result<u32, VaultError> {
    unseal(key)?;
    Ok(2)
}

/// Panics with the secret in the message.
#[alamos::experiment("secrets.vault")]
fn decrypt(key: &str) -> u32 {
    panic!("cannot decrypt with {key}");
}

/// Panics with the secret as a `String` payload, inside an `Err`-returning fn.
#[alamos::experiment("secrets.vault")]
fn decrypt_checked(key: &str) -> Result<u32, VaultError> {
    std::panic::panic_any(format!("payload {key}"));
}

/// Returns the secret; `ret` is not asked for.
#[alamos::experiment("secrets.vault")]
fn fetch_token(seed: &str) -> String {
    format!("{seed}{seed}")
}

/// An `async fn` with the secret in an argument and in its `Err`.
#[alamos::experiment("secrets.vault")]
async fn rotate(old: String, new: String) -> Result<(), VaultError> {
    if old == new {
        return Err(VaultError(new));
    }
    Ok(())
}

#[alamos::experiment("secrets.session")]
impl Session {
    /// `self` (whose `Debug` shows the secret) is never recorded.
    fn check(&self) -> bool {
        !self.user.is_empty() && !self.password.is_empty()
    }

    #[alamos::experiment(level = debug)]
    fn renew(self, password: String) -> Session {
        Session {
            user: self.user,
            password,
        }
    }
}

// --- where the user records the control value, on purpose ----------------

/// An error recorded because `err` asks for it.
#[alamos::experiment("secrets.control", err)]
fn refuse(key: &str) -> Result<(), VaultError> {
    Err(VaultError(key.to_owned()))
}

/// A returned value recorded because `ret` asks for it.
#[alamos::experiment("secrets.control", ret)]
fn issue(seed: &str) -> String {
    seed.to_owned()
}

/// A label the user asked for, next to an argument they did not name.
#[alamos::experiment("secrets.control", labels(tenant = tenant))]
fn scoped(tenant: &str, key: &str) -> usize {
    alamos::prod!(tenant, "scoped call");
    tenant.len() + key.len()
}

/// Makes every call: the secret where alamos must not record it, the control
/// value where the user asked for it. Panics of the calls are caught.
pub(crate) fn run(secret: &str, control: &str) {
    // The secret, in every way alamos must not record it.
    assert!(login(control, secret));
    assert!(login_redacted(control, secret));
    assert_eq!(login_named_and_redacted(secret, secret), 2 * secret.len());
    assert!(unseal(secret).is_err());
    assert!(unseal_twice(secret).is_err());
    assert!(std::panic::catch_unwind(|| decrypt(secret)).is_err());
    assert!(std::panic::catch_unwind(|| decrypt_checked(secret)).is_err());
    assert_eq!(fetch_token(secret).len(), 2 * secret.len());
    let rotated = alamos_tests::block_on(rotate(secret.to_owned(), secret.to_owned()));
    assert!(rotated.is_err());
    let session = Session {
        user: control.to_owned(),
        password: secret.to_owned(),
    };
    assert!(session.check());
    let session = session.renew(secret.to_owned());
    assert!(session.check());

    // The control value, where the user asked for it.
    assert!(refuse(control).is_err());
    assert_eq!(issue(control), control);
    assert_eq!(scoped(control, secret), control.len() + secret.len());
}

/// `(experiment, function, outcome, calls)` that [`run`] makes, each once
/// per run.
pub(crate) const CALLS: &[(&str, &str, &str, u64)] = &[
    ("secrets.auth", "login", "ok", 1),
    ("secrets.auth", "login_redacted", "ok", 1),
    ("secrets.auth", "login_named_and_redacted", "ok", 1),
    ("secrets.vault", "unseal", "error", 2),
    ("secrets.vault", "unseal_twice", "error", 1),
    ("secrets.vault", "decrypt", "panic", 1),
    ("secrets.vault", "decrypt_checked", "panic", 1),
    ("secrets.vault", "fetch_token", "ok", 1),
    ("secrets.vault", "rotate", "error", 1),
    ("secrets.session", "Session::check", "ok", 2),
    ("secrets.session", "Session::renew", "ok", 1),
    ("secrets.control", "refuse", "error", 1),
    ("secrets.control", "issue", "ok", 1),
];
