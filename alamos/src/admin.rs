//! The admin endpoint: the live state of the node over HTTP, and its
//! thresholds changed without a restart.
//!
//! A [`Route`] beside `/metrics` on alamos's server, off unless
//! `ALAMOS_ADMIN_TOKEN` is set or the builder gives a token:
//!
//! | request | answer |
//! |---|---|
//! | `GET /alamos/tree` | the tree view as JSON: experiments, levels, thresholds, call counts, instruments, tasks |
//! | `GET /alamos/reports` | [`crate::reports()`] |
//! | `GET /alamos/tasks` | `{"tasks":[...]}`, [`crate::tasks()`] |
//! | `GET /alamos/levels` | `{"directives":"prod,distribution=bench","thresholds":{"":"prod",...}}` |
//! | `PUT /alamos/levels` | the body, in `ALAMOS_LEVEL` syntax, replaces every directive, all or nothing |
//! | `GET /alamos/sampling` | `{"directives":"0.01,api.auth=1","probabilities":{"":0.01,"api.auth":1.0,...}}` |
//! | `PUT /alamos/sampling` | the body, in `ALAMOS_TRACE_SAMPLE` syntax, replaces every root trace probability, all or nothing |
//!
//! # Security
//!
//! - Every `/alamos/` path, an unknown one included, needs
//!   `Authorization: Bearer <token>`; without it, or with a wrong token, the
//!   answer is 401 with `WWW-Authenticate: Bearer realm="alamos"` and
//!   nothing else: the same answer whatever was wrong, no hint of the token
//!   or of which paths exist.
//! - The token is compared in constant time (the time depends only on the
//!   expected token's length), after a check that the header is there once.
//! - A token must be 1 to 4096 visible ASCII characters; an empty or
//!   malformed one (not UTF-8, spaces, control characters) does not enable
//!   the endpoint, and stderr says why. Tokens under 16 characters are
//!   accepted with a warning.
//! - The routes are served only on a loopback address (`127.0.0.1`,
//!   `[::1]`, a bare port), unless `Builder::admin_remote(true)` or
//!   `ALAMOS_ADMIN_REMOTE=1` says otherwise: the token travels in
//!   cleartext. With a token and an address such as `0.0.0.0:9464`, `[::]`
//!   or a real interface, `/metrics` alone is served and stderr says why and
//!   how to opt in; with the opt-in, stderr warns that the token needs TLS
//!   in front. ([`served_on`])
//! - The server answers no CORS preflight (browsers cannot send the header
//!   cross-origin), and every admin answer carries `Cache-Control: no-store`.
//! - `PUT` is all or nothing: a body that is not UTF-8, empty, malformed or
//!   naming an unknown experiment gets 400 with each error (position, text,
//!   reason, nearest known keys) and changes nothing. Framing is the
//!   server's: a `PUT` without `Content-Length` gets 411 before any route
//!   sees it, whatever its path or token, so that answer hints at nothing. A change is logged at
//!   `warn` with the directives before and after; that line is not subject
//!   to the thresholds it changes.
//! - `/metrics` stays open, as it is without the admin endpoint.

use std::fmt;
use std::net::SocketAddr;

use crate::env;
use crate::http::{Request, Response, Route, Status};
use crate::json::Members;
use crate::task;
use crate::tree::{self, Rejected};

/// The longest token accepted.
const MAX_TOKEN_BYTES: usize = 4096;
/// Shorter tokens are accepted with a warning.
const SHORT_TOKEN_BYTES: usize = 16;

const JSON: &str = "application/json";

/// A bearer token; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(Box<[u8]>);

