//! `#[derive(Fingerprint)]`: read (`attr`, `ast`), judge (`valid`), infer bounds (`bound`), then
//! expand (`expand`), or emit the errors plus a stub impl when the input is invalid.

mod ast;
mod attr;
mod bound;
mod direct;
mod expand;
mod presorted;
mod valid;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use self::ast::Input;
use crate::ctxt::Ctxt;
use crate::paths;

/// The whole derive: every error at once, each at its tokens, and always an impl.
pub(crate) fn derive(node: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let input = Input::from_syn(&cx, node);
    input.validate(&cx);
    let private = paths::private_in(input.attrs.krate.as_ref().map(|krate| &krate.value));
    match cx.check() {
        Ok(()) => expand::expand(&input, &private),
        Err(errors) => {
            let mut tokens = errors.into_compile_error();
            tokens.extend(expand::fallback(node, &private));
            tokens
        }
    }
}
