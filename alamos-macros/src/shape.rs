//! What a function body looks like to the expansion: whether it returns a
//! future built by its tail, and which macro invocations may hide an exit.
//!
//! A macro invocation is opaque: `bail!` may expand to `return Err(..)`, and
//! nothing before expansion shows it. An invocation in the function's own
//! exit scope (not inside closures, async blocks or nested items; not in a
//! type or a pattern) may hide an exit unless the macro is *known* not to
//! leave the function, and then its arguments are rewritten like any
//! expression when they parse as expressions.
//!
//! # Why only paths are trusted
//!
//! The outcome is the headline metric, so a macro is known only where that
//! is certain: a path into a crate whose macros are listed below
//! (`::std::format!`, `core::assert!`, `tracing::info!`, `alamos::debug!`).
//! A bare name never is, whatever it is called: `println!`, `format!`,
//! `vec!`, `assert!` or `warn!` may be the user's own `macro_rules!`, which
//! shadows the prelude's (or an import) in its textual scope without a word.
//! No sound way to tell them apart exists for a procedural macro on stable
//! Rust: it sees tokens before name resolution, expansion happens after it,
//! and a check emitted into the expansion could only fail the build of a
//! program that is correct, not choose the form that sees the value.
//!
//! The form that sees every value without trusting any name is the closure
//! form (see `expand::closure_body`): the body runs in a closure called
//! once, and whatever leaves it, through a macro or not, is the closure's
//! value. It is taken only where an unseen exit could change the outcome:
//! a body with a macro not known here, in a function whose return type may
//! be a `Result` (`()`, `!` and `impl Trait` are never errors, so their
//! bodies stay inline whatever macros they use). Its cost is the one pinned
//! in `tests/shapes.rs` (items named inside `{{closure}}`, arguments dropped
//! in declaration order, a closure frame in a debug build); writing the
//! macro's path (`::std::format!`) keeps a body inline. Under
//! `#[track_caller]`, where a closure would lose the caller's location,
//! the body stays inline, each statement with such a macro arms an exit
//! mark, and a call that leaves through one counts `unknown`.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{
    Block, Expr, ExprAsync, GenericArgument, PathArguments, ReturnType, Signature, Stmt, Token,
    Type, TypeParamBound,
};

/// The tail of a synchronous function that returns a future: `async { .. }`,
/// `async move { .. }` or `Box::pin(async move { .. })`, which is what
/// `#[async_trait]` generates.
pub(crate) struct FutureTail<'a> {
    pub(crate) future: &'a ExprAsync,
    /// `Box::pin`, as written, when the block is pinned.
    pub(crate) pin: Option<&'a Expr>,
}

pub(crate) fn future_tail<'a>(sig: &Signature, block: &'a Block) -> Option<FutureTail<'a>> {
    if sig.asyncness.is_some() || matches!(sig.output, ReturnType::Default) {
        return None;
    }
    let Some(Stmt::Expr(tail, None)) = block.stmts.last() else {
        return None;
    };
    match tail {
        Expr::Async(future) => Some(FutureTail { future, pin: None }),
        Expr::Call(call) if call.args.len() == 1 => {
            let Expr::Path(func) = &*call.func else {
                return None;
            };
            let segments: Vec<String> = func
                .path
                .segments
                .iter()
                .map(|segment| segment.ident.to_string())
                .collect();
            let Expr::Async(future) = &call.args[0] else {
                return None;
            };
            segments
                .ends_with(&["Box".to_owned(), "pin".to_owned()])
                .then_some(FutureTail {
                    future,
                    pin: Some(&call.func),
                })
        }
        _ => None,
    }
}

