//! A small HTTP/1.1 server for `GET /metrics`.
//!
//! Scrapes are rare and small, so a thread per connection (with a cap) is
//! simpler and sturdier than an async runtime the user did not ask for. The
//! server answers only `GET /metrics`: other paths get 404, other methods
//! 405. Malformed requests get 400 and the connection closes; a client that
//! stalls is cut off by the read timeout, and one over the connection cap gets
//! 503, so no client can take the endpoint down.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MAX_CONNECTIONS: usize = 64;
const MAX_HEAD_BYTES: usize = 8 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The running endpoint; stops when dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(addr: SocketAddr) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("alamos-metrics-http".into())
            .spawn({
                let stopping = Arc::clone(&stopping);
                move || accept_loop(&listener, &stopping)
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

fn accept_loop(listener: &TcpListener, stopping: &AtomicBool) {
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
            let _ = respond(&mut stream, Status::Unavailable, "", false);
            // Closing with the request unread would make the kernel send a
            // reset that can overtake the 503: close our side, drain briefly.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
            let _ = io::Read::read(&mut stream, &mut [0_u8; 1024]);
            continue;
        }
        let active_here = Arc::clone(&active);
        let spawned = std::thread::Builder::new()
            .name("alamos-metrics-conn".into())
            .spawn(move || {
                let _ = serve(stream);
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

fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(DeadlineReader {
        stream,
        deadline: Instant::now() + IDLE_TIMEOUT,
    });
    loop {
        // Each request head, idle time before it included, gets IDLE_TIMEOUT.
        reader.get_mut().deadline = Instant::now() + IDLE_TIMEOUT;
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        match parse_request(&head) {
            Ok(request) => {
                let (status, body) = match (request.method, request.path) {
                    ("GET", "/metrics") => {
                        (Status::Ok, super::render_current().unwrap_or_default())
                    }
                    (_, "/metrics") => (Status::MethodNotAllowed, String::new()),
                    _ => (Status::NotFound, String::new()),
                };
                let keep_alive = request.keep_alive && !request.has_body;
                respond(&mut writer, status, &body, keep_alive)?;
                if !keep_alive {
                    return Ok(());
                }
            }
            Err(status) => {
                respond(&mut writer, status, "", false)?;
                return Ok(());
            }
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
    NotFound,
    MethodNotAllowed,
    HeadTooLarge,
    Unavailable,
    VersionNotSupported,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::HeadTooLarge => "431 Request Header Fields Too Large",
            Status::Unavailable => "503 Service Unavailable",
            Status::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    /// The path without its query string.
    pub(crate) path: &'a str,
    pub(crate) keep_alive: bool,
    pub(crate) has_body: bool,
}

/// Parses a request head. Pure, so it can be fuzzed.
pub(crate) fn parse_request(head: &[u8]) -> Result<Request<'_>, Status> {
    if head.len() > MAX_HEAD_BYTES {
        return Err(Status::HeadTooLarge);
    }
    let head = std::str::from_utf8(head).map_err(|_| Status::BadRequest)?;
    let mut lines = head
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let request_line = lines.next().ok_or(Status::BadRequest)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status::BadRequest);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Status::BadRequest);
    }
    if !target.starts_with('/') {
        return Err(Status::BadRequest);
    }
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Err(Status::VersionNotSupported),
        _ => return Err(Status::BadRequest),
    };
    let mut has_body = false;
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(Status::BadRequest)?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(Status::BadRequest);
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                if option.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if option.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            has_body = true;
        }
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    Ok(Request {
        method,
        path,
        keep_alive,
        has_body,
    })
}

fn respond(stream: &mut TcpStream, status: Status, body: &str, keep_alive: bool) -> io::Result<()> {
    let content_type = if status == Status::Ok {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let body = if status == Status::Ok {
        body
    } else {
        status.line()
    };
    let mut response = format!(
        "HTTP/1.1 {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        status.line(),
        body.len() + usize::from(status != Status::Ok),
    );
    if status == Status::MethodNotAllowed {
        response.push_str("Allow: GET\r\n");
    }
    response.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    response.push_str(body);
    if status != Status::Ok {
        response.push('\n');
    }
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_scrape() {
        let request = parse_request(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(
            request,
            Request {
                method: "GET",
                path: "/metrics",
                keep_alive: true,
                has_body: false
            }
        );
        let request = parse_request(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        assert!(!request.keep_alive);
        let request = parse_request(b"GET /metrics HTTP/1.1\r\nConnection: Close\r\n\r\n").unwrap();
        assert!(!request.keep_alive);
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
        ] {
            assert_eq!(parse_request(head), Err(Status::BadRequest), "{head:?}");
        }
        assert_eq!(
            parse_request(b"GET /metrics HTTP/2.0\r\n\r\n"),
            Err(Status::VersionNotSupported)
        );
        let huge = vec![b'a'; MAX_HEAD_BYTES + 1];
        assert_eq!(parse_request(&huge), Err(Status::HeadTooLarge));
    }

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
