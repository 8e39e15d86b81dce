//! The one place that names the runtime crate in generated code.

use proc_macro2::TokenStream;
use quote::quote;

/// `::dedup_runtime::__private`: everything generated code touches, down to `Result`, goes through
/// this module (never the user's imports or prelude).
pub(crate) fn private() -> TokenStream {
    quote!(::dedup_runtime::__private)
}

/// [`private`] under a crate path the user chose with `crate = path` (for a renamed or re-exported
/// `dedup_runtime`), or the default.
pub(crate) fn private_in(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(krate) => quote!(#krate::__private),
        None => private(),
    }
}