/// `T` in a return type `impl Future<Output = T>` or
/// `Pin<Box<dyn Future<Output = T> + Send>>`.
pub(crate) fn future_output(sig: &Signature) -> Option<&Type> {
    fn in_bounds<'a>(bounds: impl IntoIterator<Item = &'a TypeParamBound>) -> Option<&'a Type> {
        bounds.into_iter().find_map(|bound| match bound {
            TypeParamBound::Trait(bound) => output_of(bound.path.segments.last()?),
            _ => None,
        })
    }
    fn output_of(segment: &syn::PathSegment) -> Option<&Type> {
        let PathArguments::AngleBracketed(args) = &segment.arguments else {
            return None;
        };
        if segment.ident != "Future" {
            return None;
        }
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    }
    fn in_type(ty: &Type) -> Option<&Type> {
        match ty {
            Type::ImplTrait(ty) => in_bounds(&ty.bounds),
            Type::TraitObject(ty) => in_bounds(&ty.bounds),
            Type::Paren(ty) => in_type(&ty.elem),
            Type::Group(ty) => in_type(&ty.elem),
            Type::Path(ty) if ty.qself.is_none() => {
                let last = ty.path.segments.last()?;
                let PathArguments::AngleBracketed(args) = &last.arguments else {
                    return None;
                };
                args.args.iter().find_map(|arg| match arg {
                    GenericArgument::Type(ty) => in_type(ty),
                    _ => None,
                })
            }
            _ => None,
        }
    }
    match &sig.output {
        ReturnType::Type(_, ty) => in_type(ty),
        ReturnType::Default => None,
    }
}

/// How alamos treats an invocation of a macro.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Never leaves the function; its arguments may be rewritten.
    ExitFree,
    /// Never leaves the function itself, but shows its arguments as written
    /// (`stringify!`, `assert!`'s message), so they are never rewritten.
    Quoting,
}

/// The macros of one known crate that never leave the function.
struct KnownCrate {
    /// The crate names a path may start with.
    names: &'static [&'static str],
    exit_free: &'static [&'static str],
    quoting: &'static [&'static str],
}

/// The crates whose macros are trusted, when an invocation names them by a
/// path (`::std::println!`, `tracing::info!`): only what each documents as
/// never leaving the caller. `std::task::ready!`, `anyhow::bail!` and
/// `anyhow::ensure!` leave it, so they are not listed.
const KNOWN_CRATES: &[KnownCrate] = &[
    KnownCrate {
        names: &["std", "core", "alloc"],
        exit_free: &[
            "println",
            "print",
            "eprintln",
            "eprint",
            "format",
            "format_args",
            "write",
            "writeln",
            "vec",
            "panic",
            "unreachable",
            "todo",
            "unimplemented",
            "matches",
            "env",
            "option_env",
            "cfg",
            "line",
            "file",
            "column",
            "module_path",
            "include",
            "include_str",
            "include_bytes",
            "thread_local",
            "compile_error",
            "pin",
            "addr_of",
            "addr_of_mut",
            "offset_of",
        ],
        quoting: &[
            "stringify",
            "concat",
            "assert",
            "assert_eq",
            "assert_ne",
            "debug_assert",
            "debug_assert_eq",
            "debug_assert_ne",
            "dbg",
        ],
    },
    KnownCrate {
        names: &["tracing"],
        exit_free: &[
            "trace",
            "debug",
            "info",
            "warn",
            "error",
            "event",
            "span",
            "trace_span",
            "debug_span",
            "info_span",
            "warn_span",
            "error_span",
            "enabled",
        ],
        quoting: &[],
    },
    KnownCrate {
        names: &["log"],
        exit_free: &[
            "trace",
            "debug",
            "info",
            "warn",
            "error",
            "log",
            "log_enabled",
        ],
        quoting: &[],
    },
    KnownCrate {
        names: &["alamos"],
        exit_free: &[
            "bench",
            "trace",
            "debug",
            "prod",
            "info",
            "warn",
            "error",
            "counter",
            "gauge",
            "histogram",
        ],
        quoting: &[],
    },
    // They build an error without returning it.
    KnownCrate {
        names: &["anyhow"],
        exit_free: &["anyhow", "format_err"],
        quoting: &[],
    },
    KnownCrate {
        names: &["eyre"],
        exit_free: &["eyre", "format_err"],
        quoting: &[],
    },
];

/// What a macro path is known to do: only a path of two or more segments
/// that starts with a known crate's name. A bare name (`println!`, `warn!`)
/// is never trusted, whatever it is named: a `macro_rules!` in textual scope
/// shadows the prelude's and any import without a word, and nothing a
/// procedural macro can see, before or after expansion on stable Rust, tells
/// which macro a bare name resolves to.
fn known<'a>(segments: impl IntoIterator<Item = &'a str>) -> Option<Known> {
    let segments: Vec<&str> = segments.into_iter().collect();
    let ([krate, ..], Some(name)) = (segments.as_slice(), segments.last()) else {
        return None;
    };
    if segments.len() < 2 {
        return None;
    }
    let known = KNOWN_CRATES
        .iter()
        .find(|known| known.names.contains(krate))?;
    if known.exit_free.contains(name) {
        Some(Known::ExitFree)
    } else if known.quoting.contains(name) {
        Some(Known::Quoting)
    } else {
        None
    }
}

