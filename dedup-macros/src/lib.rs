//! PLACEHOLDER
use proc_macro::TokenStream;

#[proc_macro_derive(Fingerprint, attributes(fingerprint))]
pub fn derive_fingerprint(input: TokenStream) -> TokenStream { let _ = input; TokenStream::new() }

#[proc_macro_attribute]
pub fn idempotent(args: TokenStream, item: TokenStream) -> TokenStream { let _ = args; item }