impl Token {
    /// A token from its text.
    ///
    /// # Errors
    ///
    /// Why the text cannot be a token: empty, too long, or holding a byte
    /// that is not visible ASCII.
    pub(crate) fn new(text: &str) -> Result<Token, String> {
        if text.is_empty() {
            return Err("the token is empty".to_owned());
        }
        if text.len() > MAX_TOKEN_BYTES {
            return Err(format!("the token is longer than {MAX_TOKEN_BYTES} bytes"));
        }
        if let Some(at) = text.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(format!(
                "the token holds a character that is not visible ASCII at byte {at} (spaces and control characters cannot travel in an Authorization header)"
            ));
        }
        Ok(Token(text.as_bytes().into()))
    }

    /// Whether `given` is the token, in time that depends only on the
    /// token's length.
    fn matches(&self, given: &[u8]) -> bool {
        let expected = &self.0;
        let mut diff = u8::from(expected.len() != given.len());
        for (index, &byte) in expected.iter().enumerate() {
            let other = given.get(index).copied().unwrap_or(0);
            diff = std::hint::black_box(diff | (byte ^ other));
        }
        diff == 0
    }

    fn is_short(&self) -> bool {
        self.0.len() < SHORT_TOKEN_BYTES
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Checks a token given to the builder or the environment: `None`, with the
/// reason on stderr, if it cannot enable the endpoint.
pub(crate) fn checked(text: &str, source: &str) -> Option<Token> {
    match Token::new(text) {
        Ok(token) => {
            if token.is_short() {
                eprintln!(
                    "alamos: {source}: the admin token is shorter than {SHORT_TOKEN_BYTES} characters; a longer random one is safer"
                );
            }
            Some(token)
        }
        Err(reason) => {
            eprintln!("alamos: {source}: {reason}; the admin endpoint stays off");
            None
        }
    }
}

/// The token `ALAMOS_ADMIN_TOKEN` gives, if it is set and usable.
pub(crate) fn env_token() -> Option<Token> {
    let text = env::var(env::ADMIN_TOKEN, "the admin endpoint stays off")?;
    checked(&text, env::ADMIN_TOKEN)
}

/// Whether the admin routes are served on `addr`: always on a loopback
/// address; on any other only when `remote` (the builder's word, or else
/// `ALAMOS_ADMIN_REMOTE`) says so. Off loopback, stderr says which, and why.
pub(crate) fn served_on(addr: SocketAddr, remote: Option<bool>) -> bool {
    // `::ffff:127.0.0.1` is loopback too.
    if addr.ip().to_canonical().is_loopback() {
        return true;
    }
    let (allowed, source) = match remote {
        Some(remote) => (remote, "Builder::admin_remote"),
        None => (env::flag(env::ADMIN_REMOTE, false), env::ADMIN_REMOTE),
    };
    if allowed {
        eprintln!(
            "alamos: serving the admin routes on {addr}, which is not a loopback address, as {source} asks: the bearer token travels in cleartext; put TLS in front of this endpoint"
        );
    } else if remote.is_some() {
        eprintln!(
            "alamos: not serving the admin routes on {addr}: it is not a loopback address and Builder::admin_remote(false) keeps them to loopback; serving /metrics alone"
        );
    } else {
        eprintln!(
            "alamos: not serving the admin routes on {addr}: it is not a loopback address, and the bearer token would travel in cleartext; serving /metrics alone (to serve them there, behind TLS, set {}=1 or call Builder::admin_remote(true))",
            env::ADMIN_REMOTE
        );
    }
    allowed
}

/// The `/alamos/` routes.
#[derive(Debug)]
pub(crate) struct Admin {
    token: Token,
}

impl Admin {
    pub(crate) fn new(token: Token) -> Admin {
        Admin { token }
    }

    /// Whether the request carries the token, in exactly one
    /// `Authorization: Bearer` header.
    fn authorized(&self, request: &Request<'_>) -> bool {
        let mut values = request
            .head
            .headers
            .iter()
            .filter(|(name, _)| name == "authorization")
            .map(|(_, value)| value.as_str());
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        let Some((scheme, token)) = value.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && self.token.matches(token.trim().as_bytes())
    }
}

impl Route for Admin {
    fn prefix(&self) -> &'static str {
        "/alamos"
    }

    fn respond(&self, request: &Request<'_>) -> Option<Response> {
        let path = request.path();
        if path != "/alamos" && !path.starts_with("/alamos/") {
            return None;
        }
        if !self.authorized(request) {
            return Some(
                Response::status(Status::Unauthorized)
                    .with_header("WWW-Authenticate", "Bearer realm=\"alamos\"")
                    .with_header("Cache-Control", "no-store"),
            );
        }
        let response = match (path, request.method()) {
            ("/alamos/tree", "GET") => Response::ok(JSON, crate::view::tree().json()),
            ("/alamos/reports", "GET") => Response::ok(JSON, crate::report::reports()),
            ("/alamos/tasks", "GET") => Response::ok(JSON, tasks_json()),
            ("/alamos/levels", "GET") => Response::ok(JSON, levels_json()),
            ("/alamos/levels", "PUT") => put_levels(request.body),
            ("/alamos/levels", _) => Response::method_not_allowed("GET, PUT"),
            ("/alamos/sampling", method) => sampling(method, request.body),
            ("/alamos/tree" | "/alamos/reports" | "/alamos/tasks", _) => {
                Response::method_not_allowed("GET")
            }
            _ => Response::status(Status::NotFound),
        };
        Some(response.with_header("Cache-Control", "no-store"))
    }
}

