//! On an error: the error, and the item as written, so that no second error
//! follows from a missing item.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, ImplItem, Item};

use crate::attrs::alamos_attr;

pub(crate) fn unchanged(err: syn::Error, item: TokenStream) -> TokenStream {
    let mut tokens = err.into_compile_error();
    tokens.extend(item);
    tokens
}

/// The item without the alamos attributes, which would fail again.
pub(crate) fn without_alamos_attrs(err: syn::Error, item: TokenStream) -> TokenStream {
    let Ok(mut parsed) = syn::parse2::<Item>(item.clone()) else {
        return unchanged(err, item);
    };
    let drop_ours = |attrs: &mut Vec<Attribute>| attrs.retain(|attr| alamos_attr(attr).is_none());
    match &mut parsed {
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
    unchanged(err, parsed.into_token_stream())
}
