//! Checks of an instrument's arguments, each reported on its own token.

use syn::{Expr, Lit};

use super::args::{InstrumentArgs, Kind};

/// Metric names as Prometheus reads them, outside alamos's own namespace.
pub(crate) fn name(args: &InstrumentArgs) -> syn::Result<()> {
    let name = args.name.value();
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !valid {
        return Err(syn::Error::new(
            args.name.span(),
            format!("invalid metric name {name:?}: a name is [a-zA-Z_:][a-zA-Z0-9_:]*, such as \"frame_size\""),
        ));
    }
    if name.starts_with("alamos_") || name.starts_with("__") {
        return Err(syn::Error::new(
            args.name.span(),
            format!("metric name {name:?}: names starting with `alamos_` or `__` are reserved"),
        ));
    }
    Ok(())
}

/// Label names must be Prometheus label names that alamos does not use
/// itself, each once.
pub(crate) fn labels(args: &InstrumentArgs, kind: Kind) -> syn::Result<()> {
    let mut seen: Vec<String> = Vec::new();
    for (label, _) in &args.labels {
        let name = label.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
        let reserved = name == "experiment" || (kind == Kind::Histogram && name == "le");
        if reserved {
            return Err(syn::Error::new(
                label.span(),
                format!("label `{name}` is set by alamos itself; choose another name"),
            ));
        }
        if name.starts_with("__") {
            return Err(syn::Error::new(
                label.span(),
                format!("label `{name}`: names starting with `__` are reserved by Prometheus"),
            ));
        }
        if seen.contains(&name) {
            return Err(syn::Error::new(
                label.span(),
                format!("duplicate label `{name}`"),
            ));
        }
        seen.push(name);
    }
    Ok(())
}

/// A literal list of bounds must be finite numbers, strictly ascending.
pub(crate) fn buckets(args: &InstrumentArgs) -> syn::Result<()> {
    let Some(buckets) = &args.buckets else {
        return Ok(());
    };
    let Expr::Array(array) = buckets else {
        // A path to a constant such as `alamos::buckets::BYTES`: checked by
        // its type, and by the store when registered.
        return Ok(());
    };
    if array.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            array,
            "`buckets` needs at least one bound",
        ));
    }
    let mut previous: Option<f64> = None;
    for elem in &array.elems {
        let bound = literal_number(elem).ok_or_else(|| {
            syn::Error::new_spanned(
                elem,
                "a bucket bound is a number literal, such as `0.5` or `100.0`",
            )
        })?;
        if !bound.is_finite() {
            return Err(syn::Error::new_spanned(
                elem,
                "a bucket bound must be finite",
            ));
        }
        if previous.is_some_and(|previous| previous >= bound) {
            return Err(syn::Error::new_spanned(
                elem,
                "bucket bounds must ascend strictly",
            ));
        }
        previous = Some(bound);
    }
    Ok(())
}

/// The value of a (possibly negated) integer or float literal.
pub(crate) fn literal_number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Float(float) => float.base10_parse().ok(),
            Lit::Int(int) => int.base10_parse::<f64>().ok(),
            _ => None,
        },
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => {
            literal_number(&unary.expr).map(|value| -value)
        }
        Expr::Group(group) => literal_number(&group.expr),
        Expr::Paren(paren) => literal_number(&paren.expr),
        _ => None,
    }
}

/// The HELP text must say something.
pub(crate) fn describe(args: &InstrumentArgs) -> syn::Result<()> {
    match &args.describe {
        Some(help) if help.value().trim().is_empty() => {
            Err(syn::Error::new(help.span(), "`describe` must not be empty"))
        }
        _ => Ok(()),
    }
}