fn tasks_json() -> String {
    let tasks: Vec<String> = task::tasks().iter().map(task::TaskInfo::json).collect();
    format!("{{\"tasks\":[{}]}}", tasks.join(","))
}

fn levels_json() -> String {
    let (spec, thresholds) = tree::thresholds();
    let mut by_key = Members::default();
    for (key, threshold) in thresholds {
        by_key.str(key, threshold.as_str());
    }
    let mut members = Members::default();
    members.str("directives", &spec);
    members.raw("thresholds", &format!("{{{}}}", by_key.as_str()));
    format!("{{{}}}", members.as_str())
}

/// A `PUT /alamos/levels` body that cannot be applied at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    NotUtf8 { valid_up_to: usize },
    Empty,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::NotUtf8 { valid_up_to } => {
                write!(f, "the body is not UTF-8 (from byte {valid_up_to})")
            }
            BodyError::Empty => f.write_str(
                "the body is empty; send directives in ALAMOS_LEVEL syntax, such as `prod,distribution=bench` (`prod` alone resets every threshold)",
            ),
        }
    }
}

/// The directives of a `PUT /alamos/levels` body: UTF-8 text in
/// `ALAMOS_LEVEL` syntax, not blank. Pure, so it can be fuzzed.
pub(crate) fn parse_body(body: &[u8]) -> Result<&str, BodyError> {
    let spec = std::str::from_utf8(body).map_err(|err| BodyError::NotUtf8 {
        valid_up_to: err.valid_up_to(),
    })?;
    // Separators alone (`,,`) set nothing either.
    if spec.split(',').all(|item| item.trim().is_empty()) {
        return Err(BodyError::Empty);
    }
    Ok(spec)
}

/// The answer to an accepted `PUT` of `route`, and the line that says
/// what it changed. Tagged as alamos's own event (an experiment field, the
/// root), so the thresholds it reports on do not silence it.
fn changed(what: &str, route: &str, old: &str, new: &str) -> Response {
    tracing::event!(
        target: "alamos::admin",
        tracing::Level::WARN,
        alamos.experiment = "",
        old = %old,
        new = %new,
        "alamos admin: {what} changed through PUT {route}"
    );
    let mut members = Members::default();
    members.str("old", old);
    members.str("new", new);
    Response::ok(JSON, format!("{{{}}}", members.as_str()))
}

/// Applies a `PUT /alamos/levels` body, all or nothing.
pub(crate) fn put_levels(body: &[u8]) -> Response {
    let spec = match parse_body(body) {
        Ok(spec) => spec,
        Err(err) => return bad_request(&[body_error(&err)]),
    };
    match tree::replace_all(spec) {
        Ok(change) => changed("thresholds", "/alamos/levels", &change.old, &change.new),
        Err(rejected) => {
            let errors: Vec<String> = rejected.iter().map(rejected_json).collect();
            bad_request(&errors)
        }
    }
}

fn body_error(err: &BodyError) -> String {
    let mut members = Members::default();
    members.display("reason", err);
    format!("{{{}}}", members.as_str())
}

