//! The I/O thread: every socket, non-blocking, in one readiness loop.
//!
//! Each connection is a small state machine ([`Phase`]) with buffers of its
//! own. Bytes are read only while a request is being read, answers written
//! as the socket takes them; a complete request goes to a worker
//! ([`super::lane`]) and its answer comes back through a channel and the
//! poll's waker. Deadlines are checked every [`TICK`], so each is met to
//! within 100 ms. The caps and deadlines are described in the module
//! documentation of [`super`].

use std::collections::HashMap;
use std::io::{self, Read as _, Write as _};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::lane::{Done, Job, Lanes};
use super::request::Head;
use super::{encode, parse_head, Response, Status, MAX_HEAD_BYTES};

/// The token of the waker workers and [`super::Server::drop`] wake the loop with.
pub(super) const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
/// Connections are numbered from here, never reusing a number: an answer
/// for a connection that is gone finds nothing.
const FIRST_CONNECTION: usize = 2;

/// Connections with bytes in flight: a request being read, with a worker,
/// or its answer being written.
const MAX_IN_FLIGHT: usize = 128;
/// Connections waiting for a request (fresh or kept alive).
const MAX_IDLE: usize = 512;
/// How long a connection may wait before its request's first byte.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request head may take, from its first byte.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a body may take, from the end of its head.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request being read, or an answer being written, may go
/// without a byte.
const STALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an answer may take to write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, and how much, a refused request is read on after its answer.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_DRAIN_BYTES: usize = 1024 * 1024;
/// How often deadlines are checked and a paused accept is retried.
const TICK: Duration = Duration::from_millis(100);
/// The most read from a socket at a time.
const READ_CHUNK: usize = 4096;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Where a connection is in its exchange.
enum Phase {
    /// Waiting for the first byte of a request.
    Idle,
    /// A request head partly read.
    Head,
    /// A head read (owed a `100 Continue`, perhaps), its body partly read.
    Body(Box<Head>),
    /// A worker has the request.
    Queued,
    /// An answer being written; then the next request, or the end.
    Writing(Then),
    /// A refused request's answer written and our side closed: what the
    /// client still sends is read and dropped, so that closing with it
    /// unread does not make the kernel send a reset that overtakes the
    /// answer.
    Draining { left: usize },
}

/// What follows an answer.
#[derive(Clone, Copy)]
enum Then {
    Next,
    Close,
    Drain,
}

struct Connection {
    stream: TcpStream,
    phase: Phase,
    /// When the phase began: its deadline counts from here.
    since: Instant,
    /// When a byte was last read or written.
    progress: Instant,
    /// Bytes read and not yet consumed by a request.
    input: Vec<u8>,
    /// How far the head in `input` has been searched for its end.
    scan: Scan,
    /// An answer (or an interim one), and how much of it is written.
    output: Vec<u8>,
    written: usize,
}

impl Connection {
    fn new(stream: TcpStream, now: Instant) -> Connection {
        Connection {
            stream,
            phase: Phase::Idle,
            since: now,
            progress: now,
            input: Vec::new(),
            scan: Scan::default(),
            output: Vec::new(),
            written: 0,
        }
    }

    fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle)
    }

    /// Whether cutting it loses only a request still arriving, or a
    /// refused one already answered: what a new request may displace.
    fn is_evictable(&self) -> bool {
        matches!(
            self.phase,
            Phase::Head | Phase::Body(_) | Phase::Draining { .. }
        )
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.since = Instant::now();
    }

    /// Whether a deadline of its phase has passed.
    fn expired(&self, now: Instant) -> bool {
        let (limit, stalls) = match self.phase {
            Phase::Idle => (IDLE_TIMEOUT, false),
            Phase::Head => (HEAD_TIMEOUT, true),
            Phase::Body(_) => (BODY_TIMEOUT, true),
            Phase::Queued => return false,
            // A client that stops reading its answer holds its place no
            // longer than one that stops sending its request.
            Phase::Writing(_) => (WRITE_TIMEOUT, true),
            Phase::Draining { .. } => (DRAIN_TIMEOUT, false),
        };
        now.saturating_duration_since(self.since) > limit
            || (stalls && now.saturating_duration_since(self.progress) > STALL_TIMEOUT)
    }

    /// Sets `bytes` to be written, then `then`.
    fn answer(&mut self, bytes: Vec<u8>, then: Then) {
        self.output = bytes;
        self.written = 0;
        self.enter(Phase::Writing(then));
        // The stall clock starts with the answer, however long it took.
        self.progress = self.since;
    }

    /// Reads once into `input`.
    fn fill(&mut self) -> Filled {
        let mut chunk = [0_u8; READ_CHUNK];
        loop {
            return match self.stream.read(&mut chunk) {
                Ok(0) => Filled::Closed,
                Ok(read) => {
                    self.input.extend_from_slice(&chunk[..read]);
                    self.progress = Instant::now();
                    Filled::Bytes
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => Filled::Blocked,
                Err(_) => Filled::Failed,
            };
        }
    }

    /// Writes what it can of `output`.
    fn flush(&mut self) -> Flushed {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Flushed::Failed,
                Ok(written) => {
                    self.written += written;
                    self.progress = Instant::now();
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
                Err(_) => return Flushed::Failed,
            }
        }
        self.output = Vec::new();
        self.written = 0;
        Flushed::Done
    }
}

