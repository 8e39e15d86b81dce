//! The direct path: structs whose field order is known at compile time implement the runtime's
//! `fp1::Encode` and are written straight to the hasher, without serde (`encoder/direct.rs` in
//! the runtime).
//!
//! Two impls come from here: the presorted view's, for the fingerprint itself (counted fields,
//! `#[fingerprint(rename)]`), and the container's own, for when it is nested in another derived
//! type. The nested one has serde's shape (every serialized field, serde's names), because a
//! field hashes as serde would serialize it, nested derived types included.

use proc_macro2::{Literal, Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;

use super::ast::Input;
use super::bound;
use super::presorted::{self, Names};

/// The statement that writes one field: through its `Encode` impl when its type has one, through
/// serde otherwise (the runtime's `fp1::Field` picks), or not at all when its value is NULL.
/// Spanned at the field, so that a type that does not serialize is reported there.
pub(crate) fn entry(
    private: &TokenStream,
    name: &str,
    value: &TokenStream,
    at: Span,
) -> TokenStream {
    let key = Literal::byte_string(&str_encoding(name));
    let name = Literal::string(name);
    let call = super::expand::respan(
        quote!(.fp1_via().entry(__dedup_w, #name, #key, __dedup_v)?;),
        at,
    );
    quote! {{
        let __dedup_v = #value;
        (&#private::fp1::Field(__dedup_v)) #call
    }}
}

/// `fn fp1_encode`: the MAP of `entries` (statements made by [`entry`]).
pub(crate) fn encode_fn(private: &TokenStream, entries: &[TokenStream]) -> TokenStream {
    quote! {
        #[inline]
        fn fp1_encode(
            &self,
            __dedup_w: &mut #private::fp1::Writer<'_, '_>,
        ) -> #private::Result<(), #private::fp1::Error> {
            #[allow(unused_imports)]
            use #private::fp1::{ViaEncode as _, ViaSerde as _};
            __dedup_w.open_map()?;
            #(#entries)*
            __dedup_w.close_map();
            #private::Result::Ok(())
        }
    }
}

/// `impl Encode for #ident` with serde's shape, so that a field of this type inside another
/// derived struct (also in a `Vec`, an `Option`...) skips serde too. Nothing when serde's shape
/// is not known here (enums, tuple structs, `flatten`, `serialize_with`...).
///
/// The impl requires the type and its serialized fields' types to be `Serialize`, as
/// higher-ranked bounds, which the compiler checks where the impl is used rather than here: a
/// type that does not serialize (a skipped field holding an `Instant`, say) keeps compiling, and
/// simply has no nested fast path.
pub(crate) fn nested_impl(input: &Input, private: &TokenStream) -> TokenStream {
    let Some(sorted) = presorted::sorted_fields(input, Names::Serde) else {
        return TokenStream::new();
    };
    if sorted
        .iter()
        .any(|(_, field)| field.serde.serialize_with.is_some())
    {
        return TokenStream::new();
    }
    let serialize = quote!(#private::serde::Serialize);
    let ident = input.ident;
    let generics = bound::without_defaults(input.generics);
    let (impl_generics, ty_generics, _) = generics.split_for_impl();
    let mut generics = generics.clone();
    let predicates = &mut generics.make_where_clause().predicates;
    predicates.push(syn::parse_quote!(for<'__dedup_hr> #ident #ty_generics: #serialize));
    for (_, field) in &sorted {
        let ty = &field.ty;
        predicates.push(syn::parse_quote!(for<'__dedup_hr> #ty: #serialize));
    }
    let where_clause = &generics.where_clause;

    let entries: Vec<TokenStream> = sorted
        .iter()
        .map(|(name, field)| {
            let member = &field.member;
            let write = entry(private, name, &quote!(&self.#member), field.original.span());
            match &field.serde.skip_serializing_if {
                Some(path) => quote!(if !#path(&self.#member) #write),
                None => write,
            }
        })
        .collect();
    let encode = encode_fn(private, &entries);
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::fp1::Encode for #ident #ty_generics #where_clause {
            #encode
        }
    }
}

/// `STR(name)`: the tag, `u64be(len)`, the UTF-8 bytes.
fn str_encoding(name: &str) -> Vec<u8> {
    let mut bytes = vec![0x06];
    bytes.extend_from_slice(&(name.len() as u64).to_be_bytes());
    bytes.extend_from_slice(name.as_bytes());
    bytes
}