fn rejected_json(rejected: &Rejected) -> String {
    let mut members = Members::default();
    members.raw("position", &rejected.error.position.to_string());
    members.str("directive", &rejected.error.text);
    members.str("reason", &rejected.error.reason);
    let mut nearest = String::from("[");
    for (index, key) in rejected.nearest.iter().enumerate() {
        if index > 0 {
            nearest.push(',');
        }
        let _ = crate::json::string(&mut nearest, key);
    }
    nearest.push(']');
    members.raw("nearest", &nearest);
    format!("{{{}}}", members.as_str())
}

/// 400 with the errors and the directives still in force.
fn bad_request(errors: &[String]) -> Response {
    let mut members = Members::default();
    members.raw("errors", &format!("[{}]", errors.join(",")));
    members.str("directives", &tree::spec());
    Response::new(
        Status::BadRequest,
        JSON,
        format!("{{{}}}", members.as_str()),
    )
}

/// `GET` and `PUT /alamos/sampling`: the root trace probabilities, read and
/// replaced all or nothing, as `/alamos/levels` does thresholds.
fn sampling(method: &str, body: &[u8]) -> Response {
    match method {
        "GET" => Response::ok(JSON, samples_json()),
        "PUT" => put_samples(body),
        _ => Response::method_not_allowed("GET, PUT"),
    }
}

fn samples_json() -> String {
    let (spec, probabilities) = tree::samples();
    let mut by_key = Members::default();
    for (key, probability) in probabilities {
        by_key.float(key, probability);
    }
    let mut members = Members::default();
    members.str("directives", &spec);
    members.raw("probabilities", &format!("{{{}}}", by_key.as_str()));
    format!("{{{}}}", members.as_str())
}

/// Applies a `PUT /alamos/sampling` body, all or nothing.
pub(crate) fn put_samples(body: &[u8]) -> Response {
    let spec = match parse_body(body) {
        Ok(spec) => spec,
        Err(BodyError::Empty) => {
            let mut members = Members::default();
            members.str(
                "reason",
                "the body is empty; send probabilities in ALAMOS_TRACE_SAMPLE syntax, such as `0.01,api.auth=1` (`1` alone traces every root call)",
            );
            return samples_bad_request(&[format!("{{{}}}", members.as_str())]);
        }
        Err(err) => return samples_bad_request(&[body_error(&err)]),
    };
    match tree::replace_samples(spec) {
        Ok(change) => changed(
            "trace probabilities",
            "/alamos/sampling",
            &change.old,
            &change.new,
        ),
        Err(rejected) => {
            let errors: Vec<String> = rejected.iter().map(rejected_json).collect();
            samples_bad_request(&errors)
        }
    }
}

