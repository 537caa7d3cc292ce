//! Level names: `FromStr` for `LevelFilter` and `Level`.
//!
//! Invariants checked on every input (lossily decoded as UTF-8):
//! - `LevelFilter` parses exactly the eight names (five levels, `trace`,
//!   `info`, `off`) in any ASCII case, to the right value;
//! - `Level` parses the same names but `off`;
//! - a parsed value displays as its canonical name, which parses back to it;
//! - an error names the input and lists the accepted names, `off` only for
//!   `LevelFilter`;
//! - `enables` agrees with the order of levels.
#![no_main]

use alamos::{Level, LevelFilter};
use alamos_fuzz as reference;
use libfuzzer_sys::fuzz_target;

/// Known issue, reported (fuzz/README.md): `"verbose".parse::<Level>()`
/// fails with `LevelFilter`'s message, which lists `off` among the accepted
/// names although `Level` rejects it; only the input `off` itself gets the
/// message without it. Set to `false` once fixed, so the target checks it.
const KNOWN_ISSUE_LEVEL_ERROR_LISTS_OFF: bool = true;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let expected = reference::level_filter(text);
    let filter = text.parse::<LevelFilter>();
    assert_eq!(filter.as_ref().ok(), expected.as_ref(), "{text:?}");
    match &filter {
        Ok(filter) => {
            let name = filter.to_string();
            assert_eq!(name, filter.as_str());
            assert_eq!(name.parse::<LevelFilter>().as_ref(), Ok(filter));
            assert!(["bench", "debug", "prod", "warn", "error", "off"].contains(&name.as_str()));
            assert_eq!(format!("{filter:>7}").trim_start(), name);
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains(&format!("{text:?}")), "{message}");
            assert!(message.ends_with(", off"), "{message}");
        }
    }

    let level = text.parse::<Level>();
    match (&level, expected) {
        (Ok(level), Some(LevelFilter::Level(expected))) => {
            assert_eq!(*level, expected);
            assert_eq!(level.to_string().parse::<Level>().as_ref(), Ok(level));
            assert_eq!(Level::from(level.as_tracing()), *level);
        }
        (Err(error), Some(LevelFilter::Off) | None) => {
            let message = error.to_string();
            assert!(message.contains(&format!("{text:?}")), "{message}");
            if !KNOWN_ISSUE_LEVEL_ERROR_LISTS_OFF || text.eq_ignore_ascii_case("off") {
                assert!(!message.ends_with(", off"), "{message}");
            }
        }
        (level, expected) => panic!("{text:?}: {level:?}, expected {expected:?}"),
    }

    // Thresholds against the order of levels, for levels picked by the input.
    if let [a, b, ..] = data {
        let threshold = Level::ALL[usize::from(*a) % 5];
        let level = Level::ALL[usize::from(*b) % 5];
        assert_eq!(
            LevelFilter::from(threshold).enables(level),
            level >= threshold
        );
        assert!(!LevelFilter::Off.enables(level));
    }
});