fn known_path(path: &syn::Path) -> Option<Known> {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    known(segments.iter().map(String::as_str))
}

pub(crate) fn macro_name(mac: &syn::Macro) -> String {
    mac.path
        .segments
        .last()
        .map_or_else(String::new, |segment| format!("{}!", segment.ident))
}

/// The arguments of a macro that never leaves the function, when they parse
/// as expressions (`a, b`, or `x; n` as in `vec![x; n]`): those exits can
/// be rewritten.
pub(crate) enum MacroArgs {
    List(Punctuated<Expr, Token![,]>),
    Repeat(Box<Expr>, Token![;], Box<Expr>),
}

impl MacroArgs {
    pub(crate) fn exprs_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            MacroArgs::List(list) => list.iter_mut().collect(),
            MacroArgs::Repeat(value, _, count) => vec![&mut **value, &mut **count],
        }
    }
}

impl ToTokens for MacroArgs {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            MacroArgs::List(list) => list.to_tokens(tokens),
            MacroArgs::Repeat(value, semi, count) => {
                value.to_tokens(tokens);
                semi.to_tokens(tokens);
                count.to_tokens(tokens);
            }
        }
    }
}

/// The arguments of `mac` when they can be rewritten.
pub(crate) fn rewritable_args(mac: &syn::Macro) -> Option<MacroArgs> {
    if known_path(&mac.path) != Some(Known::ExitFree) {
        return None;
    }
    let list = Punctuated::<Expr, Token![,]>::parse_terminated;
    if let Ok(list) = list.parse2(mac.tokens.clone()) {
        return Some(MacroArgs::List(list));
    }
    let repeat = |input: ParseStream<'_>| {
        Ok(MacroArgs::Repeat(
            input.parse()?,
            input.parse()?,
            input.parse()?,
        ))
    };
    repeat.parse2(mac.tokens.clone()).ok()
}

/// Whether an invocation of `mac` may leave the function where alamos
/// cannot see it: an unknown macro, or a known one with `?`, `return` or an
/// unknown macro in arguments that are not rewritten.
fn hides_exit(mac: &syn::Macro) -> bool {
    match known_path(&mac.path) {
        None => true,
        Some(Known::Quoting) => tokens_may_exit(mac.tokens.clone()),
        Some(Known::ExitFree) => match rewritable_args(mac) {
            Some(mut args) => {
                let mut finder = Hidden::default();
                for expr in args.exprs_mut() {
                    finder.visit_expr_mut(expr);
                }
                !finder.names.is_empty()
            }
            None => tokens_may_exit(mac.tokens.clone()),
        },
    }
}

/// Looks for `return`, a `?` operator (a `?` right after an operand, not
/// `tracing`'s `?value` sigil) or an invocation of a macro that may exit:
/// any but a known one named by its path.
fn tokens_may_exit(tokens: TokenStream) -> bool {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    tokens.iter().enumerate().any(|(i, token)| {
        let previous = i.checked_sub(1).map(|i| &tokens[i]);
        match token {
            TokenTree::Ident(ident) => {
                ident == "return"
                    || (matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!')
                        && matches!(tokens.get(i + 2), Some(TokenTree::Group(_)))
                        && known(path_ending_at(&tokens, i).iter().map(String::as_str)).is_none())
            }
            TokenTree::Punct(punct) if punct.as_char() == '?' => matches!(
                previous,
                Some(TokenTree::Ident(_) | TokenTree::Literal(_))
            ) || matches!(previous, Some(TokenTree::Group(group)) if group.delimiter() != Delimiter::None),
            TokenTree::Group(group) => tokens_may_exit(group.stream()),
            _ => false,
        }
    })
}

/// The segments of the path `a::b::c` whose last identifier is
/// `tokens[end]`, as far back as the `::`-separated identifiers go.
fn path_ending_at(tokens: &[TokenTree], end: usize) -> Vec<String> {
    let mut segments = Vec::new();
    let mut i = end;
    while let TokenTree::Ident(ident) = &tokens[i] {
        segments.push(ident.to_string());
        let colons = i >= 3
            && matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == ':')
            && matches!(&tokens[i - 2], TokenTree::Punct(p) if p.as_char() == ':');
        if !colons {
            break;
        }
        i -= 3;
    }
    segments.reverse();
    segments
}

