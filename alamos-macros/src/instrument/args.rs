//! The grammar of `counter!`, `gauge!` and `histogram!`:
//!
//! ```text
//! counter!([level,] [experiment = "key",] "name", value [, option]*)
//! gauge!(.., "name", value | += delta | -= delta [, option]*)
//! option = unit = bytes|seconds | describe = "help" | buckets = expr | label = expr
//! ```

use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Expr, Ident, LitStr, Token};

use crate::args::LevelArg;

/// Which macro is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub(crate) fn macro_name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// How a gauge changes.
pub(crate) enum Update {
    Set(Expr),
    Add(Expr),
    Subtract(Expr),
}

pub(crate) enum UnitName {
    Bytes,
    Seconds,
}

/// The arguments as written.
pub(crate) struct InstrumentArgs {
    pub(crate) level: Option<LevelArg>,
    pub(crate) experiment: Option<LitStr>,
    pub(crate) name: LitStr,
    pub(crate) update: Update,
    pub(crate) unit: Option<UnitName>,
    pub(crate) describe: Option<LitStr>,
    pub(crate) buckets: Option<Expr>,
    pub(crate) labels: Vec<(Ident, Expr)>,
}

const OPTIONS: &str =
    "`unit = bytes|seconds`, `describe = \"...\"`, `buckets = ...` or a label `name = value`";

impl InstrumentArgs {
    pub(crate) fn parse(input: ParseStream<'_>, kind: Kind) -> syn::Result<Self> {
        let mut level = None;
        let mut experiment = None;
        // Before the name: a level and `experiment = "key"`, in either order.
        while !input.peek(LitStr) {
            if input.is_empty() {
                return Err(input.error(format!(
                    "expected the metric name as a string literal: `alamos::{}!(\"name\", value)`",
                    kind.macro_name()
                )));
            }
            let ident = input.call(Ident::parse_any)?;
            if ident == "experiment" && input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                let key: LitStr = input.parse().map_err(|err| {
                    syn::Error::new(
                        err.span(),
                        "the experiment key is a string literal: `experiment = \"storage.cesium\"`",
                    )
                })?;
                if experiment.is_some() {
                    return Err(syn::Error::new(
                        ident.span(),
                        "duplicate argument `experiment`",
                    ));
                }
                experiment = Some(key);
            } else {
                let parsed: LevelArg = syn::parse2(quote::quote!(#ident)).map_err(|_| {
                    syn::Error::new(
                        ident.span(),
                        format!(
                            "expected a level (bench, trace, debug, prod, info, warn, error), `experiment = \"key\"` or the metric name as a string literal, found `{ident}`"
                        ),
                    )
                })?;
                if level.is_some() {
                    return Err(syn::Error::new(ident.span(), "duplicate level"));
                }
                level = Some(parsed);
            }
            if input.is_empty() {
                return Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "expected the metric name after `{ident}`: `alamos::{}!({ident}, \"name\", value)`",
                        kind.macro_name()
                    ),
                ));
            }
            input.parse::<Token![,]>()?;
        }
        let name: LitStr = input.parse()?;
        let missing_value = |span| {
            syn::Error::new(
                span,
                format!(
                    "expected a value after the name: `alamos::{}!({}, value)`",
                    kind.macro_name(),
                    name.token()
                ),
            )
        };
        if input.is_empty() {
            return Err(missing_value(name.span()));
        }
        let comma = input.parse::<Token![,]>()?;
        if input.is_empty() {
            return Err(missing_value(comma.span));
        }
        let update = if kind == Kind::Gauge && input.peek(Token![+=]) {
            input.parse::<Token![+=]>()?;
            Update::Add(input.parse()?)
        } else if kind == Kind::Gauge && input.peek(Token![-=]) {
            input.parse::<Token![-=]>()?;
            Update::Subtract(input.parse()?)
        } else {
            Update::Set(input.parse()?)
        };
        let mut args = InstrumentArgs {
            level,
            experiment,
            name,
            update,
            unit: None,
            describe: None,
            buckets: None,
            labels: Vec::new(),
        };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            args.parse_option(input, kind)?;
        }
        Ok(args)
    }

    fn parse_option(&mut self, input: ParseStream<'_>, kind: Kind) -> syn::Result<()> {
        let ident = input
            .call(Ident::parse_any)
            .map_err(|err| syn::Error::new(err.span(), format!("expected one of {OPTIONS}")))?;
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                ident.span(),
                format!(
                    "unknown option `{ident}`, expected `unit = bytes|seconds`, `describe = \"...\"`, `buckets = ...` or a label `{ident} = value`"
                ),
            ));
        }
        input.parse::<Token![=]>()?;
        let keyword = ident.span();
        let duplicate = || syn::Error::new(keyword, format!("duplicate argument `{ident}`"));
        match ident.to_string().as_str() {
            "unit" => {
                let unit = input.call(Ident::parse_any)?;
                let value = match unit.to_string().as_str() {
                    "bytes" => UnitName::Bytes,
                    "seconds" => UnitName::Seconds,
                    _ => {
                        return Err(syn::Error::new(
                            unit.span(),
                            format!("unknown unit `{unit}`, expected `bytes` or `seconds`"),
                        ))
                    }
                };
                if self.unit.replace(value).is_some() {
                    return Err(duplicate());
                }
            }
            "describe" => {
                let help: LitStr = input.parse()?;
                if self.describe.replace(help).is_some() {
                    return Err(duplicate());
                }
            }
            "buckets" => {
                if kind != Kind::Histogram {
                    return Err(syn::Error::new(
                        keyword,
                        format!(
                            "`buckets` belongs to `histogram!`, not `{}!`",
                            kind.macro_name()
                        ),
                    ));
                }
                let buckets: Expr = input.parse()?;
                if self.buckets.replace(buckets).is_some() {
                    return Err(duplicate());
                }
            }
            "experiment" | "level" => {
                let example = if ident == "level" {
                    "debug"
                } else {
                    "experiment = \"key\""
                };
                return Err(syn::Error::new(
                    keyword,
                    format!(
                        "`{ident}` comes before the metric name: `alamos::{}!({example}, \"name\", value)`",
                        kind.macro_name()
                    ),
                ));
            }
            _ => {
                let value: Expr = input.parse()?;
                self.labels.push((ident, value));
            }
        }
        Ok(())
    }
}

/// Parses one kind's arguments.
pub(crate) struct ParseAs(pub(crate) Kind);

impl ParseAs {
    pub(crate) fn parse(self, tokens: proc_macro2::TokenStream) -> syn::Result<InstrumentArgs> {
        syn::parse::Parser::parse2(
            |input: ParseStream<'_>| InstrumentArgs::parse(input, self.0),
            tokens,
        )
    }
}
