//! The root probability OpenTelemetry's own variables ask for, when
//! `ALAMOS_TRACE_SAMPLE` is unset: `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG`, as the OpenTelemetry specification defines
//! them.
//!
//! Read here, not in `otel`, so they apply in every build. alamos keeps
//! traces whole, so every sampler is parent-based here: `always_on`,
//! `always_off` and `traceidratio` give the root probability their
//! `parentbased_` forms give.

/// The sampler variable.
pub(crate) const SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// Its argument: the ratio of `traceidratio`.
pub(crate) const SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";

use super::directive::Probability;

/// The root probability `var` gives, `None` when the sampler is unset or
/// unusable, and what was wrong, one line each.
pub(crate) fn root_probability(
    var: impl Fn(&str) -> Option<String>,
) -> (Option<Probability>, Vec<String>) {
    let mut problems = Vec::new();
    let Some(sampler) = var(SAMPLER).filter(|value| !value.trim().is_empty()) else {
        return (None, problems);
    };
    let probability = match sampler.trim() {
        "always_on" | "parentbased_always_on" => Some(Probability::ONE),
        "always_off" | "parentbased_always_off" => Probability::new(0.0).ok(),
        "traceidratio" | "parentbased_traceidratio" => Some(ratio(&var, &mut problems)),
        unsupported @ ("jaeger_remote" | "parentbased_jaeger_remote" | "xray") => {
            problems.push(format!(
                "{SAMPLER}={unsupported:?} is not supported; tracing every root call"
            ));
            None
        }
        other => {
            problems.push(format!(
                "{SAMPLER}={other:?} is not one of always_on, always_off, traceidratio, \
                 parentbased_always_on, parentbased_always_off, parentbased_traceidratio; \
                 tracing every root call"
            ));
            None
        }
    };
    (probability, problems)
}

/// The ratio of `traceidratio`: 1 when the argument is unset or malformed,
/// as the specification says.
fn ratio(var: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Probability {
    let Some(arg) = var(SAMPLER_ARG).filter(|value| !value.trim().is_empty()) else {
        return Probability::ONE;
    };
    arg.parse::<Probability>().unwrap_or_else(|err| {
        problems.push(format!("ignoring {SAMPLER_ARG}: {err}; using 1"));
        Probability::ONE
    })
}

/// What the process environment says, its problems printed on stderr.
pub(crate) fn from_env() -> Option<Probability> {
    let (probability, problems) = root_probability(|name| std::env::var(name).ok());
    for problem in problems {
        eprintln!("alamos: {problem}");
    }
    probability
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> (Option<f64>, Vec<String>) {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (p, problems) = root_probability(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        });
        (p.map(Probability::get), problems)
    }

    #[test]
    fn every_sampler_gives_its_root_probability() {
        assert_eq!(read(&[]), (None, vec![]));
        assert_eq!(read(&[(SAMPLER, " ")]), (None, vec![]));
        for (sampler, p) in [
            ("always_on", 1.0),
            ("parentbased_always_on", 1.0),
            ("always_off", 0.0),
            ("parentbased_always_off", 0.0),
        ] {
            assert_eq!(read(&[(SAMPLER, sampler)]), (Some(p), vec![]), "{sampler}");
        }
        for sampler in ["traceidratio", "parentbased_traceidratio"] {
            assert_eq!(
                read(&[(SAMPLER, sampler), (SAMPLER_ARG, "0.25")]),
                (Some(0.25), vec![])
            );
            assert_eq!(read(&[(SAMPLER, sampler)]), (Some(1.0), vec![]));
        }
    }

    #[test]
    fn malformed_values_are_reported() {
        let (p, problems) = read(&[(SAMPLER, "traceidratio"), (SAMPLER_ARG, "2")]);
        assert_eq!(p, Some(1.0));
        assert_eq!(
            problems,
            ["ignoring OTEL_TRACES_SAMPLER_ARG: probability 2 is not between 0 and 1; using 1"]
        );
        let (p, problems) = read(&[(SAMPLER, "parentbased_traceidratio"), (SAMPLER_ARG, "x")]);
        assert_eq!(p, Some(1.0));
        assert!(
            problems[0].contains("\"x\" is not a probability"),
            "{problems:?}"
        );
        let (p, problems) = read(&[(SAMPLER, "sometimes")]);
        assert_eq!(p, None);
        assert!(problems[0].starts_with("OTEL_TRACES_SAMPLER=\"sometimes\" is not one of"));
        let (p, problems) = read(&[(SAMPLER, "xray")]);
        assert_eq!(p, None);
        assert!(problems[0].contains("not supported"), "{problems:?}");
    }
}
