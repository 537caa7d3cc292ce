use std::collections::BTreeSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{FnArg, Ident, LitStr, Pat, ReturnType, Signature};

use crate::args::{ExperimentArgs, Field, Setting};

/// Checks an experiment key against the grammar `segment(.segment)*`,
/// `segment = [a-z0-9_]+`, reporting every problem on the literal.
pub(crate) fn key(lit: &LitStr) -> syn::Result<()> {
    let key = lit.value();
    let mut problems = Vec::new();
    if key.is_empty() {
        problems.push("the key is empty".to_owned());
    } else {
        if key.starts_with('.') {
            problems.push("it starts with a dot".to_owned());
        }
        if key.ends_with('.') {
            problems.push("it ends with a dot".to_owned());
        }
        if key.contains("..") {
            problems.push("it has an empty segment between two dots".to_owned());
        }
        if key.chars().any(char::is_whitespace) {
            problems.push("it contains whitespace".to_owned());
        }
        if key.chars().any(|c| c.is_ascii_uppercase()) {
            problems.push("it contains uppercase letters".to_owned());
        }
        let others: BTreeSet<char> = key
            .chars()
            .filter(|&c| {
                !matches!(c, 'a'..='z' | '0'..='9' | '_' | '.')
                    && !c.is_whitespace()
                    && !c.is_ascii_uppercase()
            })
            .collect();
        if !others.is_empty() {
            let shown: Vec<String> = others.iter().map(|c| format!("{c:?}")).collect();
            problems.push(format!("it contains {}", shown.join(", ")));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(syn::Error::new(
        lit.span(),
        format!(
            "invalid experiment key {key:?}: {}; a key is dot-separated segments of a-z, 0-9 and _, such as \"distribution.frame_writer\"",
            problems.join(", ")
        ),
    ))
}

/// The names bound by a function's parameters, `self` excluded.
pub(crate) fn parameter_names(sig: &Signature) -> Vec<Ident> {
    fn collect(pat: &Pat, out: &mut Vec<Ident>) {
        match pat {
            Pat::Ident(pat) => {
                out.push(pat.ident.clone());
                if let Some((_, sub)) = &pat.subpat {
                    collect(sub, out);
                }
            }
            Pat::Reference(pat) => collect(&pat.pat, out),
            Pat::Struct(pat) => pat.fields.iter().for_each(|f| collect(&f.pat, out)),
            Pat::Tuple(pat) => pat.elems.iter().for_each(|p| collect(p, out)),
            Pat::TupleStruct(pat) => pat.elems.iter().for_each(|p| collect(p, out)),
            Pat::Slice(pat) => pat.elems.iter().for_each(|p| collect(p, out)),
            Pat::Type(pat) => collect(&pat.pat, out),
            Pat::Paren(pat) => collect(&pat.pat, out),
            _ => {}
        }
    }
    let mut names = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(arg) = input {
            collect(&arg.pat, &mut names);
        }
    }
    names
}

/// Every name that `fields` or `redact` takes from the parameters must be one.
pub(crate) fn argument_names(args: &ExperimentArgs, sig: &Signature) -> syn::Result<()> {
    let params = parameter_names(sig);
    let known = |ident: &Ident| params.iter().any(|param| param == ident);
    let unknown = |ident: &Ident, what: &str| {
        let list: Vec<String> = params.iter().map(|p| format!("`{p}`")).collect();
        let expected = if list.is_empty() {
            format!("`{}` takes no named arguments", sig.ident)
        } else {
            format!("the arguments of `{}` are {}", sig.ident, list.join(", "))
        };
        syn::Error::new(
            ident.span(),
            format!("{what} names `{ident}`, which is not an argument; {expected}"),
        )
    };
    let mut errors: Option<syn::Error> = None;
    let mut push = |error: syn::Error| match &mut errors {
        Some(errors) => errors.combine(error),
        None => errors = Some(error),
    };
    if let Some(fields) = &args.fields {
        for field in &fields.value {
            if let Field::Arg { ident, .. } = field {
                if !known(ident) {
                    push(unknown(ident, "`fields`"));
                }
            }
        }
    }
    if let Some(redact) = &args.redact {
        for ident in &redact.value {
            if !known(ident) {
                push(unknown(ident, "`redact`"));
            }
        }
    }
    errors.map_or(Ok(()), Err)
}

/// `err` and `ret` record the returned value, which an `impl Trait` hides.
pub(crate) fn return_type(args: &ExperimentArgs, sig: &Signature) -> syn::Result<()> {
    if !returns_impl_trait(sig) {
        return Ok(());
    }
    for (setting, name) in [(&args.err, "err"), (&args.ret, "ret")] {
        if let Some(Setting { keyword, .. }) = setting {
            return Err(syn::Error::new(
                *keyword,
                format!("`{name}` cannot record an `impl Trait` return value"),
            ));
        }
    }
    Ok(())
}

/// The return type when generated code can name it in a `let` or a closure
/// parameter: not `()`, not `!`, without `impl Trait`.
pub(crate) fn nameable_return(sig: &Signature) -> Option<&syn::Type> {
    match &sig.output {
        ReturnType::Type(_, ty)
            if !matches!(**ty, syn::Type::Never(_)) && !returns_impl_trait(sig) =>
        {
            Some(ty)
        }
        _ => None,
    }
}

fn returns_impl_trait(sig: &Signature) -> bool {
    fn has_impl(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => has_impl(group.stream()),
            _ => false,
        })
    }
    match &sig.output {
        ReturnType::Type(_, ty) => has_impl(ty.to_token_stream()),
        ReturnType::Default => false,
    }
}

/// Arguments that name parameters or a function make no sense on an impl block.
pub(crate) fn impl_level(args: &ExperimentArgs) -> syn::Result<()> {
    let misplaced = [
        args.name.as_ref().map(|s| (s.keyword, "name")),
        args.fields.as_ref().map(|s| (s.keyword, "fields")),
        args.redact.as_ref().map(|s| (s.keyword, "redact")),
    ];
    if let Some((span, name)) = misplaced.into_iter().flatten().next() {
        return Err(syn::Error::new(
            span,
            format!(
                "`{name}` belongs on a method: put `#[alamos::experiment({name}(...))]` on the method inside this impl block"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn missing_key(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "expected the experiment key first, such as #[alamos::experiment(\"distribution.frame_writer\")]",
    )
}

/// Label names must be Prometheus label names that alamos does not use itself,
/// each once.
pub(crate) fn labels(args: &ExperimentArgs) -> syn::Result<()> {
    let Some(labels) = &args.labels else {
        return Ok(());
    };
    let mut seen: Vec<String> = Vec::new();
    for label in &labels.value {
        let name = label.name.unraw().to_string();
        if ["experiment", "function", "outcome", "le"].contains(&name.as_str()) {
            return Err(syn::Error::new(
                label.name.span(),
                format!("label `{name}` is set by alamos itself; choose another name"),
            ));
        }
        if name.starts_with("__") {
            return Err(syn::Error::new(
                label.name.span(),
                format!("label `{name}`: names starting with `__` are reserved by Prometheus"),
            ));
        }
        if seen.contains(&name) {
            return Err(syn::Error::new(
                label.name.span(),
                format!("duplicate label `{name}`"),
            ));
        }
        seen.push(name);
    }
    Ok(())
}
