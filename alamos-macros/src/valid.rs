//! Every check of the macros' input, so that expansion has no error paths.
//!
//! [`experiment`] turns the attribute and its item into a [`Plan`]: one
//! [`FnPlan`] per function to instrument, each with its arguments merged
//! and checked.

use std::collections::BTreeSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Block, FnArg, Ident, ImplItem, Item, ItemImpl, LitStr, Pat, ReturnType, Signature,
};

use crate::args::{ExperimentArgs, Field, LevelArg, LevelAttr, LevelName, Setting};
use crate::attrs::{alamos_attr, AttrKind};
use crate::{nest, shape};

/// What one instrumented function is, after arguments are merged and checked.
pub(crate) struct Spec {
    pub(crate) key: LitStr,
    pub(crate) level: LevelName,
    /// The fn name, or `name = "..."`: the last part of the span name.
    pub(crate) name: String,
    /// `Type::name` in an instrumented impl, else `name`.
    pub(crate) function: String,
    pub(crate) args: ExperimentArgs,
    /// How many instrumented items enclose this one.
    pub(crate) depth: usize,
}

/// One function to instrument, without its alamos attributes.
pub(crate) struct FnPlan {
    pub(crate) spec: Spec,
    /// Outer and inner (`#![...]`) attributes, as written.
    pub(crate) attrs: Vec<Attribute>,
    /// The visibility, and `default` for a specializing method.
    pub(crate) vis: TokenStream,
    pub(crate) sig: Signature,
    pub(crate) block: Block,
    /// alamos attributes taken off the function that were named by an
    /// import (`#[level(debug)]`): see [`OwnAttrs::imported`].
    pub(crate) imported: Vec<Ident>,
}

// One per macro invocation, moved once: the size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Plan {
    Fn(FnPlan),
    /// The impl block without alamos attributes; the methods at these
    /// indices are replaced by their expansion.
    Impl {
        block: ItemImpl,
        methods: Vec<(usize, FnPlan)>,
        /// Imported names of the alamos attributes taken off the block and
        /// its skipped methods.
        imported: Vec<Ident>,
    },
}

/// `#[alamos::experiment(args)]` on `item`.
pub(crate) fn experiment(args: TokenStream, item: TokenStream) -> syn::Result<Plan> {
    let item = syn::parse2::<Item>(item)?;
    let args = syn::parse2::<ExperimentArgs>(args)?;
    match item {
        Item::Fn(function) => {
            let mut attrs = function.attrs;
            let key = required_key(&args)?;
            if let Some(constness) = function.sig.constness {
                return Err(const_fn(constness.span()));
            }
            let own = take_alamos_attrs(&mut attrs)?;
            if own.experiment.is_some() {
                return Err(syn::Error::new(
                    function.sig.ident.span(),
                    "duplicate `#[alamos::experiment]` on this function",
                ));
            }
            let level = merge_level(args.level, own.level)?;
            let name = args
                .name
                .as_ref()
                .map_or_else(|| function.sig.ident.to_string(), |name| name.value.value());
            let spec = Spec {
                key,
                level,
                function: name.clone(),
                name,
                depth: args.depth,
                args,
            };
            let mut plan = fn_plan(
                spec,
                attrs,
                function.vis.to_token_stream(),
                function.sig,
                *function.block,
            )?;
            plan.imported = own.imported;
            Ok(Plan::Fn(plan))
        }
        Item::Impl(block) => impl_plan(&args, block),
        other => Err(not_a_function(&other)),
    }
}

fn required_key(args: &ExperimentArgs) -> syn::Result<LitStr> {
    let Some(key) = args.key.clone() else {
        return Err(missing_key(args.first.unwrap_or_else(Span::call_site)));
    };
    key_grammar(&key)?;
    Ok(key)
}

