//! `ALAMOS_LEVEL` directives.
//!
//! A directive string is a comma-separated list. A bare level (`prod`) sets the
//! root threshold; `key=level` sets the threshold of a subtree; `off` is
//! accepted wherever a level is. Parsing is pure and never fails as a whole:
//! each malformed directive is reported and skipped, the rest still apply.

use std::fmt;

use crate::key::{validate_key, ROOT};
use crate::level::LevelFilter;

/// A parsed directive: the threshold for the subtree under `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    /// The subtree's key; empty for the root.
    pub key: String,
    /// The threshold.
    pub filter: LevelFilter,
}

/// The directives of a string, and what was wrong with the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// Well-formed directives in order. A later one for the same key replaces
    /// an earlier one.
    pub directives: Vec<Directive>,
    /// The directives that were skipped, and why.
    pub errors: Vec<DirectiveError>,
}

/// Parses a directive string such as `"prod,distribution=debug,storage=off"`.
pub fn parse_directives(input: &str) -> Directives {
    let mut out = Directives::default();
    for (index, raw) in input.split(',').enumerate() {
        let text = raw.trim();
        if text.is_empty() {
            continue;
        }
        match parse_one(text) {
            Ok(directive) => {
                if let Some(earlier) = out.directives.iter().position(|d| d.key == directive.key) {
                    out.directives.remove(earlier);
                }
                out.directives.push(directive);
            }
            Err(reason) => out.errors.push(DirectiveError {
                position: index + 1,
                text: text.to_owned(),
                reason,
            }),
        }
    }
    out
}

fn parse_one(text: &str) -> Result<Directive, String> {
    let (key, level) = match text.split_once('=') {
        Some((key, level)) => (key.trim(), level.trim()),
        None => match text.parse::<LevelFilter>() {
            Ok(filter) => {
                return Ok(Directive {
                    key: ROOT.to_owned(),
                    filter,
                })
            }
            Err(err) if validate_key(text).is_ok() => {
                return Err(format!(
                    "{err}; to set the threshold of experiment {text:?} write `{text}=<level>`"
                ))
            }
            Err(err) => return Err(err.to_string()),
        },
    };
    if key.is_empty() {
        return Err("no experiment key before `=`".to_owned());
    }
    validate_key(key).map_err(|err| err.to_string())?;
    if level.is_empty() {
        return Err(format!("no level after `{key}=`"));
    }
    let filter = level
        .parse::<LevelFilter>()
        .map_err(|err| err.to_string())?;
    Ok(Directive {
        key: key.to_owned(),
        filter,
    })
}

/// A directive that was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectiveError {
    /// 1-based position of the directive in the comma-separated list.
    pub position: usize,
    /// The directive as written, trimmed.
    pub text: String,
    /// Why it was skipped.
    pub reason: String,
}

impl fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "directive {} ({:?}) skipped: {}",
            self.position, self.text, self.reason
        )
    }
}

impl std::error::Error for DirectiveError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Level;

    fn directive(key: &str, filter: impl Into<LevelFilter>) -> Directive {
        Directive {
            key: key.to_owned(),
            filter: filter.into(),
        }
    }

    #[test]
    fn parses_the_design_example() {
        let parsed = parse_directives(
            "prod,distribution=debug,distribution.frame_writer=bench,storage.cesium=off",
        );
        assert_eq!(parsed.errors, []);
        assert_eq!(
            parsed.directives,
            [
                directive("", Level::Prod),
                directive("distribution", Level::Debug),
                directive("distribution.frame_writer", Level::Bench),
                directive("storage.cesium", LevelFilter::Off),
            ]
        );
    }

    #[test]
    fn tolerates_spaces_case_and_empty_items() {
        let parsed = parse_directives(" info , storage = TRACE ,, ");
        assert_eq!(parsed.errors, []);
        assert_eq!(
            parsed.directives,
            [
                directive("", Level::Prod),
                directive("storage", Level::Bench)
            ]
        );
    }

    #[test]
    fn later_directive_for_a_key_wins() {
        let parsed = parse_directives("storage=debug,warn,storage=error");
        assert_eq!(
            parsed.directives,
            [
                directive("", Level::Warn),
                directive("storage", Level::Error)
            ]
        );
    }

    #[test]
    fn malformed_directives_are_reported_and_the_rest_apply() {
        let parsed = parse_directives(
            "debug,storage=verbose,=warn,Bad.Key=prod,api=,distribution,a=b=c,api=warn",
        );
        assert_eq!(
            parsed.directives,
            [directive("", Level::Debug), directive("api", Level::Warn)]
        );
        let positions: Vec<_> = parsed.errors.iter().map(|e| e.position).collect();
        assert_eq!(positions, [2, 3, 4, 5, 6, 7]);
        let messages: Vec<_> = parsed.errors.iter().map(ToString::to_string).collect();
        assert!(
            messages[0].contains("unknown level \"verbose\""),
            "{}",
            messages[0]
        );
        assert!(messages[1].contains("no experiment key"), "{}", messages[1]);
        assert!(messages[2].contains("'B' at byte 0"), "{}", messages[2]);
        assert!(
            messages[3].contains("no level after `api=`"),
            "{}",
            messages[3]
        );
        assert!(
            messages[4].contains("write `distribution=<level>`"),
            "{}",
            messages[4]
        );
        assert!(
            messages[5].contains("unknown level \"b=c\""),
            "{}",
            messages[5]
        );
    }
}
