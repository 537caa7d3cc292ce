//! Makes every visible exit of an inline synchronous body pass through its
//! `FnCall`.
//!
//! The body stays in the function's own frame; only its exits change:
//! `e?` becomes `Observe::observe(e, &call)?`, `return e` passes `e` through
//! the call's classifier, and so does the value of the body's block (not its
//! tail expression: see [`Exits::body`]). Closures, async blocks and nested
//! items have their own exits and are left alone. Arguments of macros that
//! never leave the function are rewritten when they parse as expressions
//! (`::std::vec![a?, b?]`, `::std::println!("{}", x?)`). Other macros may hide an exit
//! (see `shape`): with `marks`, each statement containing one is preceded by
//! `call.arm("left through `m!`")`, so that leaving the function while the
//! mark is armed tells which macro it left through.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Stmt, Type};

use crate::shape::{self, Hidden};

/// How the values the body returns reach the call.
pub(crate) enum Returned<'a> {
    /// Through the classifier in this local (a `Returns`), which also marks
    /// the call completed; the function returns the named type.
    Classified(&'a Ident, &'a Type),
    /// Through `call.returned(e, classifier)`, for a type that cannot be
    /// named but may be a `Result` (`Result<impl Display, E>`).
    Generic(&'a TokenStream),
    /// `()`: the call is only marked completed.
    Unit,
    /// An `impl Trait` return, never a `Result`: left untouched, so that the expected type
    /// still reaches the returned expression (a returned closure infers its
    /// signature from it).
    Untouched,
}

pub(crate) struct Exits<'a> {
    /// The local holding the `FnCall`.
    pub(crate) call: &'a Ident,
    pub(crate) returned: Returned<'a>,
    /// Records an error leaving through `?`, for the `err` argument.
    pub(crate) record_err: Option<&'a TokenStream>,
    /// Arm an exit mark before each statement that may hide an exit.
    pub(crate) marks: bool,
}

impl Exits<'_> {
    /// Rewrites the function's statements, and returns them as a block whose
    /// value, whatever it is (a tail expression, one of several `#[cfg]`'d
    /// tails, the `()` of a body without one), then passes through the call.
    ///
    /// The whole block is classified rather than its tail expression, so
    /// that the tail stays as written, where the attributes on it
    /// (`#[cfg]`, `#[allow]`) and a tail that never completes (`loop`,
    /// `match never {}`, `process::exit(..)`) mean what they mean in the
    /// plain function. The block's value is a local of the named return
    /// type, so its tail is coerced to that type as a function's tail is.
    /// The classification after it is unreachable when the block never
    /// completes: it allows `unreachable_code`, and the compiler reports
    /// only the first unreachable statement of a diverging block, so the
    /// user's own unreachable code is still reported and nothing else is.
    pub(crate) fn body(&mut self, stmts: &mut Vec<Stmt>) -> TokenStream {
        self.stmts(stmts);
        let block = quote!({ #(#stmts)* });
        let call = self.call;
        let value = Ident::new("__alamos_value", Span::mixed_site());
        let returned = Ident::new("__alamos_returned", Span::mixed_site());
        let classified = |ty: Option<&Type>, classify: TokenStream| {
            let ty = ty.map(|ty| quote!(: #ty));
            quote! {
                let #value #ty = #block;
                #[allow(unreachable_code)]
                let #returned = #classify;
                #returned
            }
        };
        match &self.returned {
            Returned::Classified(returns, ty) => {
                classified(Some(ty), quote!(#returns.value(&#call, #value)))
            }
            Returned::Generic(classify) => {
                classified(None, quote!(#call.returned(#value, #classify)))
            }
            Returned::Unit => quote! {
                #block
                #[allow(unreachable_code)]
                #call.completed();
            },
            Returned::Untouched => block,
        }
    }

    /// A value the body returns with `return`, passed through the call.
    fn returned(&self, value: &Expr) -> Expr {
        let call = self.call;
        match &self.returned {
            Returned::Classified(returns, _) => syn::parse_quote_spanned! {value.span()=>
                #returns.value(&#call, #value)
            },
            Returned::Generic(classify) => syn::parse_quote_spanned! {value.span()=>
                #call.returned(#value, #classify)
            },
            Returned::Unit => syn::parse_quote_spanned! {value.span()=>
                #call.done(#value)
            },
            Returned::Untouched => value.clone(),
        }
    }

    fn stmts(&mut self, stmts: &mut Vec<Stmt>) {
        let mut out = Vec::with_capacity(stmts.len());
        for mut stmt in stmts.drain(..) {
            if self.marks {
                let hidden = Hidden::in_stmt(&stmt);
                if !hidden.is_empty() {
                    let exit = format!("left through `{}`", hidden.join("` or `"));
                    let call = self.call;
                    out.push(syn::parse_quote!(#call.arm(&#exit);));
                }
            }
            self.visit_stmt_mut(&mut stmt);
            out.push(stmt);
        }
        *stmts = out;
    }
}

impl VisitMut for Exits<'_> {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        self.stmts(&mut block.stmts);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
            Expr::Try(try_expr) => {
                self.visit_expr_mut(&mut try_expr.expr);
                let operand = &try_expr.expr;
                let call = self.call;
                let span = try_expr.question_token.span();
                let observed = if let Some(record) = self.record_err {
                    quote_spanned! {span=>
                        ::alamos::__private::Observe::observe_err(#operand, &#call, #record)
                    }
                } else {
                    quote_spanned! {span=>
                        ::alamos::__private::Observe::observe(#operand, &#call)
                    }
                };
                let question = try_expr.question_token;
                *expr = syn::parse_quote!(#observed #question);
            }
            Expr::Return(ret) => {
                if let Some(value) = &mut ret.expr {
                    self.visit_expr_mut(value);
                    **value = self.returned(value);
                } else if !matches!(self.returned, Returned::Untouched) {
                    let call = self.call;
                    ret.expr = Some(Box::new(syn::parse_quote!(#call.done(()))));
                }
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}

    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        let Some(mut args) = shape::rewritable_args(mac) else {
            return;
        };
        let before = args.to_token_stream().to_string();
        for expr in args.exprs_mut() {
            self.visit_expr_mut(expr);
        }
        let after = args.to_token_stream();
        if after.to_string() != before {
            mac.tokens = after;
        }
    }
}