enum Filled {
    Bytes,
    Blocked,
    Closed,
    Failed,
}

enum Flushed {
    Done,
    Blocked,
    Failed,
}

/// How far a head has been searched for its end, so that each read scans
/// only the bytes it brought.
#[derive(Default)]
struct Scan {
    line_start: usize,
    scanned: usize,
}

impl Scan {
    /// The length of the head at the start of `input`, through the empty
    /// line that ends it, once `input` holds that line.
    fn end(&mut self, input: &[u8]) -> Option<usize> {
        while self.scanned < input.len() {
            let at = self.scanned;
            self.scanned += 1;
            if input[at] == b'\n' {
                let line = &input[self.line_start..at];
                self.line_start = at + 1;
                if line.is_empty() || line == b"\r" {
                    return Some(at + 1);
                }
            }
        }
        None
    }
}

/// Whether `err` says the process (`EMFILE`) or the system (`ENFILE`) has
/// no file descriptor left: 24 and 23 on Linux, the BSDs and macOS alike.
fn out_of_descriptors(err: &io::Error) -> bool {
    cfg!(unix) && matches!(err.raw_os_error(), Some(23 | 24))
}

/// Drops the empty lines before a request (RFC 9112 §2.2 has a server
/// ignore at least one).
fn skip_empty_lines(input: &mut Vec<u8>) {
    let mut start = 0;
    loop {
        let rest = &input[start..];
        if rest.starts_with(b"\n") {
            start += 1;
        } else if rest.starts_with(b"\r\n") {
            start += 2;
        } else {
            break;
        }
    }
    input.drain(..start);
}

/// The loop's state: the sockets and the counts its caps bound.
struct Loop<'a> {
    poll: Poll,
    listener: TcpListener,
    lanes: &'a Lanes,
    connections: HashMap<usize, Connection>,
    next: usize,
    idle: usize,
    in_flight: usize,
    /// False while accepting is paused, out of file descriptors.
    accepting: bool,
}

/// Runs the loop until `stopping` is set (and the waker woken).
pub(super) fn run(
    poll: Poll,
    listener: TcpListener,
    lanes: &Lanes,
    finished: &Receiver<Done>,
    stopping: &AtomicBool,
) {
    let mut this = Loop {
        poll,
        listener,
        lanes,
        connections: HashMap::new(),
        next: FIRST_CONNECTION,
        idle: 0,
        in_flight: 0,
        accepting: true,
    };
    if this
        .poll
        .registry()
        .register(&mut this.listener, LISTENER, Interest::READABLE)
        .is_err()
    {
        eprintln!("alamos: the metrics endpoint cannot watch its socket; serving nothing");
        return;
    }
    let mut events = Events::with_capacity(1024);
    let mut next_tick = Instant::now() + TICK;
    loop {
        let timeout = next_tick.saturating_duration_since(Instant::now());
        if let Err(err) = this.poll.poll(&mut events, Some(timeout)) {
            if err.kind() != io::ErrorKind::Interrupted {
                // Not expected of epoll; wait rather than spin.
                std::thread::sleep(TICK);
            }
            events.clear();
        }
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        for event in &events {
            match event.token() {
                WAKER => {}
                LISTENER => this.accept(),
                Token(token) => this.drive(token),
            }
        }
        while let Ok(done) = finished.try_recv() {
            this.deliver(done);
        }
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + TICK;
            this.expire(now);
            if !this.accepting {
                this.accepting = true;
                this.accept();
            }
        }
    }
}

