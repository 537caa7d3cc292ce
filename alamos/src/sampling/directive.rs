//! `ALAMOS_TRACE_SAMPLE` directives: the `ALAMOS_LEVEL` grammar with
//! probabilities for levels.
//!
//! A comma-separated list: a bare probability (`0.01`) sets the root's, a
//! `key=probability` pair the subtree's; the longest covering key wins, as
//! for thresholds. A probability is a decimal number from 0 to 1 (`1`,
//! `0.25`, `.5`, `1e-3`). Parsing is pure and never fails as a whole: each
//! malformed directive is reported and skipped, the rest still apply.

use std::fmt;

use crate::directive::DirectiveError;
use crate::key::{validate_key, ROOT};

/// A probability from 0 to 1.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub(crate) struct Probability(f64);

impl Probability {
    /// Every call traced.
    pub(crate) const ONE: Probability = Probability(1.0);

    /// `p` if it is a number from 0 to 1.
    pub(crate) fn new(p: f64) -> Result<Probability, InvalidProbability> {
        if (0.0..=1.0).contains(&p) {
            // -0.0 is written back as 0.
            Ok(Probability(p + 0.0))
        } else {
            Err(InvalidProbability {
                text: p.to_string(),
                kind: if p.is_nan() {
                    Kind::NotANumber
                } else {
                    Kind::OutOfRange
                },
            })
        }
    }

    pub(crate) fn get(self) -> f64 {
        self.0
    }
}

impl std::str::FromStr for Probability {
    type Err = InvalidProbability;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let not_a_number = || InvalidProbability {
            text: text.to_owned(),
            kind: Kind::NotANumber,
        };
        // Rust's float grammar also takes `inf`, `NaN` and a sign; a
        // probability is digits, a point and an exponent only.
        if text.is_empty()
            || !text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
            || text.starts_with(['-', '+'])
        {
            return Err(not_a_number());
        }
        let value: f64 = text.parse().map_err(|_| not_a_number())?;
        Probability::new(value).map_err(|_| InvalidProbability {
            text: text.to_owned(),
            kind: Kind::OutOfRange,
        })
    }
}

impl fmt::Display for Probability {
    /// The shortest decimal that reads back as the same number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a value is not a probability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidProbability {
    text: String,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    NotANumber,
    OutOfRange,
}

impl fmt::Display for InvalidProbability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::NotANumber => write!(
                f,
                "{:?} is not a probability: expected a number from 0 to 1, such as 0.01",
                self.text
            ),
            Kind::OutOfRange => write!(f, "probability {} is not between 0 and 1", self.text),
        }
    }
}

impl std::error::Error for InvalidProbability {}

/// A parsed directive: the root probability of the subtree under `key`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SampleDirective {
    /// The subtree's key; empty for the root.
    pub(crate) key: String,
    pub(crate) probability: Probability,
}

/// Parses `"0.01,api.auth=1,storage=0.001"`: the well-formed directives in
/// order (a later one for a key replaces an earlier one), and what was
/// wrong with the others.
pub(crate) fn parse_samples(input: &str) -> (Vec<SampleDirective>, Vec<DirectiveError>) {
    let mut directives: Vec<SampleDirective> = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in input.split(',').enumerate() {
        let text = raw.trim();
        if text.is_empty() {
            continue;
        }
        match parse_one(text) {
            Ok(directive) => {
                directives.retain(|earlier| earlier.key != directive.key);
                directives.push(directive);
            }
            Err(reason) => errors.push(DirectiveError {
                position: index + 1,
                text: text.to_owned(),
                reason,
            }),
        }
    }
    (directives, errors)
}

fn parse_one(text: &str) -> Result<SampleDirective, String> {
    let Some((key, probability)) = text.split_once('=') else {
        return match text.parse::<Probability>() {
            Ok(probability) => Ok(SampleDirective {
                key: ROOT.to_owned(),
                probability,
            }),
            Err(err) if validate_key(text).is_ok() => Err(format!(
                "{err}; to set the probability of experiment {text:?} write `{text}=<probability>`"
            )),
            Err(err) => Err(err.to_string()),
        };
    };
    let (key, probability) = (key.trim(), probability.trim());
    if key.is_empty() {
        return Err("no experiment key before `=`".to_owned());
    }
    validate_key(key).map_err(|err| err.to_string())?;
    if probability.is_empty() {
        return Err(format!("no probability after `{key}=`"));
    }
    let probability = probability
        .parse::<Probability>()
        .map_err(|err| err.to_string())?;
    Ok(SampleDirective {
        key: key.to_owned(),
        probability,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directive(key: &str, p: f64) -> SampleDirective {
        SampleDirective {
            key: key.to_owned(),
            probability: Probability::new(p).unwrap(),
        }
    }

    #[test]
    fn parses_the_design_example() {
        let (directives, errors) = parse_samples("0.01,api.auth=1,storage=0.001");
        assert_eq!(errors, []);
        assert_eq!(
            directives,
            [
                directive("", 0.01),
                directive("api.auth", 1.0),
                directive("storage", 0.001)
            ]
        );
    }

    #[test]
    fn numbers_in_every_spelling_and_later_wins() {
        let (directives, errors) = parse_samples(" 1 , a = .5 ,, b=1e-3, a=0, 0.0 ");
        assert_eq!(errors, []);
        assert_eq!(
            directives,
            [
                directive("b", 0.001),
                directive("a", 0.0),
                directive("", 0.0)
            ]
        );
    }

    #[test]
    fn malformed_directives_are_reported_and_the_rest_apply() {
        let (directives, errors) = parse_samples(
            "0.5,api=1.5,=0.1,Bad.Key=0.1,api=,storage,a=b=c,inf,NaN,-0.1,api=0.2,x=1%",
        );
        assert_eq!(directives, [directive("", 0.5), directive("api", 0.2)]);
        let positions: Vec<_> = errors.iter().map(|e| e.position).collect();
        assert_eq!(positions, [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]);
        let messages: Vec<_> = errors.iter().map(ToString::to_string).collect();
        let expect = [
            "probability 1.5 is not between 0 and 1",
            "no experiment key before `=`",
            "'B' at byte 0",
            "no probability after `api=`",
            "write `storage=<probability>`",
            "\"b=c\" is not a probability",
            "\"inf\" is not a probability",
            "\"NaN\" is not a probability",
            "\"-0.1\" is not a probability",
            "\"1%\" is not a probability",
        ];
        for (message, expected) in messages.iter().zip(expect) {
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
        assert!(messages[0].starts_with("directive 2 (\"api=1.5\") skipped"));
    }

    #[test]
    fn probabilities_check_their_range() {
        assert!(Probability::new(f64::NAN).is_err());
        assert!(Probability::new(1.000_001).is_err());
        assert!(Probability::new(-0.5).is_err());
        assert_eq!(Probability::new(-0.0).unwrap().to_string(), "0");
        assert_eq!(Probability::new(0.25).unwrap().to_string(), "0.25");
        assert_eq!("1".parse::<Probability>().unwrap(), Probability::ONE);
    }
}
