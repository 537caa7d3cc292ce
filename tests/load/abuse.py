#!/usr/bin/env python3
"""Malformed requests and slow clients against alamos's /metrics endpoint.

Run by tests/load/metrics_wrk.sh while wrk loads the endpoint:

    python3 tests/load/abuse.py --port PORT --seconds 10 [--slow 4]

For the whole run it keeps SLOW connections open that sent half a request
head and stalled, and, in a loop, sends malformed and refused requests and
checks each status (400, 404, 405, 431, 505), plus a correct GET that must
answer 200. At the end it checks the stalled connections: closed by the
server, which cuts a request head that goes 2 s without a byte (and one not
complete 5 s after its first byte), or still open if the run was shorter
than that. Loopback only; every socket has a timeout.

Prints one line, `abuse: key=value ...`, and exits 1 on any wrong answer.
"""

import argparse
import socket
import sys
import time

HOST = "127.0.0.1"
STALL_TIMEOUT_S = 2  # the endpoint cuts a head that stalls this long

CASES = [
    ("garbage", b"GARBAGE\r\n\r\n", "400"),
    ("lowercase method", b"get /metrics HTTP/1.1\r\n\r\n", "400"),
    ("header without colon", b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", "400"),
    ("binary", b"\xff\xfe\x00\x01\x02\r\n\r\n", "400"),
    ("relative target", b"GET metrics HTTP/1.1\r\n\r\n", "400"),
    ("post", b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "405"),
    ("head", b"HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", "405"),
    ("other path", b"GET /admin HTTP/1.1\r\nConnection: close\r\n\r\n", "404"),
    ("http/2", b"GET /metrics HTTP/2.0\r\n\r\n", "505"),
    ("huge head", b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", "431"),
    ("scrape", b"GET /metrics HTTP/1.1\r\nHost: abuse\r\nConnection: close\r\n\r\n", "200"),
]


def status_of(port, request):
    """Sends `request` on a new connection; the status code, or an error."""
    try:
        with socket.create_connection((HOST, port), timeout=5) as sock:
            sock.settimeout(5)
            try:
                sock.sendall(request)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer and close before reading it all.
                pass
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            if len(parts) >= 2 and parts[0].startswith("HTTP/1."):
                return parts[1]
            return "no status line: %r" % line[:80]
    except OSError as err:
        return "error: %s" % err


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--slow", type=int, default=4)
    args = parser.parse_args()

    started = time.monotonic()
    slow = []
    for _ in range(args.slow):
        sock = socket.create_connection((HOST, args.port), timeout=5)
        sock.sendall(b"GET /metr")  # half a request line, then nothing
        slow.append(sock)

    sent = 0
    wrong = []
    rounds = 0
    deadline = started + args.seconds
    while time.monotonic() < deadline and rounds < 100000:
        rounds += 1
        for name, request, expected in CASES:
            got = status_of(args.port, request)
            sent += 1
            if got != expected:
                wrong.append("%s: expected %s, got %s" % (name, expected, got))
        time.sleep(0.05)

    # The stalled connections: still open before the stall timeout, closed
    # by the server after it (deadlines are checked every 100 ms).
    elapsed = time.monotonic() - started
    expect_closed = elapsed >= STALL_TIMEOUT_S - 1
    if expect_closed:
        time.sleep(max(0.0, started + STALL_TIMEOUT_S + 1.5 - time.monotonic()))
    closed = 0
    for sock in slow:
        sock.settimeout(2 if expect_closed else 0.2)
        try:
            data = sock.recv(4096)
            if data == b"":
                closed += 1
            else:
                wrong.append("a stalled client got an answer: %r" % data[:80])
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed += 1
        sock.close()
    elapsed = time.monotonic() - started
    if expect_closed and closed != len(slow):
        wrong.append("%d of %d stalled clients still open after %.1f s" % (len(slow) - closed, len(slow), elapsed))
    if not expect_closed and closed:
        wrong.append("%d stalled clients closed before the stall timeout" % closed)

    print(
        "abuse: seconds=%.1f rounds=%d requests=%d wrong=%d slow_clients=%d slow_closed=%d"
        % (elapsed, rounds, sent, len(wrong), len(slow), closed)
    )
    for problem in wrong[:20]:
        print("abuse: WRONG " + problem)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
