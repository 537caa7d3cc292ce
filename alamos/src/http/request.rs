//! Requests: the head parsed by `httparse`, the ecosystem's HTTP/1 parser
//! (hyper's), then checked against what alamos serves.

use super::{Response, Status, TEXT};

/// The largest request head read; a longer one is answered 431.
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;
/// The largest request body read; a longer one is answered 413.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most header lines a head may have.
const MAX_HEADERS: usize = 64;

/// A request head, owned, with its header names in lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) method: String,
    /// The path without its query string.
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) keep_alive: bool,
    /// The body's length, from `Content-Length` (0 without one).
    pub(crate) content_length: usize,
    /// Whether an HTTP/1.1 client asked `Expect: 100-continue`: it waits
    /// for an interim `100 Continue` before it sends the body.
    pub(crate) expect_continue: bool,
}

impl Head {
    /// The value of the header `name` (lower case), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A request as routes see it: its head and its whole body.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub(crate) head: &'a Head,
    pub(crate) body: &'a [u8],
}

impl Request<'_> {
    pub(crate) fn method(&self) -> &str {
        &self.head.method
    }

    pub(crate) fn path(&self) -> &str {
        &self.head.path
    }

    /// The value of the header `name` (lower case), if present.
    #[allow(dead_code)]
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
}

/// Why a request is answered before any route sees it, and the connection
/// closed: its status and a one-line reason for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: Status,
    pub(crate) reason: String,
}

impl Refusal {
    fn new(status: Status, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }

    fn malformed() -> Refusal {
        Refusal::new(Status::BadRequest, "the request head is malformed")
    }

    /// The answer: plain text, the status line and the reason on one line.
    pub(crate) fn response(&self) -> Response {
        Response::new(
            self.status,
            TEXT,
            format!("{}: {}\n", self.status.line(), self.reason),
        )
    }
}

/// Methods whose requests carry content: without `Content-Length` (or with
/// `Transfer-Encoding`, which alamos does not read) they get 411.
const METHODS_WITH_CONTENT: [&str; 3] = ["PUT", "POST", "PATCH"];

/// Parses a request head, up to and including its blank line. Pure, so it
/// can be fuzzed.
///
/// Framing is the server's rule, not a route's: a `PUT`, `POST` or `PATCH`
/// must give its body's length in `Content-Length`. HTTP/1.1 reads such a
/// request without one as having no body, so a client that sent a body
/// anyway would have it parsed as the next request; it gets 411 instead,
/// whatever its path or token, and the connection closes.
///
/// # Errors
///
/// The refusal to answer with: 431 for an oversized head, 505 for an HTTP
/// version other than 1.0 and 1.1, 411 for a chunked body (alamos reads only
/// bodies with a length) or a `PUT`, `POST` or `PATCH` without
/// `Content-Length`, 413 for a body over [`MAX_BODY_BYTES`], 417 for an
/// `Expect` other than `100-continue`, 400 for anything else malformed.
pub(crate) fn parse_head(head: &[u8]) -> Result<Head, Refusal> {
    if head.len() > MAX_HEAD_BYTES {
        return Err(too_large());
    }
    // Header values are text to alamos: a head that is not UTF-8 is refused
    // rather than decoded lossily.
    if std::str::from_utf8(head).is_err() {
        return Err(Refusal::new(
            Status::BadRequest,
            "the request head is not UTF-8",
        ));
    }
    // httparse skips empty lines before the request line. The server drops
    // them before it calls this (`read_head`), so here one means the head
    // began at a blank line and the request line, if any, lies past it.
    if head.starts_with(b"\n") || head.starts_with(b"\r\n") {
        return Err(Refusal::malformed());
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::Version) => return Err(version_error(head)),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large()),
        // A head cut short, or malformed.
        Ok(httparse::Status::Partial) | Err(_) => return Err(Refusal::malformed()),
    }
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(Refusal::malformed());
    };
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || !target.starts_with('/') {
        return Err(Refusal::malformed());
    }
    let mut framing = Framing {
        keep_alive: version == 1,
        content_length: None,
        expect_continue: false,
    };
    let mut owned = Vec::with_capacity(request.headers.len());
    for header in request.headers.iter() {
        let name = header.name.to_ascii_lowercase();
        let value = std::str::from_utf8(header.value)
            .map_err(|_| Refusal::malformed())?
            .trim()
            .to_owned();
        framing.read(&name, &value, version == 1)?;
        owned.push((name, value));
    }
    let Framing {
        keep_alive,
        content_length,
        expect_continue,
    } = framing;
    if content_length.is_none() && METHODS_WITH_CONTENT.contains(&method) {
        return Err(Refusal::new(
            Status::LengthRequired,
            format!("a {method} must give its body's length in a Content-Length header"),
        ));
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (target, None),
    };
    Ok(Head {
        method: method.to_owned(),
        path: path.to_owned(),
        query,
        headers: owned,
        keep_alive,
        content_length: content_length.unwrap_or(0),
        expect_continue,
    })
}