/// 400 with the errors and the probabilities still in force.
fn samples_bad_request(errors: &[String]) -> Response {
    let mut members = Members::default();
    members.raw("errors", &format!("[{}]", errors.join(",")));
    members.str("directives", &tree::sample_spec());
    Response::new(
        Status::BadRequest,
        JSON,
        format!("{{{}}}", members.as_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn token() -> Token {
        Token::new("s3cr3t-t0ken-for-tests").unwrap()
    }

    fn respond(head: &str, body: &[u8]) -> Option<Response> {
        let head = parse_head(head.as_bytes()).unwrap();
        Admin::new(token()).respond(&Request { head: &head, body })
    }

    #[test]
    fn tokens_must_be_visible_ascii() {
        assert!(Token::new("").is_err());
        assert!(Token::new("has space").is_err());
        assert!(Token::new("tab\there").is_err());
        assert!(Token::new("é").is_err());
        assert!(Token::new(&"a".repeat(MAX_TOKEN_BYTES + 1)).is_err());
        assert!(Token::new("abc-DEF_123.~+/=").is_ok());
        assert!(Token::new("short").unwrap().is_short());
        assert_eq!(format!("{:?}", token()), "Token(<redacted>)");
    }

    #[test]
    fn tokens_match_exactly() {
        let token = token();
        assert!(token.matches(b"s3cr3t-t0ken-for-tests"));
        assert!(!token.matches(b"s3cr3t-t0ken-for-test"));
        assert!(!token.matches(b"s3cr3t-t0ken-for-tests!"));
        assert!(!token.matches(b"S3cr3t-t0ken-for-tests"));
        assert!(!token.matches(b""));
    }

    #[test]
    fn every_admin_path_needs_the_token() {
        for head in [
            "GET /alamos/tree HTTP/1.1\r\n\r\n",
            "GET /alamos/nothing HTTP/1.1\r\n\r\n",
            "GET /alamos HTTP/1.1\r\n\r\n",
            "GET /alamos/tree HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n",
            "GET /alamos/tree HTTP/1.1\r\nAuthorization: Basic s3cr3t-t0ken-for-tests\r\n\r\n",
            "GET /alamos/tree HTTP/1.1\r\nAuthorization: Bearers3cr3t-t0ken-for-tests\r\n\r\n",
            "GET /alamos/tree HTTP/1.1\r\nAuthorization: Bearer s3cr3t-t0ken-for-tests\r\nAuthorization: Bearer s3cr3t-t0ken-for-tests\r\n\r\n",
            "PUT /alamos/levels HTTP/1.1\r\nAuthorization: Bearer s3cr3t\r\nContent-Length: 0\r\n\r\n",
        ] {
            let response = respond(head, b"").unwrap();
            assert_eq!(response.status, Status::Unauthorized, "{head}");
            let body = String::from_utf8_lossy(&response.body);
            assert_eq!(body, "401 Unauthorized\n", "{head}");
            assert!(response
                .headers
                .contains(&("WWW-Authenticate", "Bearer realm=\"alamos\"".to_owned())));
        }
        assert!(respond("GET /metrics HTTP/1.1\r\n\r\n", b"").is_none());
        assert!(respond("GET /alamosx HTTP/1.1\r\n\r\n", b"").is_none());
    }

    #[test]
    fn authorized_requests_are_routed() {
        let auth = "Authorization: bearer  s3cr3t-t0ken-for-tests";
        let status = |method: &str, path: &str| {
            let head = format!("{method} {path} HTTP/1.1\r\n{auth}\r\nContent-Length: 0\r\n\r\n");
            respond(&head, b"").unwrap().status
        };
        assert_eq!(status("GET", "/alamos/tree"), Status::Ok);
        assert_eq!(status("GET", "/alamos/tasks"), Status::Ok);
        assert_eq!(status("GET", "/alamos/reports"), Status::Ok);
        assert_eq!(status("GET", "/alamos/levels"), Status::Ok);
        assert_eq!(status("POST", "/alamos/levels"), Status::MethodNotAllowed);
        assert_eq!(status("DELETE", "/alamos/tree"), Status::MethodNotAllowed);
        assert_eq!(status("GET", "/alamos/other"), Status::NotFound);
        // An empty PUT body is refused, not read as "reset everything".
        assert_eq!(status("PUT", "/alamos/levels"), Status::BadRequest);
    }

    #[test]
    fn bodies_must_be_utf8_and_not_blank() {
        assert_eq!(parse_body(b"prod,api=debug"), Ok("prod,api=debug"));
        assert_eq!(parse_body(b" , ,\n"), Err(BodyError::Empty));
        assert_eq!(parse_body(b""), Err(BodyError::Empty));
        assert_eq!(
            parse_body(b"prod\xff"),
            Err(BodyError::NotUtf8 { valid_up_to: 4 })
        );
        let response = put_levels(b"\xfe");
        assert_eq!(response.status, Status::BadRequest);
        let body = String::from_utf8(response.body).unwrap();
        assert!(
            body.starts_with(
                r#"{"errors":[{"reason":"the body is not UTF-8 (from byte 0)"}],"directives":""#
            ),
            "{body}"
        );
    }

    #[test]
    fn a_bad_put_changes_nothing_and_says_why() {
        let before = tree::spec();
        let response = put_levels(b"warn,no_such_experiment=debug,api=verbose");
        assert_eq!(response.status, Status::BadRequest);
        let body = String::from_utf8(response.body).unwrap();
        assert!(body.contains(r#""position":2,"directive":"no_such_experiment=debug","reason":"no experiment is named \"no_such_experiment\""#), "{body}");
        assert!(
            body.contains(r#""position":3,"directive":"api=verbose""#),
            "{body}"
        );
        assert_eq!(tree::spec(), before);
    }
}
