//! The admin routes on loopback only (issue 18, item 4): with a token and
//! an address that is not loopback (`0.0.0.0`, `[::]`), `/metrics` alone is
//! served and stderr says why and how to opt in, once; with
//! `ALAMOS_ADMIN_REMOTE=1` or `Builder::admin_remote(true)` the routes are
//! served and stderr warns that the token travels in cleartext. Each case is
//! a fresh process (`src/bin/admin_probe.rs`) that binds every interface
//! and is reached through loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Child, Stdio};

use alamos_tests::http_request;

const TOKEN: &str = "remote-admin-token-8c1f3e";

/// A running `admin_probe`.
struct Probe {
    child: Child,
    /// Where it serves, reached through loopback.
    addr: SocketAddr,
}

impl Probe {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Probe {
        let mut command = alamos_tests::probe_command(env!("CARGO_BIN_EXE_admin_probe"));
        command
            .args(args)
            .env(alamos::env::ADMIN_TOKEN, TOKEN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the probe starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the probe says where it serves");
        let served: SocketAddr = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("not an address: {line:?}"));
        let ip = match served.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Probe {
            child,
            addr: SocketAddr::new(ip, served.port()),
        }
    }

    /// The status of `GET path` with the token.
    fn get(&self, path: &str) -> u16 {
        let auth = format!("Bearer {TOKEN}");
        http_request(self.addr, "GET", path, &[("Authorization", &auth)], b"").status
    }

    /// Stops the probe: its stderr.
    fn stop(mut self) -> String {
        let _ = self.child.stdin.take().expect("stdin").write_all(b"bye\n");
        let output = self.child.wait_with_output().expect("the probe ends");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        stderr
    }
}

/// The lines of `stderr` that mention the admin routes.
fn admin_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.contains("admin routes"))
        .collect()
}

fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

#[test]
fn every_interface_with_a_token_serves_metrics_alone_and_says_why() {
    let mut addrs = vec!["0.0.0.0:0"];
    if ipv6_loopback() {
        addrs.push("[::]:0");
    }
    for addr in addrs {
        let probe = Probe::start(&[], &[(alamos::env::PROMETHEUS_ADDR, addr)]);
        // The answer for routes that are not served, as without a token.
        assert_eq!(probe.get("/alamos/levels"), 404, "{addr}");
        assert_eq!(probe.get("/alamos/tree"), 404, "{addr}");
        assert_eq!(probe.get("/metrics"), 200, "{addr}");
        let stderr = probe.stop();
        let lines = admin_lines(&stderr);
        assert_eq!(lines.len(), 1, "one line, once: {stderr}");
        assert!(
            lines[0].starts_with(&format!(
                "alamos: not serving the admin routes on {addr}: it is not a loopback address"
            )),
            "{stderr}"
        );
        assert!(
            lines[0].contains("travel in cleartext; serving /metrics alone")
                && lines[0]
                    .contains("set ALAMOS_ADMIN_REMOTE=1 or call Builder::admin_remote(true)"),
            "{stderr}"
        );
        assert!(!stderr.contains(TOKEN), "{stderr}");
    }
}

#[test]
fn the_opt_in_serves_the_routes_and_warns_of_cleartext() {
    let every = [(alamos::env::PROMETHEUS_ADDR, "0.0.0.0:0")];
    for (args, env, source) in [
        (
            &[][..],
            &[every[0], (alamos::env::ADMIN_REMOTE, "1")][..],
            "ALAMOS_ADMIN_REMOTE",
        ),
        (&["remote"], &every[..], "Builder::admin_remote"),
    ] {
        let probe = Probe::start(args, env);
        assert_eq!(probe.get("/alamos/levels"), 200, "{source}");
        assert_eq!(probe.get("/metrics"), 200, "{source}");
        let stderr = probe.stop();
        let lines = admin_lines(&stderr);
        assert_eq!(lines.len(), 1, "{stderr}");
        assert_eq!(
            lines[0],
            format!(
                "alamos: serving the admin routes on 0.0.0.0:0, which is not a loopback address, as {source} asks: the bearer token travels in cleartext; put TLS in front of this endpoint"
            ),
            "{stderr}"
        );
    }
    // The builder's word wins over the environment's.
    let probe = Probe::start(&["local"], &[every[0], (alamos::env::ADMIN_REMOTE, "1")]);
    assert_eq!(probe.get("/alamos/levels"), 404);
    let stderr = probe.stop();
    assert!(
        stderr.contains("Builder::admin_remote(false) keeps them to loopback"),
        "{stderr}"
    );
}

#[test]
fn loopback_serves_the_routes_without_a_word() {
    let mut addrs = vec!["127.0.0.1:0"];
    if ipv6_loopback() {
        addrs.push("[::1]:0");
    }
    for addr in addrs {
        let probe = Probe::start(&[], &[(alamos::env::PROMETHEUS_ADDR, addr)]);
        assert_eq!(probe.get("/alamos/levels"), 200, "{addr}");
        let stderr = probe.stop();
        assert!(admin_lines(&stderr).is_empty(), "{addr}: {stderr}");
    }
}

#[test]
fn a_malformed_opt_in_is_reported_and_keeps_the_routes_off() {
    let probe = Probe::start(
        &[],
        &[
            (alamos::env::PROMETHEUS_ADDR, "0.0.0.0:0"),
            (alamos::env::ADMIN_REMOTE, "please"),
        ],
    );
    assert_eq!(probe.get("/alamos/levels"), 404);
    let stderr = probe.stop();
    assert!(
        stderr.contains("ALAMOS_ADMIN_REMOTE=\"please\" is not one of 1, 0, true, false; using 0"),
        "{stderr}"
    );
    assert_eq!(admin_lines(&stderr).len(), 1, "{stderr}");
}