fn impl_plan(args: &ExperimentArgs, mut block: ItemImpl) -> syn::Result<Plan> {
    let key = required_key(args)?;
    impl_level(args)?;
    let impl_own = take_alamos_attrs(&mut block.attrs)?;
    if let Some(extra) = &impl_own.experiment {
        return Err(syn::Error::new(
            extra.first.unwrap_or_else(Span::call_site),
            "duplicate `#[alamos::experiment]` on this impl block",
        ));
    }
    let impl_level = merge_level(args.level, impl_own.level)?;
    let type_name = type_name(&block.self_ty);
    let mut result = Ok(());
    let mut methods = Vec::new();
    let mut imported = impl_own.imported;
    for (index, item) in block.items.iter_mut().enumerate() {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        let own = match take_alamos_attrs(&mut method.attrs) {
            Ok(own) => own,
            Err(err) => {
                combine(&mut result, err);
                continue;
            }
        };
        if own.skip || method.sig.constness.is_some() {
            imported.extend(own.imported);
            continue;
        }
        let method_args = own.experiment.unwrap_or_default();
        let planned = method_spec(
            args,
            &key,
            impl_level,
            &type_name,
            method,
            method_args,
            own.level,
        )
        .and_then(|spec| {
            let vis = &method.vis;
            let defaultness = &method.modifiers.defaultness;
            fn_plan(
                spec,
                method.attrs.clone(),
                quote::quote!(#vis #defaultness),
                method.sig.clone(),
                method.block.clone(),
            )
        });
        match planned {
            Ok(mut plan) => {
                plan.imported = own.imported;
                methods.push((index, plan));
            }
            Err(err) => combine(&mut result, err),
        }
    }
    result?;
    Ok(Plan::Impl {
        block,
        methods,
        imported,
    })
}

fn method_spec(
    impl_args: &ExperimentArgs,
    impl_key: &LitStr,
    impl_level: LevelName,
    type_name: &str,
    method: &syn::ImplItemFn,
    own: ExperimentArgs,
    own_level: Option<LevelArg>,
) -> syn::Result<Spec> {
    if let Some(key) = &own.key {
        key_grammar(key)?;
    }
    let level = match (own.level, own_level) {
        (None, None) => impl_level,
        (from_args, from_attr) => merge_level(from_args, from_attr)?,
    };
    let name = own
        .name
        .as_ref()
        .map_or_else(|| method.sig.ident.to_string(), |name| name.value.value());
    let key = own.key.clone().unwrap_or_else(|| impl_key.clone());
    let merged = ExperimentArgs {
        key: None,
        level: None,
        name: None,
        err: own.err.or_else(|| impl_args.err.clone()),
        ret: own.ret.or_else(|| impl_args.ret.clone()),
        labels: own.labels.or_else(|| impl_args.labels.clone()),
        fields: own.fields,
        redact: own.redact,
        depth: impl_args.depth,
        first: own.first,
    };
    Ok(Spec {
        key,
        level,
        function: format!("{type_name}::{name}"),
        name,
        args: merged,
        depth: impl_args.depth,
    })
}

/// The checks every function shares, wherever its arguments came from.
fn fn_plan(
    spec: Spec,
    attrs: Vec<Attribute>,
    vis: TokenStream,
    sig: Signature,
    block: Block,
) -> syn::Result<FnPlan> {
    if let Some(constness) = sig.constness {
        return Err(const_fn(constness.span()));
    }
    argument_names(&spec.args, &sig)?;
    return_type(&spec.args, &sig, &block)?;
    labels(&spec.args)?;
    if spec.depth > nest::MAX_DEPTH {
        return Err(syn::Error::new(
            sig.ident.span(),
            format!(
                "instrumented functions nest at most {} deep",
                nest::MAX_DEPTH
            ),
        ));
    }
    Ok(FnPlan {
        spec,
        attrs,
        vis,
        sig,
        block,
        imported: Vec::new(),
    })
}

/// Where `#[alamos::level]` above `#[alamos::experiment]` moves to.
pub(crate) struct LevelMove {
    pub(crate) item: Item,
    /// The index of the experiment attribute in the item's attributes.
    pub(crate) experiment: usize,
}

/// `#[alamos::level(args)]` on `item`: it needs an experiment below it.
pub(crate) fn level(args: &TokenStream, item: TokenStream) -> syn::Result<LevelMove> {
    let mut item = syn::parse2::<Item>(item)?;
    let LevelAttr(level) = syn::parse2::<LevelAttr>(args.clone())?;
    let attrs = match &mut item {
        Item::Fn(function) => &mut function.attrs,
        Item::Impl(block) => &mut block.attrs,
        _ => return Err(no_experiment(level.span)),
    };
    attrs
        .iter()
        .position(|attr| alamos_attr(attr) == Some(AttrKind::Experiment))
        .map(|experiment| LevelMove { item, experiment })
        .ok_or_else(|| no_experiment(level.span))
}

/// `#[alamos::skip]` is read by an instrumented impl; anywhere else it is a mistake.
pub(crate) fn skip(args: TokenStream) -> syn::Error {
    match args.into_iter().next() {
        Some(token) => syn::Error::new(token.span(), "`#[alamos::skip]` takes no arguments"),
        None => syn::Error::new(
            Span::call_site(),
            "`#[alamos::skip]` only applies to a method of an impl block marked `#[alamos::experiment(...)]`",
        ),
    }
}

fn no_experiment(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "`#[alamos::level]` needs an experiment: add `#[alamos::experiment(\"key\")]` to this function or to its impl block",
    )
}

fn not_a_function(item: &Item) -> syn::Error {
    let mut tokens = item.to_token_stream().into_iter();
    let first = tokens
        .find(|token| {
            !matches!(token, TokenTree::Punct(p) if p.as_char() == '#')
                && !matches!(token, TokenTree::Group(_))
        })
        .map_or_else(Span::call_site, |token| token.span());
    let message = match item {
        Item::Verbatim(_) => "`#[alamos::experiment]` needs a function with a body",
        _ => "`#[alamos::experiment]` goes on a function, a method or an impl block",
    };
    syn::Error::new(first, message)
}