/// What a head's headers say of its connection and its body.
struct Framing {
    keep_alive: bool,
    content_length: Option<usize>,
    expect_continue: bool,
}

impl Framing {
    /// Reads one header, its name in lower case.
    fn read(&mut self, name: &str, value: &str, http_1_1: bool) -> Result<(), Refusal> {
        match name {
            "connection" => {
                for option in value.split(',').map(str::trim) {
                    if option.eq_ignore_ascii_case("close") {
                        self.keep_alive = false;
                    } else if option.eq_ignore_ascii_case("keep-alive") {
                        self.keep_alive = true;
                    }
                }
            }
            "transfer-encoding" => {
                return Err(Refusal::new(
                    Status::LengthRequired,
                    "alamos reads a body by its Content-Length only, not by Transfer-Encoding",
                ))
            }
            "content-length" => {
                let length: usize = value.parse().map_err(|_| {
                    Refusal::new(Status::BadRequest, "the Content-Length is not a number")
                })?;
                if self.content_length.is_some_and(|known| known != length) {
                    return Err(Refusal::new(
                        Status::BadRequest,
                        "the Content-Length headers disagree",
                    ));
                }
                if length > MAX_BODY_BYTES {
                    return Err(Refusal::new(
                        Status::PayloadTooLarge,
                        format!("a body may be {MAX_BODY_BYTES} bytes at most"),
                    ));
                }
                self.content_length = Some(length);
            }
            "expect" => {
                // RFC 9110 §10.1.1: 100-continue is the one expectation; an
                // HTTP/1.0 client's is ignored (it knows no interim answers).
                for expectation in value.split(',').map(str::trim) {
                    if expectation.eq_ignore_ascii_case("100-continue") {
                        self.expect_continue = http_1_1;
                    } else if !expectation.is_empty() {
                        return Err(Refusal::new(
                            Status::ExpectationFailed,
                            "the only expectation alamos meets is 100-continue",
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn too_large() -> Refusal {
    Refusal::new(
        Status::HeadTooLarge,
        format!(
            "a request head may be {MAX_HEAD_BYTES} bytes and {MAX_HEADERS} header lines at most"
        ),
    )
}

/// httparse reports any unknown version alike: a well-formed `HTTP/x.y`
/// gets 505, anything else 400.
fn version_error(head: &[u8]) -> Refusal {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let version = line
        .trim_end_matches('\r')
        .rsplit(' ')
        .next()
        .unwrap_or_default();
    if version.starts_with("HTTP/") && version.len() > "HTTP/".len() {
        Refusal::new(
            Status::VersionNotSupported,
            "alamos speaks HTTP/1.0 and HTTP/1.1",
        )
    } else {
        Refusal::malformed()
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// The head, or the status of its refusal.
    fn parse(head: &[u8]) -> Result<Head, Status> {
        parse_head(head).map_err(|refusal| refusal.status)
    }

    #[test]
    fn parses_a_scrape() {
        let head = parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path, "/metrics");
        assert_eq!(head.query.as_deref(), Some("x=1"));
        assert!(head.keep_alive);
        assert_eq!(head.header("host"), Some("a"));
        assert_eq!(head.content_length, 0);
        assert!(!parse(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(
            parse(b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        let close = parse(b"GET /metrics HTTP/1.1\r\nConnection: Close\r\n\r\n").unwrap();
        assert!(!close.keep_alive);
        let lf = parse(b"GET /metrics HTTP/1.1\nHost: a\n\n").unwrap();
        assert_eq!(lf.header("host"), Some("a"));
    }

    #[test]
    fn refuses_a_head_that_begins_with_a_blank_line() {
        // Found by the http_head fuzz target: httparse skips the blank lines,
        // so the request after them would have been read as this head.
        for head in [
            &b"\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n"[..],
            b"\nGET /metrics HTTP/1.1\n\n",
            b"\r\nGET /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(parse(head), Err(Status::BadRequest), "{head:?}");
        }
    }

    #[test]
    fn reads_a_body_length() {
        let head = parse(b"PUT /alamos/levels HTTP/1.1\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(head.content_length, 12);
        assert_eq!(
            parse(b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(Status::BadRequest)
        );
        assert_eq!(
            parse(b"PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Err(Status::BadRequest)
        );
        assert_eq!(
            parse(b"PUT / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Err(Status::PayloadTooLarge)
        );
        assert_eq!(
            parse(b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Status::LengthRequired)
        );
    }

    #[test]
    fn a_method_with_content_needs_a_length() {
        for method in ["PUT", "POST", "PATCH"] {
            for version in ["1.1", "1.0"] {
                let head = format!("{method} /alamos/levels HTTP/{version}\r\nHost: a\r\n\r\n");
                let refusal = parse_head(head.as_bytes()).unwrap_err();
                assert_eq!(refusal.status, Status::LengthRequired, "{head}");
                assert_eq!(
                    refusal.reason,
                    format!("a {method} must give its body's length in a Content-Length header")
                );
            }
            let framed = format!("{method} / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
            assert_eq!(parse(framed.as_bytes()).unwrap().content_length, 0);
        }
        for method in ["GET", "HEAD", "DELETE", "OPTIONS"] {
            let head = format!("{method} / HTTP/1.1\r\n\r\n");
            assert_eq!(parse(head.as_bytes()).unwrap().content_length, 0);
        }
    }

    #[test]
    fn only_100_continue_is_expected() {
        let head = |expect: &str, version: &str| {
            parse(
                format!("PUT / HTTP/{version}\r\nExpect: {expect}\r\nContent-Length: 4\r\n\r\n")
                    .as_bytes(),
            )
        };
        assert!(head("100-continue", "1.1").unwrap().expect_continue);
        assert!(head("100-Continue ,", "1.1").unwrap().expect_continue);
        // HTTP/1.0 knows no interim answers: its expectation is ignored.
        assert!(!head("100-continue", "1.0").unwrap().expect_continue);
        assert!(
            !parse(b"PUT / HTTP/1.1\r\nContent-Length: 4\r\n\r\n")
                .unwrap()
                .expect_continue
        );
        for expect in ["200-ok", "100-continue, x-fast", "100-continue=1"] {
            for version in ["1.1", "1.0"] {
                assert_eq!(
                    head(expect, version),
                    Err(Status::ExpectationFailed),
                    "{expect}"
                );
            }
        }
        // An oversized body is refused first: the client never sends it.
        assert_eq!(
            parse(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 65537\r\n\r\n"),
            Err(Status::PayloadTooLarge)
        );
    }

    #[test]
    fn rejects_malformed_heads() {
        for head in [
            &b""[..],
            b"\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET /metrics\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"get /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1 extra\r\n\r\n",
            b"GET /metrics FTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nX: \xff\r\n\r\n",
        ] {
            assert_eq!(parse(head), Err(Status::BadRequest), "{head:?}");
        }
        assert_eq!(
            parse(b"GET /metrics HTTP/2.0\r\n\r\n"),
            Err(Status::VersionNotSupported)
        );
        let huge = vec![b'a'; MAX_HEAD_BYTES + 1];
        assert_eq!(parse(&huge), Err(Status::HeadTooLarge));
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..100 {
            let _ = write!(many, "X-{i}: v\r\n");
        }
        many.push_str("\r\n");
        assert_eq!(parse(many.as_bytes()), Err(Status::HeadTooLarge));
    }
}