impl Loop<'_> {
    /// Accepts every waiting connection, as idle ones.
    fn accept(&mut self) {
        while self.accepting {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    // Answers go out whole; an interim `100 Continue` must
                    // not wait for an acknowledgement (Nagle).
                    let _ = stream.set_nodelay(true);
                    let token = self.next;
                    self.next += 1;
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, Token(token), interest)
                        .is_ok()
                    {
                        // Bytes that came before registering are reported
                        // at once (epoll reports the state on adding).
                        self.put(token, Connection::new(stream, Instant::now()));
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                // Out of file descriptors: make room by closing the oldest
                // idle connection. Otherwise, or for any other error, pause
                // until the next tick; the waiting connections stay in the
                // kernel's backlog.
                Err(err) => {
                    if !(out_of_descriptors(&err) && self.close_oldest(Connection::is_idle)) {
                        self.accepting = false;
                    }
                }
            }
        }
    }

    /// Takes a connection out, to work on it; counts stay exact.
    fn take(&mut self, token: usize) -> Option<Connection> {
        let connection = self.connections.remove(&token)?;
        if connection.is_idle() {
            self.idle -= 1;
        } else {
            self.in_flight -= 1;
        }
        Some(connection)
    }

    /// Puts a connection back, closing the oldest idle one if an idle one
    /// would go over the cap.
    fn put(&mut self, token: usize, connection: Connection) {
        if connection.is_idle() {
            if self.idle >= MAX_IDLE {
                self.close_oldest(Connection::is_idle);
            }
            self.idle += 1;
        } else {
            self.in_flight += 1;
        }
        self.connections.insert(token, connection);
    }

    fn close(&mut self, mut connection: Connection) {
        let _ = self.poll.registry().deregister(&mut connection.stream);
    }

    /// Closes the connection that has been in its phase longest among
    /// those `which` picks; false if there is none.
    fn close_oldest(&mut self, which: fn(&Connection) -> bool) -> bool {
        let oldest = self
            .connections
            .iter()
            .filter(|(_, connection)| which(connection))
            .min_by_key(|(_, connection)| connection.since)
            .map(|(token, _)| *token);
        match oldest.and_then(|token| self.take(token)) {
            Some(connection) => {
                self.close(connection);
                true
            }
            None => false,
        }
    }

    /// Closes every connection past a deadline.
    fn expire(&mut self, now: Instant) {
        let expired: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, connection)| connection.expired(now))
            .map(|(token, _)| *token)
            .collect();
        for token in expired {
            if let Some(connection) = self.take(token) {
                self.close(connection);
            }
        }
    }

    /// Moves a connection on after its socket became ready.
    fn drive(&mut self, token: usize) {
        if let Some(connection) = self.take(token) {
            if let Some(connection) = self.advance(token, connection) {
                self.put(token, connection);
            }
        }
    }

    /// Writes a worker's answer.
    fn deliver(&mut self, done: Done) {
        let Some(mut connection) = self.take(done.conn) else {
            return; // Closed while the worker was on it (the server stops).
        };
        let then = if done.keep_alive {
            Then::Next
        } else {
            Then::Close
        };
        connection.answer(done.bytes, then);
        if let Some(connection) = self.advance(done.conn, connection) {
            self.put(done.conn, connection);
        }
    }

    /// Whether a new request may be read: there is room in flight, or the
    /// oldest request still arriving is cut to make some.
    fn admit(&mut self) -> bool {
        self.in_flight < MAX_IN_FLIGHT || self.close_oldest(Connection::is_evictable)
    }

    /// Reads, parses, queues and writes as far as the socket allows; `None`
    /// when the connection is done (the caller drops it, closing it).
    #[allow(clippy::too_many_lines)] // one state machine, read in one place
    fn advance(&mut self, token: usize, mut conn: Connection) -> Option<Connection> {
        loop {
            match conn.phase {
                Phase::Idle => {
                    skip_empty_lines(&mut conn.input);
                    if conn.input.is_empty() || conn.input == b"\r" {
                        match conn.fill() {
                            Filled::Bytes => continue,
                            Filled::Blocked => return Some(conn),
                            Filled::Closed | Filled::Failed => return self.end(conn),
                        }
                    }
                    if !self.admit() {
                        // Every place in flight is taken by requests already
                        // read: say so, without waiting for the socket.
                        let busy = encode(&Response::status(Status::Unavailable), false);
                        let _ = conn.stream.write(&busy);
                        let _ = conn.stream.shutdown(Shutdown::Write);
                        return self.end(conn);
                    }
                    conn.scan = Scan::default();
                    conn.enter(Phase::Head);
                }
                Phase::Head => {
                    let end = conn.scan.end(&conn.input);
                    if let Some(end) = end.filter(|&end| end <= MAX_HEAD_BYTES) {
                        let parsed = parse_head(&conn.input[..end]);
                        conn.input.drain(..end);
                        match parsed {
                            Ok(head) => {
                                if head.expect_continue && head.content_length > 0 {
                                    // The client holds its body back until told.
                                    conn.output = CONTINUE.to_vec();
                                    conn.written = 0;
                                }
                                conn.enter(Phase::Body(Box::new(head)));
                            }
                            Err(refusal) => {
                                conn.answer(encode(&refusal.response(), false), Then::Drain);
                            }
                        }
                        continue;
                    }
                    if conn.input.len() > MAX_HEAD_BYTES {
                        // No end within the limit: 431, from the parser.
                        let refusal = parse_head(&conn.input[..=MAX_HEAD_BYTES]).err();
                        let response = refusal.map_or_else(
                            || Response::status(Status::HeadTooLarge),
                            |refusal| refusal.response(),
                        );
                        conn.answer(encode(&response, false), Then::Drain);
                        continue;
                    }
                    match conn.fill() {
                        Filled::Bytes => {}
                        Filled::Blocked => return Some(conn),
                        // A head cut short by the client's close is answered
                        // (400), since the client may still read.
                        Filled::Closed => match parse_head(&conn.input) {
                            Err(refusal) => {
                                conn.answer(encode(&refusal.response(), false), Then::Close);
                            }
                            Ok(_) => return self.end(conn),
                        },
                        Filled::Failed => return self.end(conn),
                    }
                }
                Phase::Body(ref head) => {
                    let length = head.content_length;
                    if conn.written < conn.output.len() {
                        match conn.flush() {
                            Flushed::Done => {}
                            Flushed::Blocked => return Some(conn),
                            Flushed::Failed => return self.end(conn),
                        }
                    }
                    if conn.input.len() >= length {
                        let body: Vec<u8> = conn.input.drain(..length).collect();
                        let Phase::Body(head) = std::mem::replace(&mut conn.phase, Phase::Queued)
                        else {
                            return self.end(conn); // Matched above: never.
                        };
                        let job = Job {
                            conn: token,
                            head: *head,
                            body,
                        };
                        if self.lanes.dispatch(job) {
                            conn.enter(Phase::Queued);
                            return Some(conn);
                        }
                        let busy = encode(&Response::status(Status::Unavailable), false);
                        conn.answer(busy, Then::Drain);
                        continue;
                    }
                    match conn.fill() {
                        Filled::Bytes => {}
                        Filled::Blocked => return Some(conn),
                        Filled::Closed | Filled::Failed => return self.end(conn),
                    }
                }
                Phase::Queued => return Some(conn),
                Phase::Writing(then) => match conn.flush() {
                    Flushed::Done => match then {
                        Then::Next => {
                            if conn.input.capacity() > 2 * READ_CHUNK {
                                conn.input.shrink_to(READ_CHUNK);
                            }
                            conn.enter(Phase::Idle);
                        }
                        Then::Close => {
                            let _ = conn.stream.shutdown(Shutdown::Write);
                            return self.end(conn);
                        }
                        Then::Drain => {
                            let _ = conn.stream.shutdown(Shutdown::Write);
                            conn.input = Vec::new();
                            conn.enter(Phase::Draining {
                                left: MAX_DRAIN_BYTES,
                            });
                        }
                    },
                    Flushed::Blocked => return Some(conn),
                    Flushed::Failed => return self.end(conn),
                },
                Phase::Draining { left } => {
                    let mut chunk = [0_u8; READ_CHUNK];
                    match conn.stream.read(&mut chunk) {
                        Ok(0) => return self.end(conn),
                        Ok(read) if read >= left => return self.end(conn),
                        Ok(read) => conn.phase = Phase::Draining { left: left - read },
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Some(conn),
                        Err(_) => return self.end(conn),
                    }
                }
            }
        }
    }

    /// Closes a connection that is done.
    fn end(&mut self, connection: Connection) -> Option<Connection> {
        self.close(connection);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_its_first_empty_line_however_it_arrives() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
        let end = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".len();
        let mut scan = Scan::default();
        assert_eq!(scan.end(head), Some(end));
        // A byte at a time, scanning each byte once.
        let mut scan = Scan::default();
        let found: Vec<Option<usize>> = (1..=head.len()).map(|n| scan.end(&head[..n])).collect();
        assert_eq!(found.iter().flatten().next(), Some(&end));
        assert_eq!(Scan::default().end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(Scan::default().end(b"GET / HTTP/1.1\r\nX: \r\r\n"), None);
    }

    #[test]
    fn empty_lines_before_a_request_are_skipped() {
        let mut input = b"\r\n\n\r\nGET".to_vec();
        skip_empty_lines(&mut input);
        assert_eq!(input, b"GET");
        let mut input = b"\r\r\nGET".to_vec();
        skip_empty_lines(&mut input);
        assert_eq!(input, b"\r\r\nGET");
    }
}
