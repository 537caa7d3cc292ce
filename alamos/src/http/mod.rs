//! A small HTTP/1.1 server for alamos's endpoints (`/metrics`, and the
//! admin routes when enabled) that slow, idle or flooding clients cannot
//! take down.
//!
//! # Sockets wait on one thread; only requests take workers
//!
//! One I/O thread ([`io`]) owns every socket, non-blocking, in a readiness
//! loop: it accepts, reads each request head (and body) into a buffer of the
//! connection's own, writes each answer out, and enforces the deadlines. Only
//! a complete request goes to a worker ([`lane`]), which runs the route and
//! hands the answer back as bytes: a worker is held by request work, never by
//! a socket waiting for bytes, so a client that sends nothing, or a byte every
//! few seconds, costs a buffer and a file descriptor, not a thread.
//!
//! - **Deadlines per connection:** a request head must be complete within
//!   5 s of its first byte, its body within 5 s of the head, and bytes must
//!   keep moving (none read for 2 s, or none of an answer taken for 2 s,
//!   cuts the connection). A connection that starts no request for 10 s
//!   (before its first, or between keep-alive requests) is closed, and so
//!   is one whose answer takes over 10 s to write.
//! - **Caps:** at most 128 connections with bytes in flight (a request being
//!   read, worked on or answered); when a new request starts beyond that,
//!   the connection whose partial request is oldest is cut, so the clients
//!   that take longest lose, and a request that arrives whole is read
//!   (unless all 128 are with workers or being answered: then 503). Idle connections (keep-alive ones included) are capped apart, at
//!   512, and the oldest is closed first to admit a new one. Accepting never
//!   waits on a refused connection: when the process is out of file
//!   descriptors, the oldest idle connection is closed to make room, or
//!   accepting pauses for 100 ms.
//! - **Lanes:** each route prefix (`/metrics` and everything else, and
//!   `/alamos` for the admin routes) has workers and a bounded queue of its
//!   own, so a flood of scrapes never delays an operator's admin request. A
//!   full queue is answered 503 at once.
//!
//! Why `mio`: the readiness loop needs epoll (kqueue, IOCP) and a waker, and
//! mio (tokio's, widely used) gives both in one small crate: with `net` and
//! `os-poll` it depends on `libc` alone on Unix, which the default build
//! already has, so it adds one crate to the graph. `polling` (smol's) would
//! do too but brings `rustix` and its own dependencies. An async runtime
//! would bring far more, and a thread per connection (this server's first
//! design) is what a slow client could exhaust.
//!
//! # Framing
//!
//! Heads are parsed by `httparse` ([`request`]); bodies are read only with a
//! `Content-Length`, up to 64 KiB, and a `PUT`, `POST` or `PATCH` without
//! one gets 411. A client that sends `Expect: 100-continue` gets `100
//! Continue` before its body is read, unless the head alone is refused.
//! Malformed or refused requests get their status with a one-line reason
//! and the connection closes (after a brief drain of what the client was
//! still sending, so that the kernel's reset does not overtake the answer).
//! What each path answers is up to the [`Route`]s the server was started
//! with; none answering is 404, and a route that panics gets 500. Routes
//! see a whole body and nothing of framing.

mod io;
mod lane;
mod request;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub(crate) use self::request::{parse_head, Request, MAX_HEAD_BYTES};

/// What answers requests for some paths.
pub(crate) trait Route: Send + Sync {
    /// The response, or `None` when the path is not this route's.
    fn respond(&self, request: &Request<'_>) -> Option<Response>;

    /// The paths this route may answer: `prefix` itself and those under it
    /// (`prefix/...`); `/` for any. A request goes to the routes of the
    /// longest prefix that holds its path, which run on workers of their
    /// own: one prefix's load never delays another's answers.
    fn prefix(&self) -> &'static str {
        "/"
    }
}

/// A response: status, content type, extra headers and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: Status,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A 200 with `body`.
    pub(crate) fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response::new(Status::Ok, content_type, body)
    }

    /// A response with `status` and `body`.
    pub(crate) fn new(
        status: Status,
        content_type: &'static str,
        body: impl Into<Vec<u8>>,
    ) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A plain-text response whose body is its status line.
    pub(crate) fn status(status: Status) -> Response {
        Response::new(status, TEXT, format!("{}\n", status.line()))
    }

    /// 405, naming the methods `path` allows.
    pub(crate) fn method_not_allowed(allow: &str) -> Response {
        Response::status(Status::MethodNotAllowed).with_header("Allow", allow)
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Plain UTF-8 text.
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

/// Parses a listen address: `127.0.0.1:9464`, `[::1]:9464`, `localhost:9464`,
/// or a bare port (`9464`, `:9464`), which binds loopback only.
pub(crate) fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let port_only = text.strip_prefix(':').unwrap_or(text);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    match text.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{text:?} resolves to no address")),
        Err(err) => Err(format!(
            "{text:?} is not a socket address such as 127.0.0.1:9464 or a port ({err})"
        )),
    }
}

/// The running server; stops when dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(addr: SocketAddr, routes: Vec<Arc<dyn Route>>) -> std::io::Result<Server> {
        // Bound by std, so that binding fails (and says why) as before.
        let listener = std::net::TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let listener = mio::net::TcpListener::from_std(listener);
        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), io::WAKER)?);
        let (done, finished) = std::sync::mpsc::channel();
        let lanes = lane::Lanes::start(routes, &done, &waker)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("alamos-http".into())
            .spawn({
                let stopping = Arc::clone(&stopping);
                move || io::run(poll, listener, &lanes, &finished, &stopping)
            })?;
        Ok(Server {
            addr,
            stopping,
            waker,
            thread: Some(thread),
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // The I/O thread sees the flag at its next wake-up: this one. The
        // workers end when it drops their queues; a worker stuck in a route
        // is not waited for.
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    BadRequest,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    LengthRequired,
    PayloadTooLarge,
    ExpectationFailed,
    HeadTooLarge,
    InternalError,
    Unavailable,
    VersionNotSupported,
}

impl Status {
    pub(crate) fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::Unauthorized => "401 Unauthorized",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::LengthRequired => "411 Length Required",
            Status::PayloadTooLarge => "413 Payload Too Large",
            Status::ExpectationFailed => "417 Expectation Failed",
            Status::HeadTooLarge => "431 Request Header Fields Too Large",
            Status::InternalError => "500 Internal Server Error",
            Status::Unavailable => "503 Service Unavailable",
            Status::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }
}

/// The bytes of an answer, head and body.
fn encode(response: &Response, keep_alive: bool) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        response.status.line(),
        response.content_type,
        response.body.len(),
    );
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_default_to_loopback() {
        assert_eq!(
            parse_listen_addr("9464"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9464)))
        );
        assert_eq!(
            parse_listen_addr(":9464"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9464)))
        );
        assert_eq!(
            parse_listen_addr("0.0.0.0:1"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 1)))
        );
        assert!(parse_listen_addr("[::1]:9464").unwrap().ip().is_loopback());
        assert!(parse_listen_addr("not an address").is_err());
        assert!(parse_listen_addr("127.0.0.1:99999").is_err());
    }
}
