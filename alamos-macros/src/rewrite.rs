//! Makes every exit of a synchronous body visible to its `FnCall`.
//!
//! The body stays inline in the function, so `#[track_caller]`, borrows
//! returned from `&mut self` and inference behave exactly as before. Only
//! the function's own exits change: `e?` becomes `Observe::observe(e, &call)?`
//! and `return e` passes `e` through the call's classifier. Closures, async
//! blocks and nested items have their own exits and are left alone. Macro
//! arguments are rewritten when they parse as expressions (`vec![a?, b?]`,
//! `println!("{}", x?)`); other macro bodies are left alone.

use proc_macro2::{Ident, TokenStream};
use quote::{quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Token};

pub(crate) struct Exits<'a> {
    /// The local holding the `FnCall`.
    pub(crate) call: &'a Ident,
    /// The local holding the classifier of returned values, if the return type
    /// can be named.
    pub(crate) classify: Option<&'a Ident>,
    /// Records an error leaving through `?`, for the `err` argument.
    pub(crate) record_err: Option<&'a TokenStream>,
    /// How many exits were rewritten so far.
    pub(crate) rewritten: usize,
}

impl Exits<'_> {
    pub(crate) fn returned(&self, value: &Expr) -> Expr {
        let call = self.call;
        match self.classify {
            Some(classify) => syn::parse_quote_spanned! {value.span()=>
                #call.returned(#value, #classify)
            },
            None => value.clone(),
        }
    }
}

impl VisitMut for Exits<'_> {
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
                self.rewritten += 1;
            }
            Expr::Return(ret) => {
                if let Some(value) = &mut ret.expr {
                    self.visit_expr_mut(value);
                    **value = self.returned(value);
                    self.rewritten += 1;
                }
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}

    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        let Ok(mut exprs) = parser.parse2(mac.tokens.clone()) else {
            return;
        };
        let before = self.rewritten;
        for expr in &mut exprs {
            self.visit_expr_mut(expr);
        }
        if self.rewritten != before {
            mac.tokens = exprs.into_token_stream();
        }
    }
}
