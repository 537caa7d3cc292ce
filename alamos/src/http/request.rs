//! Requests: the head parsed by `httparse`, the ecosystem's HTTP/1 parser
//! (hyper's), then checked against what alamos serves.

use super::Status;

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

/// Parses a request head, up to and including its blank line. Pure, so it
/// can be fuzzed.
///
/// # Errors
///
/// The status to answer with: 431 for an oversized head, 505 for an HTTP
/// version other than 1.0 and 1.1, 411 for a chunked body (alamos reads only
/// bodies with a length), 413 for a body over [`MAX_BODY_BYTES`], 400 for
/// anything else malformed.
pub(crate) fn parse_head(head: &[u8]) -> Result<Head, Status> {
    if head.len() > MAX_HEAD_BYTES {
        return Err(Status::HeadTooLarge);
    }
    // Header values are text to alamos: a head that is not UTF-8 is refused
    // rather than decoded lossily.
    if std::str::from_utf8(head).is_err() {
        return Err(Status::BadRequest);
    }
    // httparse skips empty lines before the request line. The server drops
    // them before it calls this (`read_head`), so here one means the head
    // began at a blank line and the request line, if any, lies past it.
    if head.starts_with(b"\n") || head.starts_with(b"\r\n") {
        return Err(Status::BadRequest);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::Version) => return Err(version_error(head)),
        Err(httparse::Error::TooManyHeaders) => return Err(Status::HeadTooLarge),
        // A head cut short, or malformed.
        Ok(httparse::Status::Partial) | Err(_) => return Err(Status::BadRequest),
    }
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(Status::BadRequest);
    };
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || !target.starts_with('/') {
        return Err(Status::BadRequest);
    }
    let mut keep_alive = version == 1;
    let mut content_length = None;
    let mut owned = Vec::with_capacity(request.headers.len());
    for header in request.headers.iter() {
        let name = header.name.to_ascii_lowercase();
        let value = std::str::from_utf8(header.value)
            .map_err(|_| Status::BadRequest)?
            .trim()
            .to_owned();
        match name.as_str() {
            "connection" => {
                for option in value.split(',').map(str::trim) {
                    if option.eq_ignore_ascii_case("close") {
                        keep_alive = false;
                    } else if option.eq_ignore_ascii_case("keep-alive") {
                        keep_alive = true;
                    }
                }
            }
            "transfer-encoding" => return Err(Status::LengthRequired),
            "content-length" => {
                let length: usize = value.parse().map_err(|_| Status::BadRequest)?;
                if content_length.is_some_and(|known| known != length) {
                    return Err(Status::BadRequest);
                }
                if length > MAX_BODY_BYTES {
                    return Err(Status::PayloadTooLarge);
                }
                content_length = Some(length);
            }
            _ => {}
        }
        owned.push((name, value));
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
    })
}

/// httparse reports any unknown version alike: a well-formed `HTTP/x.y`
/// gets 505, anything else 400.
fn version_error(head: &[u8]) -> Status {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let version = line
        .trim_end_matches('\r')
        .rsplit(' ')
        .next()
        .unwrap_or_default();
    if version.starts_with("HTTP/") && version.len() > "HTTP/".len() {
        Status::VersionNotSupported
    } else {
        Status::BadRequest
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn parses_a_scrape() {
        let head = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(head.method, "GET");
        assert_eq!(head.path, "/metrics");
        assert_eq!(head.query.as_deref(), Some("x=1"));
        assert!(head.keep_alive);
        assert_eq!(head.header("host"), Some("a"));
        assert_eq!(head.content_length, 0);
        assert!(
            !parse_head(b"GET /metrics HTTP/1.0\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(
            parse_head(b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        let close = parse_head(b"GET /metrics HTTP/1.1\r\nConnection: Close\r\n\r\n").unwrap();
        assert!(!close.keep_alive);
        let lf = parse_head(b"GET /metrics HTTP/1.1\nHost: a\n\n").unwrap();
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
            assert_eq!(parse_head(head), Err(Status::BadRequest), "{head:?}");
        }
    }

    #[test]
    fn reads_a_body_length() {
        let head =
            parse_head(b"PUT /alamos/levels HTTP/1.1\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(head.content_length, 12);
        assert_eq!(
            parse_head(b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(Status::BadRequest)
        );
        assert_eq!(
            parse_head(b"PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Err(Status::BadRequest)
        );
        assert_eq!(
            parse_head(b"PUT / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Err(Status::PayloadTooLarge)
        );
        assert_eq!(
            parse_head(b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Status::LengthRequired)
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
            assert_eq!(parse_head(head), Err(Status::BadRequest), "{head:?}");
        }
        assert_eq!(
            parse_head(b"GET /metrics HTTP/2.0\r\n\r\n"),
            Err(Status::VersionNotSupported)
        );
        let huge = vec![b'a'; MAX_HEAD_BYTES + 1];
        assert_eq!(parse_head(&huge), Err(Status::HeadTooLarge));
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..100 {
            let _ = write!(many, "X-{i}: v\r\n");
        }
        many.push_str("\r\n");
        assert_eq!(parse_head(many.as_bytes()), Err(Status::HeadTooLarge));
    }
}
