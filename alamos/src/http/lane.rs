//! The workers: one lane per route prefix, each a bounded queue and threads
//! of its own that run routes on complete requests and hand the answers
//! back to the I/O thread as bytes. A worker never touches a socket, so a
//! slow client cannot hold one.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

use super::request::Head;
use super::{encode, Request, Response, Route, Status};

/// Threads per lane: one slow answer (a large tree, say) leaves the other
/// thread answering.
const WORKERS: usize = 2;
/// Requests a lane holds beyond those its workers are on; more are 503.
const QUEUE: usize = 32;

/// A complete request, for a worker.
pub(super) struct Job {
    /// The connection's token in the I/O thread.
    pub(super) conn: usize,
    pub(super) head: Head,
    pub(super) body: Vec<u8>,
}

/// A worker's answer, for the I/O thread to write.
pub(super) struct Done {
    pub(super) conn: usize,
    pub(super) bytes: Vec<u8>,
    pub(super) keep_alive: bool,
}

struct Lane {
    prefix: &'static str,
    queue: SyncSender<Job>,
}

/// Every lane, longest prefix first.
pub(super) struct Lanes(Vec<Lane>);

impl Lanes {
    /// Starts the workers of each prefix among `routes` (a route keeps its
    /// place among those of its prefix: the first that answers wins). A
    /// catch-all lane (`/`) answers 404 when no route has that prefix.
    pub(super) fn start(
        routes: Vec<Arc<dyn Route>>,
        done: &Sender<Done>,
        waker: &Arc<mio::Waker>,
    ) -> std::io::Result<Lanes> {
        let mut grouped: Vec<(&'static str, Vec<Arc<dyn Route>>)> = vec![("/", Vec::new())];
        for route in routes {
            let prefix = route.prefix();
            match grouped.iter_mut().find(|(known, _)| *known == prefix) {
                Some((_, group)) => group.push(route),
                None => grouped.push((prefix, vec![route])),
            }
        }
        grouped.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        let mut lanes = Vec::with_capacity(grouped.len());
        for (prefix, routes) in grouped {
            let (queue, jobs) = mpsc::sync_channel(QUEUE);
            let jobs = Arc::new(Mutex::new(jobs));
            let routes: Arc<[Arc<dyn Route>]> = routes.into();
            for _ in 0..WORKERS {
                let (jobs, routes, done, waker) = (
                    Arc::clone(&jobs),
                    Arc::clone(&routes),
                    done.clone(),
                    Arc::clone(waker),
                );
                std::thread::Builder::new()
                    .name("alamos-http-worker".into())
                    .spawn(move || work(&jobs, &routes, &done, &waker))?;
            }
            lanes.push(Lane { prefix, queue });
        }
        Ok(Lanes(lanes))
    }

    /// Queues `job` on the lane of its path, without waiting: false when
    /// that lane's queue is full.
    pub(super) fn dispatch(&self, job: Job) -> bool {
        let path = job.head.path.as_str();
        // The catch-all lane holds every path the others do not.
        self.0
            .iter()
            .find(|lane| holds(lane.prefix, path))
            .is_some_and(|lane| lane.queue.try_send(job).is_ok())
    }
}

/// Whether `path` is `prefix` or under it.
fn holds(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn work(
    jobs: &Mutex<Receiver<Job>>,
    routes: &[Arc<dyn Route>],
    done: &Sender<Done>,
    waker: &mio::Waker,
) {
    loop {
        // The lock is held while waiting: the other worker of the lane waits
        // on the lock instead, and gets the next job.
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else {
            return; // The server stopped.
        };
        let request = Request {
            head: &job.head,
            body: &job.body,
        };
        // A route that panics answers 500 and leaves the worker serving.
        let response = catch_unwind(AssertUnwindSafe(|| {
            routes.iter().find_map(|route| route.respond(&request))
        }))
        .unwrap_or_else(|_| Some(Response::status(Status::InternalError)))
        .unwrap_or_else(|| Response::status(Status::NotFound));
        let keep_alive = job.head.keep_alive;
        let answer = Done {
            conn: job.conn,
            bytes: encode(&response, keep_alive),
            keep_alive,
        };
        if done.send(answer).is_err() {
            return;
        }
        let _ = waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::http::parse_head;

    /// Answers every path under its prefix with the prefix, or panics.
    struct Named(&'static str);

    impl Route for Named {
        fn respond(&self, request: &Request<'_>) -> Option<Response> {
            assert!(request.path() != "/panics", "a route that panics");
            Some(Response::ok("text/plain", self.0))
        }

        fn prefix(&self) -> &'static str {
            self.0
        }
    }

    fn job(conn: usize, path: &str) -> Job {
        let head = format!("GET {path} HTTP/1.1\r\n\r\n");
        Job {
            conn,
            head: parse_head(head.as_bytes()).unwrap(),
            body: Vec::new(),
        }
    }

    #[test]
    fn each_prefix_answers_on_its_own_lane_and_a_panic_is_a_500() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (done, finished) = mpsc::channel();
        let routes: Vec<Arc<dyn Route>> = vec![Arc::new(Named("/")), Arc::new(Named("/alamos"))];
        let lanes = Lanes::start(routes, &done, &waker).unwrap();
        for (conn, path) in [(1, "/metrics"), (2, "/alamos/levels"), (3, "/panics")] {
            assert!(lanes.dispatch(job(conn, path)));
        }
        let mut answers: Vec<(usize, String)> = (0..3)
            .map(|_| {
                let answer = finished.recv_timeout(Duration::from_secs(10)).unwrap();
                let text = String::from_utf8(answer.bytes).unwrap();
                (answer.conn, text)
            })
            .collect();
        answers.sort();
        assert!(answers[0].1.ends_with("\r\n\r\n/"), "{answers:?}");
        assert!(answers[1].1.ends_with("\r\n\r\n/alamos"), "{answers:?}");
        assert!(answers[2].1.starts_with("HTTP/1.1 500 "), "{answers:?}");
        // The worker that caught the panic serves on.
        assert!(lanes.dispatch(job(4, "/metrics")));
        let answer = finished.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(answer.conn, 4);
    }

    #[test]
    fn prefixes_hold_whole_segments() {
        assert!(holds("/", "/metrics"));
        assert!(holds("/alamos", "/alamos"));
        assert!(holds("/alamos", "/alamos/levels"));
        assert!(!holds("/alamos", "/alamosx"));
        assert!(!holds("/alamos", "/metrics"));
    }
}
