//! Instrumented items inside instrumented items.
//!
//! Log macros find their experiment through a trait that each instrumented
//! body declares (see `expand::log_scope`). When bodies nest, every enclosing
//! body's trait is in scope too, so each one implements it for a receiver
//! type one reference deeper, and method lookup, which tries the most
//! references first, picks the innermost. This pass tells the instrumented
//! items directly inside a body how deep they are.

use proc_macro2::TokenStream;
use quote::quote;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Block, ImplItemFn, ItemFn, ItemImpl, Meta};

use crate::attrs::is_experiment_attr;

/// The deepest nesting the log macros' receiver (`&&&&&&&&Scope`) can tell apart.
pub(crate) const MAX_DEPTH: usize = 7;

/// Marks the instrumented items inside `block` as being at `depth`.
pub(crate) fn mark(block: &mut Block, depth: usize) {
    Marker { depth }.visit_block_mut(block);
}

struct Marker {
    depth: usize,
}

impl Marker {
    /// Adds `__depth = N` to an experiment attribute; true if there was one.
    fn mark_attrs(&self, attrs: &mut [Attribute]) -> bool {
        let mut marked = false;
        for attr in attrs.iter_mut().filter(|attr| is_experiment_attr(attr)) {
            if let Meta::List(list) = &mut attr.meta {
                let depth = self.depth;
                let tokens = &list.tokens;
                list.tokens = if tokens.is_empty() {
                    quote!(__depth = #depth)
                } else {
                    quote!(#tokens, __depth = #depth)
                };
                marked = true;
            }
        }
        marked
    }
}

impl VisitMut for Marker {
    fn visit_item_fn_mut(&mut self, function: &mut ItemFn) {
        if !self.mark_attrs(&mut function.attrs) {
            visit_mut::visit_item_fn_mut(self, function);
        }
    }

    fn visit_item_impl_mut(&mut self, block: &mut ItemImpl) {
        if !self.mark_attrs(&mut block.attrs) {
            visit_mut::visit_item_impl_mut(self, block);
        }
    }

    fn visit_impl_item_fn_mut(&mut self, method: &mut ImplItemFn) {
        if !self.mark_attrs(&mut method.attrs) {
            visit_mut::visit_impl_item_fn_mut(self, method);
        }
    }

    // Macro bodies are not parsed; items in them stay at depth 0.
    fn visit_macro_mut(&mut self, _: &mut syn::Macro) {}
}

/// `&&...&Scope` with `depth + 1` references: the receiver type a body at
/// `depth` implements its scope trait for.
pub(crate) fn scope_type(depth: usize) -> TokenStream {
    let refs = (0..=depth).map(|_| quote!(&));
    quote!(#(#refs)* ::alamos::__private::Scope)
}
