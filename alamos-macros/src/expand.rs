use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Block, ImplItem, Item, ItemFn, ItemImpl, LitStr, ReturnType, Signature, Stmt,
};

use crate::args::{ExperimentArgs, Field, Format, LevelArg, LevelAttr, LevelName, Setting};
use crate::nest;
use crate::rewrite::Exits;
use crate::strip::{self, Presence};
use crate::valid;

/// `#[alamos::experiment]`: instruments a function or every method of an impl.
pub(crate) fn experiment(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut item = match syn::parse2::<Item>(item.clone()) {
        Ok(item) => item,
        Err(err) => return with_item(err, item),
    };
    let result = syn::parse2::<ExperimentArgs>(args).and_then(|args| match &mut item {
        Item::Fn(function) => expand_free_fn(&args, function),
        Item::Impl(block) => expand_impl(&args, block),
        other => Err(not_a_function(other)),
    });
    match result {
        Ok(tokens) => tokens,
        Err(err) => {
            strip_alamos_attrs_everywhere(&mut item);
            with_item(err, item.into_token_stream())
        }
    }
}

/// `#[alamos::level]` above `#[alamos::experiment]` moves below it, where the
/// experiment expansion reads it. Alone, it has nothing to apply to.
pub(crate) fn level(args: &TokenStream, item: TokenStream) -> TokenStream {
    let mut parsed = match syn::parse2::<Item>(item.clone()) {
        Ok(parsed) => parsed,
        Err(err) => return with_item(err, item),
    };
    let level = match syn::parse2::<LevelAttr>(args.clone()) {
        Ok(LevelAttr(level)) => level,
        Err(err) => {
            strip_alamos_attrs_everywhere(&mut parsed);
            return with_item(err, parsed.into_token_stream());
        }
    };
    let attrs = match &mut parsed {
        Item::Fn(function) => &mut function.attrs,
        Item::Impl(block) => &mut block.attrs,
        _ => return with_item(no_experiment(level.span), item),
    };
    let experiment = attrs
        .iter()
        .position(|attr| alamos_attr(attr) == Some(AttrKind::Experiment));
    if let Some(index) = experiment {
        attrs.insert(index + 1, syn::parse_quote!(#[::alamos::level(#args)]));
        parsed.into_token_stream()
    } else {
        strip_alamos_attrs_everywhere(&mut parsed);
        with_item(no_experiment(level.span), parsed.into_token_stream())
    }
}

/// `#[alamos::skip]` is read by an instrumented impl; anywhere else it is a mistake.
pub(crate) fn skip(args: TokenStream, item: TokenStream) -> TokenStream {
    let err = match args.into_iter().next() {
        Some(token) => syn::Error::new(token.span(), "`#[alamos::skip]` takes no arguments"),
        None => syn::Error::new(
            Span::call_site(),
            "`#[alamos::skip]` only applies to a method of an impl block marked `#[alamos::experiment(...)]`",
        ),
    };
    with_item(err, item)
}

fn with_item(err: syn::Error, item: TokenStream) -> TokenStream {
    let mut tokens = err.into_compile_error();
    tokens.extend(item);
    tokens
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum AttrKind {
    Experiment,
    Level,
    Skip,
}

pub(crate) fn is_experiment_attr(attr: &Attribute) -> bool {
    alamos_attr(attr) == Some(AttrKind::Experiment)
}

/// Recognizes `alamos::x`, `::alamos::x` and an imported `x`.
fn alamos_attr(attr: &Attribute) -> Option<AttrKind> {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let name = match segments.as_slice() {
        [name] => name,
        [krate, name] if krate == "alamos" => name,
        _ => return None,
    };
    match name.as_str() {
        "experiment" => Some(AttrKind::Experiment),
        "level" => Some(AttrKind::Level),
        "skip" => Some(AttrKind::Skip),
        _ => None,
    }
}

/// The alamos attributes found on a function, removed from its attribute list.
#[derive(Default)]
struct OwnAttrs {
    experiment: Option<ExperimentArgs>,
    level: Option<LevelArg>,
    skip: bool,
}

fn take_alamos_attrs(attrs: &mut Vec<Attribute>) -> syn::Result<OwnAttrs> {
    let mut own = OwnAttrs::default();
    let mut result = Ok(());
    attrs.retain(|attr| {
        let Some(kind) = alamos_attr(attr) else {
            return true;
        };
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

/// So an error leaves the item as written, minus attributes that would fail again.
fn strip_alamos_attrs_everywhere(item: &mut Item) {
    let drop_ours = |attrs: &mut Vec<Attribute>| attrs.retain(|attr| alamos_attr(attr).is_none());
    match item {
        Item::Fn(function) => drop_ours(&mut function.attrs),
        Item::Impl(block) => {
            drop_ours(&mut block.attrs);
            for item in &mut block.items {
                if let ImplItem::Fn(method) = item {
                    drop_ours(&mut method.attrs);
                }
            }
        }
        _ => {}
    }
}

/// What one instrumented function is, after arguments are merged and checked.
struct Spec<'a> {
    key: LitStr,
    level: LevelName,
    /// The fn name, or `name = "..."`: the last part of the span name.
    name: String,
    /// `Type::name` in an instrumented impl, else `name`.
    function: String,
    args: &'a ExperimentArgs,
    /// How many instrumented items enclose this one.
    depth: usize,
}

fn expand_free_fn(args: &ExperimentArgs, function: &mut ItemFn) -> syn::Result<TokenStream> {
    let Some(key) = args.key.clone() else {
        return Err(valid::missing_key(Span::call_site()));
    };
    valid::key(&key)?;
    if let Some(constness) = function.sig.constness {
        return Err(const_fn(constness.span()));
    }
    let own = take_alamos_attrs(&mut function.attrs)?;
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
        args,
        depth: args.depth,
    };
    let vis = function.vis.to_token_stream();
    expand_fn(&spec, &function.attrs, &vis, &function.sig, &function.block)
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

fn expand_impl(args: &ExperimentArgs, block: &mut ItemImpl) -> syn::Result<TokenStream> {
    let Some(key) = args.key.clone() else {
        return Err(valid::missing_key(Span::call_site()));
    };
    valid::key(&key)?;
    valid::impl_level(args)?;
    let impl_own = take_alamos_attrs(&mut block.attrs)?;
    let impl_level = merge_level(args.level, impl_own.level)?;
    let type_name = type_name(&block.self_ty);
    let mut result = Ok(());
    for item in &mut block.items {
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
            continue;
        }
        let method_args = own.experiment.unwrap_or_default();
        let expanded = expand_method(
            args,
            &key,
            impl_level,
            &type_name,
            method,
            &method_args,
            own.level,
        );
        match expanded {
            Ok(tokens) => *item = ImplItem::Verbatim(tokens),
            Err(err) => combine(&mut result, err),
        }
    }
    result?;
    Ok(block.to_token_stream())
}

fn expand_method(
    impl_args: &ExperimentArgs,
    impl_key: &LitStr,
    impl_level: LevelName,
    type_name: &str,
    method: &syn::ImplItemFn,
    own: &ExperimentArgs,
    own_level: Option<LevelArg>,
) -> syn::Result<TokenStream> {
    if let Some(key) = &own.key {
        valid::key(key)?;
    }
    let level = match (own.level, own_level) {
        (None, None) => impl_level,
        (from_args, from_attr) => merge_level(from_args, from_attr)?,
    };
    let name = own
        .name
        .as_ref()
        .map_or_else(|| method.sig.ident.to_string(), |name| name.value.value());
    let merged = ExperimentArgs {
        key: None,
        level: None,
        name: None,
        fields: own.fields.as_ref().map(clone_setting),
        redact: own.redact.as_ref().map(clone_setting),
        err: own
            .err
            .as_ref()
            .or(impl_args.err.as_ref())
            .map(clone_setting),
        ret: own
            .ret
            .as_ref()
            .or(impl_args.ret.as_ref())
            .map(clone_setting),
        labels: own
            .labels
            .as_ref()
            .or(impl_args.labels.as_ref())
            .map(clone_setting),
        depth: impl_args.depth,
    };
    let spec = Spec {
        key: own.key.clone().unwrap_or_else(|| impl_key.clone()),
        level,
        function: format!("{type_name}::{name}"),
        name,
        args: &merged,
        depth: impl_args.depth,
    };
    let vis = {
        let vis = &method.vis;
        let defaultness = &method.modifiers.defaultness;
        quote!(#vis #defaultness)
    };
    expand_fn(&spec, &method.attrs, &vis, &method.sig, &method.block)
}

fn clone_setting<T: Clone>(setting: &Setting<T>) -> Setting<T> {
    Setting {
        keyword: setting.keyword,
        value: setting.value.clone(),
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

/// Expands one function, honouring the compile-time ceiling.
fn expand_fn(
    spec: &Spec<'_>,
    attrs: &[Attribute],
    vis: &TokenStream,
    sig: &Signature,
    block: &Block,
) -> syn::Result<TokenStream> {
    if let Some(constness) = sig.constness {
        return Err(const_fn(constness.span()));
    }
    valid::argument_names(spec.args, sig)?;
    valid::return_type(spec.args, sig)?;
    valid::labels(spec.args)?;
    if spec.depth > nest::MAX_DEPTH {
        return Err(syn::Error::new(
            sig.ident.span(),
            format!(
                "instrumented functions nest at most {} deep",
                nest::MAX_DEPTH
            ),
        ));
    }
    let mut block = block.clone();
    nest::mark(&mut block, spec.depth + 1);
    let block = &block;
    let scope = log_scope(spec, block);
    let original = || {
        let stmts = &block.stmts;
        quote!(#(#attrs)* #vis #sig { #scope #(#stmts)* })
    };
    Ok(match strip::presence(spec.level) {
        Presence::Never => original(),
        Presence::Always => instrumented(spec, attrs, vis, sig, block, &scope),
        Presence::DebugOnly => {
            let instrumented = instrumented(spec, attrs, vis, sig, block, &scope);
            let original = original();
            quote! {
                #[cfg(debug_assertions)]
                #instrumented
                #[cfg(not(debug_assertions))]
                #original
            }
        }
    })
}

/// Macros that find their experiment through the body's scope trait.
const LOG_MACROS: [&str; 9] = [
    "bench",
    "debug",
    "prod",
    "info",
    "warn",
    "error",
    "counter",
    "gauge",
    "histogram",
];

/// A local trait that tells the log macros in this body which experiment they
/// are in, when the body may contain log macros that survive the ceiling.
fn log_scope(spec: &Spec<'_>, block: &Block) -> TokenStream {
    fn mentions_log_macro(tokens: TokenStream) -> bool {
        let mut previous_was_log_name = false;
        tokens.into_iter().any(|token| {
            let found = match &token {
                TokenTree::Punct(punct) => previous_was_log_name && punct.as_char() == '!',
                TokenTree::Group(group) => mentions_log_macro(group.stream()),
                TokenTree::Ident(_) | TokenTree::Literal(_) => false,
            };
            previous_was_log_name =
                matches!(&token, TokenTree::Ident(ident) if LOG_MACROS.iter().any(|name| ident == name));
            found
        })
    }
    let presence = strip::logs_presence();
    if presence == Presence::Never || !mentions_log_macro(block.to_token_stream()) {
        return TokenStream::new();
    }
    let key = &spec.key;
    let cfg = (presence == Presence::DebugOnly).then(|| quote!(#[cfg(debug_assertions)]));
    let receiver = nest::scope_type(spec.depth);
    quote! {
        #cfg
        #[allow(non_camel_case_types, dead_code)]
        trait __alamos_scope {
            fn __alamos_experiment(self) -> &'static ::core::primitive::str;
        }
        #cfg
        #[allow(dead_code)]
        impl __alamos_scope for #receiver {
            #[inline(always)]
            fn __alamos_experiment(self) -> &'static ::core::primitive::str {
                #key
            }
        }
    }
}

fn level_tokens(level: LevelName) -> (TokenStream, TokenStream) {
    let (alamos, tracing) = match level {
        LevelName::Bench => (quote!(Bench), quote!(TRACE)),
        LevelName::Debug => (quote!(Debug), quote!(DEBUG)),
        LevelName::Prod => (quote!(Prod), quote!(INFO)),
        LevelName::Warn => (quote!(Warn), quote!(WARN)),
        LevelName::Error => (quote!(Error), quote!(ERROR)),
    };
    (
        quote!(::alamos::Level::#alamos),
        quote!(::alamos::__private::tracing::Level::#tracing),
    )
}

/// What the sync and async expansions share.
struct Call<'a> {
    /// The local holding `&'static FnCallsite`.
    callsite: Ident,
    /// `tracing::span!` for a function whose span records fields of its
    /// own; `None` for the callsite's own span, `FnCallsite::span`.
    span: Option<TokenStream>,
    label_values: Vec<&'a syn::Expr>,
}

impl Call<'_> {
    /// The expression creating the call's span, either way.
    fn span_expr(&self) -> TokenStream {
        let callsite = &self.callsite;
        self.span
            .clone()
            .unwrap_or_else(|| quote!(#callsite.span()))
    }
}

fn instrumented(
    spec: &Spec<'_>,
    attrs: &[Attribute],
    vis: &TokenStream,
    sig: &Signature,
    block: &Block,
    scope: &TokenStream,
) -> TokenStream {
    let key = &spec.key;
    let function = LitStr::new(&spec.function, key.span());
    let (level, tracing_level) = level_tokens(spec.level);
    let callsite = Ident::new("__alamos_callsite", Span::mixed_site());
    let labels: &[crate::args::Label] = spec.args.labels.as_ref().map_or(&[], |l| &l.value);
    let label_names = labels
        .iter()
        .map(|label| LitStr::new(&label.name.unraw().to_string(), label.name.span()));
    let span_name = LitStr::new(&format!("{}.{}", key.value(), spec.name), key.span());
    let this = Ident::new("__ALAMOS_CALLSITE", Span::mixed_site());
    let location = quote! {
        ::alamos::__private::Location {
            span_name: #span_name,
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: ::core::line!(),
        }
    };
    let constructor = if labels.is_empty() {
        quote!(::alamos::__private::FnCallsite::new(&#this, #key, #function, #level, #location))
    } else {
        quote!(::alamos::__private::FnCallsite::with_labels(
            &#this, #key, #function, #level, #location, &[#(#label_names),*]
        ))
    };
    let call = Call {
        span: span_tokens(spec, &span_name, &tracing_level, &callsite),
        label_values: labels.iter().map(|label| &label.value).collect(),
        callsite,
    };
    let callsite = &call.callsite;
    let body = if sig.asyncness.is_some() {
        async_body(&call, spec, sig, block, &tracing_level)
    } else if attrs
        .iter()
        .any(|attr| attr.path().is_ident("track_caller"))
    {
        inline_body(&call, spec, sig, block, &tracing_level)
    } else {
        closure_body(&call, spec, sig, block, &tracing_level)
    };
    // The statics live in a block so the body cannot see (or clash with) them.
    quote! {
        #(#attrs)*
        #vis #sig {
            #scope
            let #callsite: &'static ::alamos::__private::FnCallsite = {
                static #this: ::alamos::__private::FnCallsite = #constructor;
                #[::alamos::__private::linkme::distributed_slice(::alamos::__private::GATES)]
                #[linkme(crate = ::alamos::__private::linkme)]
                static __ALAMOS_CALLSITE_REF: &dyn ::alamos::__private::Gate = &#this;
                &#this
            };
            #body
        }
    }
}

/// Starts the call: `FnCall::enter`, which records it when the callsite is
/// enabled; with labels or fields of its own, their values are only
/// evaluated then.
fn sync_start(call: &Call<'_>, guard: &Ident) -> TokenStream {
    let Call {
        callsite,
        span,
        label_values,
    } = call;
    let start = match (label_values.is_empty(), span) {
        (true, None) => return quote!(let #guard = ::alamos::__private::FnCall::enter(#callsite);),
        (true, Some(span)) => quote!(::alamos::__private::FnCall::start_span(#callsite, #span)),
        (false, _) => {
            let span = call.span_expr();
            quote!(::alamos::__private::FnCall::start_labeled(
                #callsite,
                #span,
                &[#(&(#label_values) as &dyn ::core::fmt::Display),*],
            ))
        }
    };
    quote! {
        let #guard = if #callsite.is_enabled() {
            #start
        } else {
            ::alamos::__private::FnCall::disabled()
        };
    }
}

/// The body runs in a closure called once, so every exit, including those
/// inside macros (`bail!`), ends up in one value that is classified here.
fn closure_body(
    call: &Call<'_>,
    spec: &Spec<'_>,
    sig: &Signature,
    block: &Block,
    tracing_level: &TokenStream,
) -> TokenStream {
    let guard = Ident::new("__alamos_call", Span::mixed_site());
    let start = sync_start(call, &guard);
    let stmts = &block.stmts;
    let (returns_value, diverges) = match &sig.output {
        ReturnType::Default => (false, false),
        ReturnType::Type(_, ty) => {
            let diverges = matches!(**ty, syn::Type::Never(_));
            (!diverges, diverges)
        }
    };
    if diverges {
        return quote! {
            #start
            ::alamos::__private::call_once(move || { #(#stmts)* })
        };
    }
    if !returns_value {
        let ret = Ident::new("__alamos_ret", Span::mixed_site());
        return quote! {
            #start
            let #ret = ::alamos::__private::call_once(move || { #(#stmts)* });
            #guard.completed();
            #ret
        };
    }
    let ret = Ident::new("__alamos_ret", Span::mixed_site());
    let pinned = valid::nameable_return(sig).map(|ty| quote!(::<#ty, _>));
    let record = record_outcome(spec, &quote!(__alamos_value), tracing_level);
    quote! {
        #start
        let #ret = ::alamos::__private::call_once #pinned (move || { #(#stmts)* });
        #guard.completed();
        if #guard.is_active() {
            let __alamos_value = &#ret;
            if { #record } {
                #guard.mark_error();
            }
        }
        #ret
    }
}

/// Records `ret` and `err` events for a returned value (a `&R` expression)
/// and evaluates to whether it is an error.
fn record_outcome(
    spec: &Spec<'_>,
    value: &TokenStream,
    tracing_level: &TokenStream,
) -> TokenStream {
    let ret = spec.args.ret.as_ref().map(|ret| {
        let value = formatted(ret, value);
        quote! {
            ::alamos::__private::tracing::event!(
                target: ::core::module_path!(), #tracing_level, return = #value
            );
        }
    });
    let err = spec.args.err.as_ref().map(|err| {
        let event = error_event(err);
        quote! {
            if let ::core::option::Option::Some(__alamos_error) = #value.__alamos_err() {
                #event
            }
        }
    });
    quote! {
        #[allow(unused_imports)]
        use ::alamos::__private::{ErrOfOther as _, ErrOfResult as _, IsErrOther as _, IsErrResult as _};
        #ret
        #err
        #value.__alamos_is_err()
    }
}

/// `value` as a field recorded with `Display` or `Debug`, spanned on the
/// argument so that a missing implementation points at `err` or `ret`.
fn formatted(setting: &Setting<Format>, value: &TokenStream) -> TokenStream {
    fn respan(tokens: TokenStream, span: Span) -> TokenStream {
        tokens
            .into_iter()
            .map(|mut token| {
                if let TokenTree::Group(group) = &token {
                    let mut respanned =
                        proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                    respanned.set_span(span);
                    token = TokenTree::Group(respanned);
                } else {
                    token.set_span(span);
                }
                token
            })
            .collect()
    }
    let value = respan(value.clone(), setting.keyword);
    match setting.value {
        Format::Display => quote_spanned!(setting.keyword=> ::alamos::__private::display(#value)),
        Format::Debug => quote_spanned!(setting.keyword=> ::alamos::__private::debug(#value)),
    }
}

/// An ERROR event recording the local `__alamos_error` as `err` asks.
fn error_event(err: &Setting<Format>) -> TokenStream {
    let error = formatted(err, &quote!(__alamos_error));
    quote! {
        ::alamos::__private::tracing::event!(
            target: ::core::module_path!(),
            ::alamos::__private::tracing::Level::ERROR,
            error = #error
        );
    }
}

/// `#[track_caller]`: a closure would report its own location, so the body
/// stays inline and its own exits (`return`, `?`, the tail) are rewritten to
/// report errors. Exits inside macro bodies are not seen here.
fn inline_body(
    call: &Call<'_>,
    spec: &Spec<'_>,
    sig: &Signature,
    block: &Block,
    tracing_level: &TokenStream,
) -> TokenStream {
    let guard = Ident::new("__alamos_call", Span::mixed_site());
    let start = sync_start(call, &guard);
    let classify = Ident::new("__alamos_is_error", Span::mixed_site());
    let classifier = valid::nameable_return(sig).map(|ty| {
        let record = record_outcome(spec, &quote!(__alamos_value), tracing_level);
        quote!(let #classify = |__alamos_value: &#ty| -> ::core::primitive::bool { #record };)
    });
    let record_err = spec.args.err.as_ref().map(|err| {
        let event = error_event(err);
        quote!(|__alamos_error| { #event })
    });
    let mut exits = Exits {
        call: &guard,
        classify: classifier.as_ref().map(|_| &classify),
        record_err: record_err.as_ref(),
        rewritten: 0,
    };
    let mut stmts = block.stmts.clone();
    for stmt in &mut stmts {
        exits.visit_stmt_mut(stmt);
    }
    if let Some(Stmt::Expr(tail, None)) = stmts.last_mut() {
        *tail = exits.returned(tail);
    }
    quote! {
        #start
        #classifier
        #(#stmts)*
    }
}

/// The body becomes a future that a `CallFuture` polls inside the span and
/// classifies when it completes; its exits need no rewriting.
fn async_body(
    call: &Call<'_>,
    spec: &Spec<'_>,
    sig: &Signature,
    block: &Block,
    tracing_level: &TokenStream,
) -> TokenStream {
    let Call {
        callsite,
        label_values,
        ..
    } = call;
    let stmts = &block.stmts;
    // Pins the future's output type, so `?` in the body infers as in a fn.
    let fake_return = valid::nameable_return(sig).map(|ty| {
        quote! {
            #[allow(
                unknown_lints, unreachable_code, clippy::diverging_sub_expression,
                clippy::empty_loop, clippy::let_unit_value, clippy::let_with_type_underscore,
                clippy::needless_return, clippy::unreachable
            )]
            if false {
                let __alamos_fake_return: #ty = loop {};
                return __alamos_fake_return;
            }
        }
    });
    let span = call.span_expr();
    let enabled = Ident::new("__alamos_enabled", Span::mixed_site());
    let span_var = Ident::new("__alamos_span", Span::mixed_site());
    let future = Ident::new("__alamos_future", Span::mixed_site());
    let labels_var = Ident::new("__alamos_labels", Span::mixed_site());
    let record = record_outcome(spec, &quote!(__alamos_value), tracing_level);
    let classifier = quote!(|__alamos_value| -> ::core::primitive::bool { #record });
    // Label values are computed before the arguments move into the future.
    let (labels_let, start) = if label_values.is_empty() {
        (
            TokenStream::new(),
            quote!(::alamos::__private::CallFuture::new(#callsite, #span_var, #future, #classifier)),
        )
    } else {
        let count = label_values.len();
        let indices = 0..count;
        (
            quote! {
                let #labels_var: [::std::string::String; #count] = if #enabled {
                    [#(::std::string::ToString::to_string(&(#label_values))),*]
                } else {
                    ::core::array::from_fn(|_| ::std::string::String::new())
                };
            },
            quote!(::alamos::__private::CallFuture::new_labeled(
                #callsite,
                #span_var,
                &[#(&#labels_var[#indices] as &dyn ::core::fmt::Display),*],
                #future,
                #classifier,
            )),
        )
    };
    quote! {
        let #enabled = #callsite.is_enabled();
        let #span_var = if #enabled {
            #span
        } else {
            ::alamos::__private::tracing::Span::none()
        };
        #labels_let
        let #future = async move {
            #fake_return
            #(#stmts)*
        };
        if #enabled {
            #start.await
        } else {
            #future.await
        }
    }
}

/// `tracing::span!` with the alamos fields and the opt-in ones, for a
/// function that records fields of its own; `None` for the others, whose
/// span comes from their callsite's metadata.
fn span_tokens(
    spec: &Spec<'_>,
    span_name: &LitStr,
    tracing_level: &TokenStream,
    callsite: &Ident,
) -> Option<TokenStream> {
    let redacted: &[Ident] = spec.args.redact.as_ref().map_or(&[], |r| &r.value);
    let own_fields = spec.args.fields.as_ref().map_or(&[][..], |f| &f.value[..]);
    if own_fields.is_empty() && redacted.is_empty() {
        return None;
    }
    let key = &spec.key;
    let mut fields = Vec::new();
    let mut recorded = Vec::new();
    for field in own_fields {
        match field {
            Field::Arg { ident, .. } if redacted.contains(ident) => {
                fields.push(quote!(#ident = "<redacted>"));
                recorded.push(ident.clone());
            }
            Field::Arg { ident, .. } => {
                fields.push(field.to_token_stream());
                recorded.push(ident.clone());
            }
            Field::Expr { .. } => fields.push(field.to_token_stream()),
        }
    }
    for ident in redacted {
        if !recorded.contains(ident) {
            fields.push(quote!(#ident = "<redacted>"));
        }
    }
    Some(quote! {
        ::alamos::__private::tracing::span!(
            target: ::core::module_path!(),
            #tracing_level,
            #span_name,
            alamos.experiment = #key,
            code.function = #callsite.function(),
            code.namespace = ::core::module_path!(),
            otel.status_code = ::alamos::__private::tracing::field::Empty
            #(, #fields)*
        )
    })
}
