//! The request-head parser of alamos's HTTP endpoint
//! (`alamos::__private::fuzz_http_request_head`, `httparse` underneath).
//!
//! Invariants checked on every input (raw bytes):
//! - it never panics, and never accepts more than the reference grammar
//!   (see `alamos_fuzz::http_head_is_valid`): at most 8 KiB of UTF-8, a
//!   request line `METHOD /target HTTP/1.x`, header lines `name:value`
//!   (httparse is stricter in places, such as control characters, so the
//!   converse does not hold);
//! - what follows the first empty line is never read: `h CRLF CRLF junk` is
//!   accepted exactly when `h CRLF CRLF` is (within 8 KiB).
#![no_main]

use alamos::__private::fuzz_http_request_head as accepts;
use alamos_fuzz as reference;
use libfuzzer_sys::fuzz_target;

const MAX_HEAD_BYTES: usize = 8 * 1024;

fuzz_target!(|data: &[u8]| {
    if accepts(data) {
        assert!(
            reference::http_head_is_valid(data),
            "accepted outside the grammar: {:?}",
            String::from_utf8_lossy(data)
        );
    }

    // Split the input into a head and a tail at the first NUL, so the fuzzer
    // controls both.
    let (head, junk) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"no colon, not a header\r\n"[..]),
    };
    if head.last() == Some(&b'\r') || head.len() + 4 + junk.len() > MAX_HEAD_BYTES {
        return;
    }
    let crlf = [head, b"\r\n\r\n"].concat();
    let with_junk = [&crlf[..], junk].concat();
    let terminated = accepts(&crlf);
    // (The parser takes only UTF-8 buffers, so junk must be UTF-8 too.)
    if std::str::from_utf8(junk).is_ok() {
        assert_eq!(
            terminated,
            accepts(&with_junk),
            "{:?}",
            String::from_utf8_lossy(&with_junk)
        );
    }
});
