use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{parenthesized, Expr, Ident, LitStr, Token};

mod kw {
    syn::custom_keyword!(level);
    syn::custom_keyword!(name);
    syn::custom_keyword!(fields);
    syn::custom_keyword!(redact);
    syn::custom_keyword!(err);
    syn::custom_keyword!(ret);
    syn::custom_keyword!(labels);
    syn::custom_keyword!(Debug);
    syn::custom_keyword!(Display);
    syn::custom_keyword!(__depth);
}

/// The arguments of `#[alamos::experiment(...)]`, as written.
#[derive(Clone, Default)]
pub(crate) struct ExperimentArgs {
    pub(crate) key: Option<LitStr>,
    pub(crate) level: Option<LevelArg>,
    pub(crate) name: Option<Setting<LitStr>>,
    pub(crate) fields: Option<Setting<Vec<Field>>>,
    pub(crate) redact: Option<Setting<Vec<Ident>>>,
    pub(crate) err: Option<Setting<Format>>,
    pub(crate) ret: Option<Setting<Format>>,
    pub(crate) labels: Option<Setting<Vec<Label>>>,
    /// How many instrumented items enclose this one; set by the enclosing
    /// expansion, never by users (see `nest.rs`).
    pub(crate) depth: usize,
    /// The first argument the user wrote, where a missing key is reported.
    pub(crate) first: Option<Span>,
}

/// An argument's value and the keyword that introduced it, for error spans.
#[derive(Clone)]
pub(crate) struct Setting<T> {
    pub(crate) keyword: Span,
    pub(crate) value: T,
}

#[derive(Clone, Copy)]
pub(crate) enum LevelName {
    Bench,
    Debug,
    Prod,
    Warn,
    Error,
}

#[derive(Clone, Copy)]
pub(crate) struct LevelArg {
    pub(crate) name: LevelName,
    pub(crate) span: Span,
}

/// How `err` or `ret` records its value.
#[derive(Clone, Copy)]
pub(crate) enum Format {
    Display,
    Debug,
}

#[derive(Clone)]
pub(crate) enum Sigil {
    Value,
    Display(Token![%]),
    Debug(Token![?]),
}

#[derive(Clone)]
pub(crate) enum Field {
    /// `frame`, `%node`, `?cfg`: an argument of the function.
    Arg { sigil: Sigil, ident: Ident },
    /// `len = frame.len()`, `node = %id`: a named expression.
    Expr {
        name: Punctuated<Ident, Token![.]>,
        sigil: Sigil,
        value: Expr,
    },
}

#[derive(Clone)]
pub(crate) struct Label {
    pub(crate) name: Ident,
    pub(crate) value: Expr,
}

const ARGUMENTS: &str = "`level`, `name`, `fields`, `redact`, `err`, `ret`, `labels`";

