//! `counter!`, `gauge!` and `histogram!`: parse → validate → expand.

mod args;
mod expand;
mod valid;

use proc_macro2::TokenStream;

pub(crate) use self::args::Kind;
use self::args::ParseAs;

/// Expands one instrument macro; a mistake becomes a compile error on its
/// token, and the macro then evaluates to `()`.
pub(crate) fn instrument(kind: Kind, tokens: TokenStream) -> TokenStream {
    let checked = ParseAs(kind).parse(tokens).and_then(|args| {
        if let Some(key) = &args.experiment {
            crate::valid::key_grammar(key)?;
        }
        valid::name(&args)?;
        valid::labels(&args, kind)?;
        valid::buckets(&args)?;
        valid::describe(&args)?;
        Ok(args)
    });
    match checked {
        Ok(args) => expand::expand(&args, kind),
        Err(err) => {
            let error = err.into_compile_error();
            quote::quote!({ #error })
        }
    }
}
