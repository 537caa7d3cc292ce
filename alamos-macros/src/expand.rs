//! Tokens from a checked [`Plan`]: no error paths here.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::{AttrStyle, Attribute, Block, ImplItem, LitStr, ReturnType, Signature, Stmt, Type};

use crate::args::{Field, Format, LevelName, Setting};
use crate::nest;
use crate::rewrite::{Exits, Returned};
use crate::shape::{self, FutureTail, Hidden};
use crate::strip::{self, Presence};
use crate::valid::{self, FnPlan, LevelMove, Plan, Spec};

pub(crate) fn experiment(plan: Plan) -> TokenStream {
    match plan {
        Plan::Fn(function) => expand_fn(function),
        Plan::Impl {
            mut block,
            methods,
            imported,
        } => {
            for (index, method) in methods {
                block.items[index] = ImplItem::Verbatim(expand_fn(method));
            }
            let uses = (!imported.is_empty()).then(|| {
                let uses = uses_of(&imported);
                quote!(const _: () = { #uses };)
            });
            quote!(#block #uses)
        }
    }
}

/// Underscore imports of the alamos attributes taken off an item that were
/// named by an import (`use alamos::skip;`), which the compiler would
/// otherwise report unused: it never resolves an attribute the expansion
/// removed. Each names the attribute as written, so it resolves as the
/// attribute would have.
fn uses_of(imported: &[Ident]) -> TokenStream {
    quote! {
        #(
            #[allow(unused_imports)]
            use #imported as _;
        )*
    }
}

/// `#[alamos::level]` above `#[alamos::experiment]` moves below it, where the
/// experiment expansion reads it.
pub(crate) fn level(args: &TokenStream, mut moved: LevelMove) -> TokenStream {
    let attrs = match &mut moved.item {
        syn::Item::Fn(function) => &mut function.attrs,
        syn::Item::Impl(block) => &mut block.attrs,
        _ => return moved.item.into_token_stream(),
    };
    attrs.insert(
        moved.experiment + 1,
        syn::parse_quote!(#[::alamos::level(#args)]),
    );
    moved.item.into_token_stream()
}

/// A function's tokens: `attrs vis sig { inner body }`, with the braces of
/// the written body, so that the item keeps the user's span (and `dead_code`
/// still reports a function that nothing calls).
fn function(
    attrs: &[&Attribute],
    vis: &TokenStream,
    sig: &Signature,
    block: &Block,
    body: TokenStream,
) -> TokenStream {
    let mut tokens = quote!(#(#attrs)* #vis #sig);
    block
        .brace_token
        .surround(&mut tokens, |inner| inner.extend(body));
    tokens
}

/// Expands one function, honouring the compile-time ceiling.
fn expand_fn(plan: FnPlan) -> TokenStream {
    let FnPlan {
        spec,
        attrs,
        vis,
        sig,
        mut block,
        imported,
    } = plan;
    nest::mark(&mut block, spec.depth + 1);
    let uses = uses_of(&imported);
    // Inner attributes (`#![allow(..)]`) open the generated body.
    let (inner, outer): (Vec<&Attribute>, Vec<&Attribute>) = attrs
        .iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Inner(_)));
    let scope = log_scope(&spec, &block);
    let original = || {
        let stmts = &block.stmts;
        let named = named_by_attribute(&spec);
        function(
            &outer,
            &vis,
            &sig,
            &block,
            quote!(#(#inner)* #uses #scope #named #(#stmts)*),
        )
    };
    let instrumented = || {
        let body = instrumented(&spec, &outer, &sig, &block);
        function(
            &outer,
            &vis,
            &sig,
            &block,
            quote!(#(#inner)* #uses #scope #body),
        )
    };
    match strip::presence(spec.level) {
        Presence::Never => original(),
        Presence::Always => instrumented(),
        Presence::DebugOnly => {
            let instrumented = instrumented();
            let original = original();
            quote! {
                #[cfg(debug_assertions)]
                #instrumented
                #[cfg(not(debug_assertions))]
                #original
            }
        }
    }
}

/// What `fields(...)` and `labels(...)` name, kept named in a stripped
/// function (`strip::kept_named`): without it, a helper or an argument that
/// only the attribute uses would be dead code there, and a crate that
/// denies warnings would stop building when it strips instrumentation.
fn named_by_attribute(spec: &Spec) -> TokenStream {
    let fields = spec.args.fields.as_ref().map_or(&[][..], |f| &f.value[..]);
    let labels: &[crate::args::Label] = spec.args.labels.as_ref().map_or(&[], |l| &l.value);
    strip::kept_named(
        fields
            .iter()
            .map(|field| match field {
                Field::Arg { ident, .. } => ident.to_token_stream(),
                Field::Expr { value, .. } => value.to_token_stream(),
            })
            .chain(labels.iter().map(|label| label.value.to_token_stream())),
    )
}

/// Log and instrument macros, which find their experiment through the
/// enclosing body's scope trait.
const SCOPED_MACROS: [&str; 9] = [
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
fn log_scope(spec: &Spec, block: &Block) -> TokenStream {
    fn mentions_log_macro(tokens: TokenStream) -> bool {
        let mut previous_was_log_name = false;
        tokens.into_iter().any(|token| {
            let found = match &token {
                TokenTree::Punct(punct) => previous_was_log_name && punct.as_char() == '!',
                TokenTree::Group(group) => mentions_log_macro(group.stream()),
                TokenTree::Ident(_) | TokenTree::Literal(_) => false,
            };
            previous_was_log_name = matches!(&token, TokenTree::Ident(ident) if SCOPED_MACROS.iter().any(|name| ident == name));
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

/// `::alamos::Level::X` and the `tracing::Level` of the same rank.
pub(crate) fn level_tokens(level: LevelName) -> (TokenStream, TokenStream) {
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

/// What the expansions of every body share.
struct Call<'a> {
    /// The local holding `&'static FnCallsite`.
    callsite: Ident,
    /// The local holding the `FnCall` of a synchronous body.
    guard: Ident,
    /// `tracing::span!` for a function whose span records fields of its
    /// own; `None` for the callsite's own span, `FnCallsite::span`.
    span: Option<TokenStream>,
    label_values: Vec<&'a syn::Expr>,
    tracing_level: TokenStream,
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

/// The body of an instrumented function, after its inner attributes and
/// scope trait.
fn instrumented(spec: &Spec, attrs: &[&Attribute], sig: &Signature, block: &Block) -> TokenStream {
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
        guard: Ident::new("__alamos_call", Span::mixed_site()),
        tracing_level,
    };
    let callsite = &call.callsite;
    let track_caller = attrs
        .iter()
        .any(|attr| attr.path().is_ident("track_caller"));
    let body = if sig.asyncness.is_some() {
        let output = valid::nameable_return(sig);
        async_body(&call, spec, output, &block.stmts)
    } else if let Some(tail) = shape::future_tail(sig, block) {
        future_body(&call, spec, sig, block, &tail)
    } else if !track_caller && may_be_result(sig) && !Hidden::in_block(block).is_empty() {
        closure_body(&call, spec, sig, block)
    } else {
        inline_body(&call, spec, sig, block, track_caller)
    };
    // The statics live in a block so the body cannot see (or clash with) them.
    quote! {
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

/// Starts a synchronous call: `FnCall::enter`, which records it when the
/// callsite is enabled; with labels or fields of its own, their values are
/// only evaluated then. `untracked` says the body's exits do not mark the
/// call completed.
fn sync_start(call: &Call<'_>, untracked: bool) -> TokenStream {
    let Call {
        callsite,
        span,
        label_values,
        guard,
        ..
    } = call;
    let slot = Ident::new("__alamos_slot", Span::mixed_site());
    let slot_let = quote!(let mut #slot = ::alamos::__private::CallSlot::new(););
    let start = match (label_values.is_empty(), span) {
        (true, None) if !untracked => {
            return quote! {
                #slot_let
                let #guard = ::alamos::__private::FnCall::enter(#callsite, &mut #slot);
            };
        }
        (true, None) => quote!(::alamos::__private::FnCall::start(#callsite, &mut #slot)),
        // The span is a closure: an untraced call evaluates no field.
        (true, Some(span)) => {
            quote!(::alamos::__private::FnCall::start_span(#callsite, &mut #slot, || #span))
        }
        (false, _) => {
            let span = call.span_expr();
            quote!(::alamos::__private::FnCall::start_labeled(
                #callsite,
                &mut #slot,
                || #span,
                &[#(&(#label_values) as &dyn ::core::fmt::Display),*],
            ))
        }
    };
    let start = if untracked {
        quote!(#start.untracked())
    } else {
        start
    };
    quote! {
        #slot_let
        let #guard = if #callsite.is_enabled() {
            #start
        } else {
            ::alamos::__private::FnCall::disabled()
        };
    }
}

/// `let __alamos_returns = Returns::<R, _>::new(classifier);`: what every
/// exit of a body returning `R` passes its value through.
fn returns_classifier(
    spec: &Spec,
    ty: &Type,
    returns: &Ident,
    tracing_level: &TokenStream,
) -> TokenStream {
    let record = record_outcome(spec, &quote!(__alamos_value), tracing_level);
    // `&Option<&T>` for a function returning `Option<&T>`.
    quote! {
        #[allow(clippy::ref_option_ref)]
        let #returns = ::alamos::__private::Returns::<#ty, _>::new(
            |__alamos_value: &#ty| -> ::core::primitive::bool { #record }
        );
    }
}

/// The body stays inline, in an inner block (so that its items and `use`
/// declarations cannot shadow the names the expansion uses), and its
/// visible exits are rewritten to pass through the call (see `rewrite`).
/// Under `#[track_caller]`, where no closure may be introduced, a statement
/// with a macro that may hide an exit arms an exit mark first.
fn inline_body(
    call: &Call<'_>,
    spec: &Spec,
    sig: &Signature,
    block: &Block,
    track_caller: bool,
) -> TokenStream {
    let guard = &call.guard;
    let nameable = valid::nameable_return(sig);
    let returns = Ident::new("__alamos_returns", Span::mixed_site());
    let generic = {
        let record = record_outcome(spec, &quote!(__alamos_value), &call.tracing_level);
        quote!(|__alamos_value| -> ::core::primitive::bool { #record })
    };
    let (returned, classifier) = match (&sig.output, nameable) {
        (ReturnType::Default, _) => (Returned::Unit, None),
        (ReturnType::Type(_, ty), _) if is_unit(ty) => (Returned::Unit, None),
        (_, Some(ty)) => (
            Returned::Classified(&returns, ty),
            Some(returns_classifier(spec, ty, &returns, &call.tracing_level)),
        ),
        (ReturnType::Type(_, ty), None) if matches!(**ty, Type::ImplTrait(_) | Type::Never(_)) => {
            (Returned::Untouched, None)
        }
        (_, None) => (Returned::Generic(&generic), None),
    };
    let untracked = matches!(returned, Returned::Untouched) && !diverges(sig);
    let start = sync_start(call, untracked);
    let record_err = exit_event(spec, &call.tracing_level);
    let marks = track_caller
        && matches!(returned, Returned::Classified(..) | Returned::Generic(_))
        && !Hidden::in_block(block).is_empty();
    let hidden_exits = marks.then(|| hidden_exits(nameable, guard));
    let mut exits = Exits {
        call: guard,
        returned,
        record_err: record_err.as_ref(),
        marks,
    };
    let mut stmts = block.stmts.clone();
    let body = exits.body(&mut stmts);
    quote! {
        #start
        #classifier
        #hidden_exits
        #body
    }
}

/// What records the error a `?` returns: the `err` event, or with `ret`
/// alone, the `return` event of the `Err` (the value after `From`
/// conversion is not available there).
fn exit_event(spec: &Spec, tracing_level: &TokenStream) -> Option<TokenStream> {
    match (&spec.args.err, &spec.args.ret) {
        (Some(err), _) => {
            let event = error_event(err);
            Some(quote!(|__alamos_error| { #event }))
        }
        (None, Some(ret)) => {
            let recorded = formatted(
                ret,
                &quote!(&::core::result::Result::<(), _>::Err(__alamos_error)),
            );
            Some(quote! {
                |__alamos_error| {
                    ::alamos::__private::tracing::event!(
                        target: ::core::module_path!(), #tracing_level, return = #recorded
                    );
                }
            })
        }
        (None, None) => None,
    }
}

/// A return type other than `()`, `!` and `impl Trait`.
fn may_be_result(sig: &Signature) -> bool {
    match &sig.output {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) => {
            !is_unit(ty) && !matches!(**ty, Type::ImplTrait(_) | Type::Never(_))
        }
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty())
}

fn diverges(sig: &Signature) -> bool {
    matches!(&sig.output, ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)))
}

/// The guard that, when the function leaves through a macro while an exit
/// mark is armed, counts the call `unknown` if it may return a `Result`: the
/// value it returned never passed through the expansion, so whether it was
/// an `Err` is not known. `ty` is the return type, when it can be named;
/// one that cannot (`Result<impl Display, E>`) may be a `Result`.
///
/// No `err` event is recorded for such an exit: an ERROR event would claim
/// an error the expansion did not see (a hidden `return Ok(..)` is as
/// likely), and it has no value to record.
fn hidden_exits(ty: Option<&Type>, guard: &Ident) -> TokenStream {
    let exits = Ident::new("__alamos_hidden_exits", Span::mixed_site());
    let returns_result = ty.map_or_else(
        || quote!(true),
        |ty| {
            quote! {
                {
                    #[allow(unused_imports)]
                    use ::alamos::__private::{ReturnsOther as _, ReturnsResult as _};
                    (&::core::marker::PhantomData::<#ty>).__alamos_returns_result()
                }
            }
        },
    );
    quote! {
        let #exits = ::alamos::__private::HiddenExits::new(&#guard, #returns_result);
    }
}

/// The body runs in a closure called once, so every exit, including those
/// inside macros (`bail!`), ends up in one value that is classified here.
/// Only for a body with a macro that may hide an exit, returning a type that
/// may be a `Result`: the closure changes what the body sees of its frame
/// (`type_name` of its items, the drop order of the arguments, inference of a
/// returned closure, stack use).
fn closure_body(call: &Call<'_>, spec: &Spec, sig: &Signature, block: &Block) -> TokenStream {
    let guard = &call.guard;
    let start = sync_start(call, false);
    let stmts = &block.stmts;
    let ret = Ident::new("__alamos_ret", Span::mixed_site());
    let pinned = valid::nameable_return(sig).map(|ty| quote!(::<#ty, _>));
    let record = record_outcome(spec, &quote!(__alamos_value), &call.tracing_level);
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
/// and evaluates to whether it is an error. With both, an `Err` is recorded
/// once, by the `err` event, and an `Ok` by its value.
fn record_outcome(spec: &Spec, value: &TokenStream, tracing_level: &TokenStream) -> TokenStream {
    let ret_event = |recorded: &TokenStream, ret: &Setting<Format>| {
        let recorded = formatted(ret, recorded);
        quote! {
            ::alamos::__private::tracing::event!(
                target: ::core::module_path!(), #tracing_level, return = #recorded
            );
        }
    };
    let ret = spec.args.ret.as_ref().map(|ret| {
        if spec.args.err.is_some() {
            let event = ret_event(&quote!(__alamos_ok), ret);
            quote! {
                if let ::core::option::Option::Some(__alamos_ok) = #value.__alamos_ok() {
                    #event
                }
            }
        } else {
            ret_event(value, ret)
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
        use ::alamos::__private::{
            ErrOfOther as _, ErrOfResult as _, IsErrOther as _, IsErrResult as _,
            OkOfOther as _, OkOfResult as _,
        };
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

/// The body becomes a future that a `CallFuture` polls inside the span and
/// classifies when it completes; its exits need no rewriting. `output`, when
/// it can be named, pins the future's output type, so `?` in the body
/// infers as in a fn.
fn async_body(call: &Call<'_>, spec: &Spec, output: Option<&Type>, stmts: &[Stmt]) -> TokenStream {
    let Call {
        callsite,
        label_values,
        ..
    } = call;
    let fake_return = output.map(|ty| {
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
    let start = Ident::new("__alamos_start", Span::mixed_site());
    let labels_var = Ident::new("__alamos_labels", Span::mixed_site());
    let record = record_outcome(spec, &quote!(__alamos_value), &call.tracing_level);
    let classifier = quote!(|__alamos_value| -> ::core::primitive::bool { #record });
    // Label values are computed before the arguments move into the future.
    let enabled_start = if label_values.is_empty() {
        quote!(::alamos::__private::CallStart::new(#callsite, || #span))
    } else {
        let count = label_values.len();
        let indices = 0..count;
        quote! {{
            let #labels_var: [::alamos::__private::String; #count] =
                [#(::alamos::__private::ToString::to_string(&(#label_values))),*];
            ::alamos::__private::CallStart::new_labeled(
                #callsite,
                || #span,
                &[#(&#labels_var[#indices] as &dyn ::core::fmt::Display),*],
            )
        }}
    };
    // The call starts before the body's future is built, which is then
    // built as an argument of `CallFuture::new` and awaited at once: in its
    // place in this future, enabled or not (see `CallStart`). The
    // statements are in a block of their own, so that their `use`
    // declarations cannot shadow the output type named above.
    quote! {
        let #start = if #callsite.is_enabled() {
            #enabled_start
        } else {
            ::alamos::__private::CallStart::disabled()
        };
        ::alamos::__private::CallFuture::new(
            #start,
            async move {
                #fake_return
                { #(#stmts)* }
            },
            #classifier,
        ).await
    }
}

/// A synchronous function that returns the future its tail builds (what
/// `#[async_trait]` generates): the future is instrumented, as an `async fn`
/// would be. The statements before the tail run when the function is called.
fn future_body(
    call: &Call<'_>,
    spec: &Spec,
    sig: &Signature,
    block: &Block,
    tail: &FutureTail<'_>,
) -> TokenStream {
    let prelude = &block.stmts[..block.stmts.len() - 1];
    let output = shape::future_output(sig).filter(|ty| !valid::has_impl(ty.to_token_stream()));
    let body = async_body(call, spec, output, &tail.future.block.stmts);
    let attrs = &tail.future.attrs;
    let outer = quote!(#(#attrs)* async move { #body });
    let future = match tail.pin {
        Some(pin) => quote!(#pin(#outer)),
        None => outer,
    };
    quote! {
        #(#prelude)*
        #future
    }
}

/// `tracing::span!` with the alamos fields and the opt-in ones, for a
/// function that records fields of its own; `None` for the others, whose
/// span comes from their callsite's metadata.
fn span_tokens(
    spec: &Spec,
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
