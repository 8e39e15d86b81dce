//! `#[idempotent]`: read (`args`, `item`), judge (`valid`), then expand (`expand`); on any error,
//! the original function unchanged plus the errors (tokio's `token_stream_with_error`), so that
//! code calling it sees no cascade of unrelated errors.

mod args;
mod expand;
mod item;
mod valid;

use proc_macro2::TokenStream;

use self::args::Args;
use self::item::MaybeItemFn;
use crate::ctxt::Ctxt;

/// The attribute: `args` is what is inside `#[idempotent(...)]`, `item` the function.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let parsed_args = Args::parse(&cx, args);
    let parsed_item = match syn::parse2::<MaybeItemFn>(item.clone()) {
        Ok(parsed) => parsed,
        Err(err) => {
            cx.syn_error(err);
            return token_stream_with_error(item, cx.check().err());
        }
    };
    let handler = valid::check(&cx, &parsed_args, &parsed_item);
    match (cx.check(), handler) {
        (Ok(()), Some(handler)) => expand::expand(&parsed_item, &handler),
        (Err(errors), _) => token_stream_with_error(item, Some(errors)),
        // `check` returns `None` only after recording an error; kept total rather than panicking.
        (Ok(()), None) => token_stream_with_error(
            item,
            Some(syn::Error::new(
                proc_macro2::Span::call_site(),
                "`#[idempotent]` rejected this function without saying why; please report it",
            )),
        ),
    }
}

/// The item unchanged, followed by the errors.
fn token_stream_with_error(mut item: TokenStream, errors: Option<syn::Error>) -> TokenStream {
    if let Some(errors) = errors {
        item.extend(errors.into_compile_error());
    }
    item
}