fn const_fn(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "`#[alamos::experiment]` cannot instrument a `const fn`: spans, clocks and metrics do not run at compile time",
    )
}

fn merge_level(from_args: Option<LevelArg>, from_attr: Option<LevelArg>) -> syn::Result<LevelName> {
    match (from_args, from_attr) {
        (Some(_), Some(attr)) => Err(syn::Error::new(
            attr.span,
            "the level is set twice: by `level = ...` and by `#[alamos::level]`",
        )),
        (Some(level), None) | (None, Some(level)) => Ok(level.name),
        (None, None) => Ok(LevelName::Prod),
    }
}

/// The alamos attributes found on a function, removed from its attribute list.
#[derive(Default)]
struct OwnAttrs {
    experiment: Option<ExperimentArgs>,
    level: Option<LevelArg>,
    skip: bool,
    /// The names of those written without a path (`#[skip]`, after `use
    /// alamos::skip`). The compiler never resolves an attribute the
    /// expansion takes off, so their import would be reported unused: the
    /// expansion names them again in an underscore import.
    imported: Vec<Ident>,
}

fn take_alamos_attrs(attrs: &mut Vec<Attribute>) -> syn::Result<OwnAttrs> {
    let mut own = OwnAttrs::default();
    let mut result = Ok(());
    attrs.retain(|attr| {
        let Some(kind) = alamos_attr(attr) else {
            return true;
        };
        if let Some(name) = attr.path().get_ident() {
            own.imported.push(name.clone());
        }
        let parsed = match kind {
            AttrKind::Experiment => attr.parse_args::<ExperimentArgs>().and_then(|args| {
                if own.experiment.is_some() {
                    return Err(syn::Error::new_spanned(
                        attr,
                        "duplicate `#[alamos::experiment]`",
                    ));
                }
                own.experiment = Some(args);
                Ok(())
            }),
            AttrKind::Level => attr.parse_args::<LevelAttr>().and_then(|LevelAttr(level)| {
                if own.level.is_some() {
                    return Err(syn::Error::new(level.span, "duplicate `#[alamos::level]`"));
                }
                own.level = Some(level);
                Ok(())
            }),
            AttrKind::Skip => {
                own.skip = true;
                Ok(())
            }
        };
        if let Err(err) = parsed {
            combine(&mut result, err);
        }
        false
    });
    result.map(|()| own)
}

fn combine(result: &mut syn::Result<()>, err: syn::Error) {
    match result {
        Ok(()) => *result = Err(err),
        Err(existing) => existing.combine(err),
    }
}

/// `FrameWriter` for `impl<T> FrameWriter<T>`, and the written type otherwise.
fn type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .map_or_else(String::new, |segment| segment.ident.to_string()),
        syn::Type::Reference(reference) => type_name(&reference.elem),
        syn::Type::Paren(paren) => type_name(&paren.elem),
        syn::Type::Group(group) => type_name(&group.elem),
        other => other
            .to_token_stream()
            .to_string()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    }
}

/// Checks an experiment key against the grammar `segment(.segment)*`,
/// `segment = [a-z0-9_]+`, reporting every problem on the literal.
pub(crate) fn key_grammar(lit: &LitStr) -> syn::Result<()> {
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
fn argument_names(args: &ExperimentArgs, sig: &Signature) -> syn::Result<()> {
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

/// `err` and `ret` record the returned value, which an `impl Trait` hides;
/// for a function returning a future (see `shape::future_tail`), the value
/// is the future's output.
fn return_type(args: &ExperimentArgs, sig: &Signature, block: &Block) -> syn::Result<()> {
    let hidden = if shape::future_tail(sig, block).is_some() {
        shape::future_output(sig).map_or(true, |ty| has_impl(ty.to_token_stream()))
    } else {
        returns_impl_trait(sig)
    };
    if !hidden {
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

pub(crate) fn has_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => has_impl(group.stream()),
        _ => false,
    })
}

fn returns_impl_trait(sig: &Signature) -> bool {
    match &sig.output {
        ReturnType::Type(_, ty) => has_impl(ty.to_token_stream()),
        ReturnType::Default => false,
    }
}

/// Arguments that name parameters or a function make no sense on an impl block.
fn impl_level(args: &ExperimentArgs) -> syn::Result<()> {
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

fn missing_key(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "expected the experiment key first, such as #[alamos::experiment(\"distribution.frame_writer\")]",
    )
}

/// Label names must be Prometheus label names that alamos does not use itself,
/// each once.
fn labels(args: &ExperimentArgs) -> syn::Result<()> {
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