/// The names of the macros in a function's own exit scope that may hide an
/// exit, in order, each once.
#[derive(Default)]
pub(crate) struct Hidden {
    pub(crate) names: Vec<String>,
}

impl Hidden {
    pub(crate) fn in_block(block: &Block) -> Vec<String> {
        let mut finder = Hidden::default();
        finder.visit_block_mut(&mut block.clone());
        finder.names
    }

    pub(crate) fn in_stmt(stmt: &Stmt) -> Vec<String> {
        let mut finder = Hidden::default();
        finder.visit_stmt_mut(&mut stmt.clone());
        finder.names
    }
}

impl VisitMut for Hidden {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}

    // A macro in a type or a pattern expands to a type or a pattern, which
    // cannot leave the function.
    fn visit_type_mut(&mut self, _: &mut Type) {}

    fn visit_pat_mut(&mut self, _: &mut syn::Pat) {}

    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        if hides_exit(mac) {
            let name = macro_name(mac);
            if !self.names.contains(&name) {
                self.names.push(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{hides_exit, tokens_may_exit, Hidden};

    fn hides(mac: &str) -> bool {
        hides_exit(&syn::parse_str::<syn::Macro>(mac).unwrap())
    }

    #[test]
    fn a_try_operator_is_an_exit_and_a_debug_sigil_is_not() {
        let may_exit = |tokens: &str| tokens_may_exit(tokens.parse().unwrap());
        assert!(may_exit("x?"));
        assert!(may_exit("f(a)?"));
        assert!(may_exit("return 1"));
        assert!(may_exit("{ bail!(\"no\") }"));
        assert!(!may_exit("?x, \"message\""));
        assert!(!may_exit("a = ?x, b = %y"));
        assert!(!may_exit("a != b"));
        assert!(!may_exit("::std::format!(\"{}\", 1)"));
        assert!(!may_exit("core::format_args!(\"{}\", 1)"));
        assert!(
            may_exit("format!(\"{}\", 1)"),
            "a bare name may be shadowed"
        );
        assert!(may_exit("my::std::format!(\"{}\", 1)"));
    }

    #[test]
    fn only_a_path_into_a_known_crate_is_trusted() {
        assert!(hides("bail!(\"no\")"));
        assert!(hides("std::task::ready!(poll)"));
        assert!(hides("r#try!(x)"));
        assert!(hides("my_crate::info!(x)"));
        assert!(hides("anyhow::bail!(\"no\")"));
        // Bare names, whatever they are named: a `macro_rules!` may shadow them.
        for bare in [
            "println!(\"{}\", x)",
            "format!(\"{}\", x)",
            "vec![1, 2]",
            "assert!(x)",
            "debug_assert!(x)",
            "matches!(x, Some(_))",
            "write!(f, \"x\")",
            "warn!(\"no key\")",
            "info!(n = 3, \"opened\")",
        ] {
            assert!(hides(bare), "{bare}");
        }
        assert!(!hides("::std::println!(\"{}\", x?)"));
        assert!(!hides("std::vec![x?; 3]"));
        assert!(!hides("::core::assert_eq!(a, b)"));
        assert!(!hides("alloc::format!(\"{}\", x)"));
        assert!(!hides("tracing::info!(target: \"t\", ?x, \"m\")"));
        assert!(!hides("::alamos::debug!(n = 3, \"opened\")"));
        assert!(!hides("log::warn!(\"w\")"));
        assert!(!hides("anyhow::anyhow!(\"e\")"));
        assert!(hides("::std::assert!(flag(s)?)"));
        assert!(hides("std::println!(\"{}\", ready!(p))"));
        assert!(hides("std::println!(\"{}\", format!(\"{}\", 1))"));
        assert!(hides("tracing::info!(target: \"t\", \"{}\", x?)"));
        assert!(!hides(
            "tracing::info!(target: \"t\", \"{}\", ::std::format!(\"{}\", 1))"
        ));
    }

    #[test]
    fn macros_in_types_and_patterns_hide_no_exit() {
        let block: syn::Block =
            syn::parse_str("{ let x: ty!() = 1; let pat!() = x; opaque!(x) }").unwrap();
        assert_eq!(Hidden::in_block(&block), ["opaque!"]);
    }
}
