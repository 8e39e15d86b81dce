//! The annotated function, read as tracing's `MaybeItemFn`: attributes, visibility and signature
//! are parsed, the body is kept as opaque tokens. The body never has to parse for the expansion,
//! so a half-typed body in an IDE still expands, and rustc (not this macro) reports its mistakes.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, FnArg, PatType, Signature, Token, Visibility, braced};

/// A function with a body.
#[derive(Debug)]
pub(super) struct MaybeItemFn {
    /// `#[...]` and doc comments, kept verbatim.
    pub(super) outer_attrs: Vec<Attribute>,
    /// `#![...]` at the top of the body: put back at the top of the new body.
    pub(super) inner_attrs: Vec<Attribute>,
    pub(super) vis: Visibility,
    pub(super) sig: Signature,
    /// The statements of the body, without its braces.
    pub(super) body: TokenStream,
}

impl MaybeItemFn {
    /// The parameters other than `self`.
    pub(super) fn params(&self) -> impl Iterator<Item = &PatType> {
        self.sig.inputs.iter().filter_map(|arg| match arg {
            FnArg::Typed(param) => Some(param),
            FnArg::Receiver(_) => None,
        })
    }
}

impl Parse for MaybeItemFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse().map_err(|_| not_a_function())?;
        if input.peek(Token![;]) {
            return Err(syn::Error::new_spanned(
                &sig,
                "`#[idempotent]` needs the function's body: put it on the function in the `impl`, \
                 not on its declaration in the trait",
            ));
        }
        let content;
        braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body: TokenStream = content.parse()?;
        Ok(MaybeItemFn {
            outer_attrs,
            inner_attrs,
            vis,
            sig,
            body,
        })
    }
}

/// The error for anything that is not a function.
pub(super) fn not_a_function() -> syn::Error {
    syn::Error::new(
        Span::call_site(),
        "`#[idempotent]` can only be used on a `fn` or an `async fn`",
    )
}