impl Parse for ExperimentArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = ExperimentArgs::default();
        if input.peek(LitStr) {
            args.key = Some(input.parse()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        while !input.is_empty() {
            if input.peek(kw::__depth) {
                input.parse::<kw::__depth>()?;
                input.parse::<Token![=]>()?;
                args.depth = input.parse::<syn::LitInt>()?.base10_parse()?;
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
                continue;
            }
            args.first.get_or_insert_with(|| input.span());
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::level) {
                let keyword = input.parse::<kw::level>()?.span;
                input.parse::<Token![=]>()?;
                let level = input.parse::<LevelArg>()?;
                set_once(&mut args.level, level, keyword, "level")?;
            } else if lookahead.peek(kw::name) {
                let keyword = input.parse::<kw::name>()?.span;
                input.parse::<Token![=]>()?;
                let name: LitStr = input.parse()?;
                if name.value().trim().is_empty() {
                    return Err(syn::Error::new(name.span(), "`name` must not be empty"));
                }
                set_setting(&mut args.name, keyword, name, "name")?;
            } else if lookahead.peek(kw::fields) {
                let keyword = input.parse::<kw::fields>()?.span;
                let content;
                parenthesized!(content in input);
                let fields = Punctuated::<Field, Token![,]>::parse_terminated(&content)?;
                set_setting(
                    &mut args.fields,
                    keyword,
                    fields.into_iter().collect(),
                    "fields",
                )?;
            } else if lookahead.peek(kw::redact) {
                let keyword = input.parse::<kw::redact>()?.span;
                let content;
                parenthesized!(content in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                set_setting(
                    &mut args.redact,
                    keyword,
                    names.into_iter().collect(),
                    "redact",
                )?;
            } else if lookahead.peek(kw::err) {
                let keyword = input.parse::<kw::err>()?.span;
                let format = parse_format(input, Format::Display)?;
                set_setting(&mut args.err, keyword, format, "err")?;
            } else if lookahead.peek(kw::ret) {
                let keyword = input.parse::<kw::ret>()?.span;
                let format = parse_format(input, Format::Debug)?;
                set_setting(&mut args.ret, keyword, format, "ret")?;
            } else if lookahead.peek(kw::labels) {
                let keyword = input.parse::<kw::labels>()?.span;
                let content;
                parenthesized!(content in input);
                let labels = Punctuated::<Label, Token![,]>::parse_terminated(&content)?;
                set_setting(
                    &mut args.labels,
                    keyword,
                    labels.into_iter().collect(),
                    "labels",
                )?;
            } else if input.peek(LitStr) {
                let key: LitStr = input.parse()?;
                return Err(syn::Error::new(
                    key.span(),
                    "the experiment key comes first, before the other arguments",
                ));
            } else if input.peek(Ident::peek_any) {
                let unknown = input.call(Ident::parse_any)?;
                let first = args.key.is_none() && (input.is_empty() || input.peek(Token![,]));
                if first && !unknown.to_string().starts_with("__") {
                    return Err(syn::Error::new(
                        unknown.span(),
                        format!("the experiment key is a string literal: write `\"{unknown}\"`"),
                    ));
                }
                return Err(syn::Error::new(
                    unknown.span(),
                    format!("unknown argument `{unknown}`, expected one of {ARGUMENTS}"),
                ));
            } else {
                return Err(lookahead.error());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, keyword: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(duplicate(keyword, name));
    }
    *slot = Some(value);
    Ok(())
}

fn set_setting<T>(
    slot: &mut Option<Setting<T>>,
    keyword: Span,
    value: T,
    name: &str,
) -> syn::Result<()> {
    set_once(slot, Setting { keyword, value }, keyword, name)
}

pub(crate) fn duplicate(span: Span, name: &str) -> syn::Error {
    syn::Error::new(span, format!("duplicate argument `{name}`"))
}

fn parse_format(input: ParseStream<'_>, default: Format) -> syn::Result<Format> {
    if !input.peek(syn::token::Paren) {
        return Ok(default);
    }
    let content;
    parenthesized!(content in input);
    let lookahead = content.lookahead1();
    let format = if lookahead.peek(kw::Debug) {
        content.parse::<kw::Debug>()?;
        Format::Debug
    } else if lookahead.peek(kw::Display) {
        content.parse::<kw::Display>()?;
        Format::Display
    } else {
        return Err(lookahead.error());
    };
    if !content.is_empty() {
        return Err(content.error("unexpected token after the format"));
    }
    Ok(format)
}

impl Parse for LevelArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let (text, span) = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            (lit.value(), lit.span())
        } else if input.peek(Ident::peek_any) {
            let ident = input.call(Ident::parse_any)?;
            (ident.to_string(), ident.span())
        } else {
            return Err(input.error(format!("expected a level, one of {LEVELS}")));
        };
        let name = match text.as_str() {
            "bench" | "trace" => LevelName::Bench,
            "debug" => LevelName::Debug,
            "prod" | "info" => LevelName::Prod,
            "warn" => LevelName::Warn,
            "error" => LevelName::Error,
            _ => {
                return Err(syn::Error::new(
                    span,
                    format!("unknown level `{text}`, expected one of {LEVELS}"),
                ))
            }
        };
        Ok(LevelArg { name, span })
    }
}

const LEVELS: &str = "bench, trace, debug, prod, info, warn, error";

/// The argument of `#[alamos::level(...)]`: a single level.
pub(crate) struct LevelAttr(pub(crate) LevelArg);

impl Parse for LevelAttr {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let level = input.parse()?;
        if !input.is_empty() {
            return Err(input.error("expected a single level"));
        }
        Ok(LevelAttr(level))
    }
}

impl Parse for Sigil {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Ok(if input.peek(Token![%]) {
            Sigil::Display(input.parse()?)
        } else if input.peek(Token![?]) {
            Sigil::Debug(input.parse()?)
        } else {
            Sigil::Value
        })
    }
}

impl ToTokens for Sigil {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Sigil::Value => {}
            Sigil::Display(percent) => percent.to_tokens(tokens),
            Sigil::Debug(question) => question.to_tokens(tokens),
        }
    }
}

impl Parse for Field {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let sigil: Sigil = input.parse()?;
        if !matches!(sigil, Sigil::Value) {
            return Ok(Field::Arg {
                sigil,
                ident: input.parse()?,
            });
        }
        let first = input.call(Ident::parse_any)?;
        if !input.peek(Token![.]) && !input.peek(Token![=]) {
            return Ok(Field::Arg {
                sigil,
                ident: first,
            });
        }
        let mut name = Punctuated::new();
        name.push_value(first);
        while input.peek(Token![.]) {
            name.push_punct(input.parse()?);
            name.push_value(input.call(Ident::parse_any)?);
        }
        if !input.peek(Token![=]) {
            return Err(syn::Error::new_spanned(
                &name,
                "a dotted field name needs a value: `name.part = expr`",
            ));
        }
        input.parse::<Token![=]>()?;
        Ok(Field::Expr {
            name,
            sigil: input.parse()?,
            value: input.parse()?,
        })
    }
}

impl Parse for Label {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        Ok(Label {
            name,
            value: input.parse()?,
        })
    }
}

impl ToTokens for Field {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Field::Arg { sigil, ident } => quote!(#sigil #ident).to_tokens(tokens),
            Field::Expr { name, sigil, value } => quote!(#name = #sigil #value).to_tokens(tokens),
        }
    }
}
