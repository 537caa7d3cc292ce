//! A small HTTP/1.1 server for alamos's endpoints (`/metrics`, and the
//! admin routes when enabled).
//!
//! Requests are rare and small, so a thread per connection (with a cap) is
//! simpler and sturdier than an async runtime the user did not ask for.
//! Heads are parsed by `httparse` ([`request`]); bodies are read only with a
//! `Content-Length`, up to 64 KiB, and a `PUT`, `POST` or `PATCH` without
//! one gets 411. A client that sends `Expect: 100-continue` gets `100
//! Continue` before its body is read, unless the head alone is refused.
//! Malformed or refused requests get their status with a one-line reason
//! and the connection closes; a client that stalls is cut off once its
//! request has taken longer than the read timeout, and one over the
//! connection cap gets 503, so no client can take the endpoint down. What
//! each path answers is up to the [`Route`]s the server was started with;
//! none answering is 404. Routes see a whole body and nothing of framing.

mod request;

use std::io::{self, BufRead, BufReader, Read as _, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) use self::request::{parse_head, Request, MAX_HEAD_BYTES};

const MAX_CONNECTIONS: usize = 64;
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, and how much, a refused request is read on after its answer.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_DRAIN_BYTES: u64 = 1024 * 1024;

/// What answers requests for some paths.
pub(crate) trait Route: Send + Sync {
    /// The response, or `None` when the path is not this route's.
    fn respond(&self, request: &Request<'_>) -> Option<Response>;
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
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(addr: SocketAddr, routes: Vec<Arc<dyn Route>>) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("alamos-http".into())
            .spawn({
                let stopping = Arc::clone(&stopping);
                let routes: Arc<[Arc<dyn Route>]> = routes.into();
                move || accept_loop(&listener, &routes, &stopping)
            })?;
        Ok(Server {
            addr,
            stopping,
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
        // Wake the blocking accept so the loop sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, routes: &Arc<[Arc<dyn Route>]>, stopping: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else {
            // Transient accept errors (e.g. too many open files): back off.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = respond(&mut stream, &Response::status(Status::Unavailable), false);
            // Closing with the request unread would make the kernel send a
            // reset that can overtake the 503: close our side, drain briefly.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
            let _ = io::Read::read(&mut stream, &mut [0_u8; 1024]);
            continue;
        }
        let active_here = Arc::clone(&active);
        let routes = Arc::clone(routes);
        let spawned = std::thread::Builder::new()
            .name("alamos-http-conn".into())
            .spawn(move || {
                let _ = serve(stream, &routes);
                active_here.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads from a stream until a deadline: a client that sends its request
/// head a byte at a time, each within the read timeout, is still cut off.
struct DeadlineReader {
    stream: TcpStream,
    deadline: Instant,
}

impl io::Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(remaining))?;
        self.stream.read(buf)
    }
}

fn serve(stream: TcpStream, routes: &[Arc<dyn Route>]) -> io::Result<()> {
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(DeadlineReader {
        stream,
        deadline: Instant::now() + IDLE_TIMEOUT,
    });
    loop {
        // Each request, idle time before it included, gets IDLE_TIMEOUT.
        reader.get_mut().deadline = Instant::now() + IDLE_TIMEOUT;
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        let head = match parse_head(&head) {
            Ok(head) => head,
            Err(refusal) => {
                respond(&mut writer, &refusal.response(), false)?;
                // What follows the head (a body, maybe) is not read as a
                // request. Closing with it unread would make the kernel send
                // a reset that can overtake the answer: close our side, and
                // read on briefly until the client closes its own.
                writer.shutdown(std::net::Shutdown::Write)?;
                reader.get_mut().deadline = Instant::now() + DRAIN_TIMEOUT;
                let _ = io::copy(&mut reader.take(MAX_DRAIN_BYTES), &mut io::sink());
                return Ok(());
            }
        };
        if head.expect_continue && head.content_length > 0 {
            // The client holds its body back until told to send it.
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()?;
        }
        let mut body = vec![0_u8; head.content_length];
        reader.read_exact(&mut body)?;
        let request = Request {
            head: &head,
            body: &body,
        };
        let response = routes
            .iter()
            .find_map(|route| route.respond(&request))
            .unwrap_or_else(|| Response::status(Status::NotFound));
        respond(&mut writer, &response, head.keep_alive)?;
        if !head.keep_alive {
            return Ok(());
        }
    }
}

/// Reads one request head (up to the blank line); `None` at a clean close.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let limit = (MAX_HEAD_BYTES + 1 - head.len()) as u64;
        let read = io::Read::take(&mut *reader, limit).read_until(b'\n', &mut head)?;
        if read == 0 {
            return Ok(if head.is_empty() { None } else { Some(head) });
        }
        if head.len() > MAX_HEAD_BYTES {
            return Ok(Some(head));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                // Tolerate blank lines between requests (RFC 9112 §2.2).
                head.clear();
                continue;
            }
            return Ok(Some(head));
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
            Status::Unavailable => "503 Service Unavailable",
            Status::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }
}

fn respond(stream: &mut TcpStream, response: &Response, keep_alive: bool) -> io::Result<()> {
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
    stream.write_all(&bytes)?;
    stream.flush()
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
