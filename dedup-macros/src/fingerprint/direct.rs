//! The direct path: structs whose field order is known at compile time implement the runtime's
//! `fp1::Encode` and are written straight to the hasher, without serde (`encoder/direct.rs` in
//! the runtime).
//!
//! Two impls come from here: the presorted view's, for the fingerprint itself (counted fields,
//! `#[fingerprint(rename)]`), and the container's own, for when it is nested in another derived
//! type. The nested one has serde's shape (every serialized field, serde's names), because a
//! field hashes as serde would serialize it, nested derived types included. Besides structs with
//! named fields, newtype structs and enums of unit variants have one too: message fields are
//! often ids and statuses.

use proc_macro2::{Literal, Span, TokenStream};
use quote::quote;
use syn::WherePredicate;
use syn::spanned::Spanned;

use super::ast::{Data, Field, Input, Style, Variant};
use super::bound;
use super::expand::unraw;
use super::presorted::{self, Names, RenameRule};

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
    encode_fn_with(
        private,
        &quote! {
            #[allow(unused_imports)]
            use #private::fp1::{ViaEncode as _, ViaSerde as _};
            __dedup_w.open_map()?;
            #(#entries)*
            __dedup_w.close_map();
            #private::Result::Ok(())
        },
    )
}

/// `fn fp1_encode` with `body`, which writes to `__dedup_w`.
fn encode_fn_with(private: &TokenStream, body: &TokenStream) -> TokenStream {
    quote! {
        #[inline]
        fn fp1_encode(
            &self,
            __dedup_w: &mut #private::fp1::Writer<'_, '_>,
        ) -> #private::Result<(), #private::fp1::Error> {
            #body
        }
    }
}

/// `impl Encode for #ident` with serde's shape, so that a field of this type inside another
/// derived struct (also in a `Vec`, an `Option`...) skips serde too: for structs with named
/// fields, newtype structs and enums of unit variants. Nothing when serde's shape is not known
/// here (other enums and tuple structs, `flatten`, `serialize_with`, `tag`...).
///
/// The impl requires the type and what it writes to be `Serialize` (or, for a newtype's field,
/// `Encode`), as higher-ranked bounds, which the compiler checks where the impl is used rather
/// than here: a type that does not serialize (a skipped field holding an `Instant`, say) keeps
/// compiling, and simply has no nested fast path.
pub(crate) fn nested_impl(input: &Input, private: &TokenStream) -> TokenStream {
    let serde = &input.serde;
    let reshaped = serde.tag.is_some()
        || serde.content.is_some()
        || serde.untagged.is_some()
        || serde.into.is_some()
        || serde.remote.is_some();
    if reshaped {
        return TokenStream::new();
    }
    let shape = match &input.data {
        Data::Struct(Style::Named, _) => named_struct(input, private),
        Data::Struct(Style::Tuple, fields) => newtype(input, private, fields),
        Data::Enum(variants) => unit_enum(input, private, variants),
        Data::Struct(Style::Unit, _) | Data::Union(_) => None,
    };
    let Some(Shape { bounds, body }) = shape else {
        return TokenStream::new();
    };

    let serialize = quote!(#private::serde::Serialize);
    let ident = input.ident;
    let generics = bound::without_defaults(input.generics);
    let (impl_generics, ty_generics, _) = generics.split_for_impl();
    let mut bounded = generics.clone();
    let predicates = &mut bounded.make_where_clause().predicates;
    predicates.push(syn::parse_quote!(for<'__dedup_hr> #ident #ty_generics: #serialize));
    predicates.extend(bounds);
    let where_clause = &bounded.where_clause;
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::fp1::Encode for #ident #ty_generics #where_clause {
            #body
        }
    }
}

/// What an `Encode` impl needs beyond `Self: Serialize`, and its items.
struct Shape {
    bounds: Vec<WherePredicate>,
    body: TokenStream,
}

/// A MAP of the serialized fields, in canonical order.
fn named_struct(input: &Input, private: &TokenStream) -> Option<Shape> {
    let sorted = presorted::sorted_fields(input, Names::Serde)?;
    if sorted
        .iter()
        .any(|(_, field)| field.serde.serialize_with.is_some())
    {
        return None;
    }
    let serialize = quote!(#private::serde::Serialize);
    let bounds = sorted
        .iter()
        .map(|(_, field)| {
            let ty = &field.ty;
            syn::parse_quote!(for<'__dedup_hr> #ty: #serialize)
        })
        .collect();
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
    Some(Shape {
        bounds,
        body: encode_fn(private, &entries),
    })
}

/// `struct Id(u64)`: serde's newtype struct, the field's encoding one level deeper (or at the
/// same level with `#[serde(transparent)]`), NULL exactly when the field's is. Only for a field
/// with a direct encoding itself, since NULL must be known before anything is written.
fn newtype(input: &Input, private: &TokenStream, fields: &[Field]) -> Option<Shape> {
    let [field] = fields else {
        return None;
    };
    let attrs = &field.serde;
    if attrs.skip_serializing.is_some()
        || attrs.skip_serializing_if.is_some()
        || attrs.serialize_with.is_some()
        || attrs.flatten.is_some()
        || input.serde.rename_all_fields.is_some()
    {
        return None;
    }
    let ty = &field.ty;
    let encode = quote!(<#ty as #private::fp1::Encode>);
    let write = if input.serde.transparent.is_some() {
        quote!(#encode::fp1_encode(&self.0, __dedup_w))
    } else {
        quote!(__dedup_w.nest(&self.0))
    };
    let encode_fn = encode_fn_with(private, &write);
    Some(Shape {
        bounds: vec![syn::parse_quote!(for<'__dedup_hr> #ty: #private::fp1::Encode)],
        body: quote! {
            #encode_fn

            #[inline]
            fn fp1_is_null(&self) -> bool {
                #encode::fp1_is_null(&self.0)
            }
        },
    })
}

/// `enum Status { Placed, Shipped }`: serde writes a unit variant as the STR of its serialized
/// name, which is known here.
fn unit_enum(input: &Input, private: &TokenStream, variants: &[Variant]) -> Option<Shape> {
    if variants.is_empty() {
        return None;
    }
    let rule = match &input.serde.rename_all {
        Some(rule) => Some(RenameRule::from_str(&rule.value())?),
        None => None,
    };
    let mut arms = Vec::new();
    for variant in variants {
        let attrs = &variant.serde;
        if variant.style != Style::Unit
            || attrs.skip_serializing.is_some()
            || attrs.serialize_with.is_some()
            || attrs.untagged.is_some()
        {
            return None;
        }
        let name = match &attrs.rename {
            Some(rename) => rename.value(),
            None => {
                let ident = unraw(variant.ident);
                match rule {
                    Some(rule) => rule.apply_to_variant(&ident)?,
                    None => ident,
                }
            }
        };
        let ident = variant.ident;
        let encoded = Literal::byte_string(&str_encoding(&name));
        arms.push(quote!(Self::#ident => __dedup_w.put_encoded(#encoded),));
    }
    Some(Shape {
        bounds: Vec::new(),
        body: encode_fn_with(
            private,
            &quote! {
                match *self {
                    #(#arms)*
                }
                #private::Result::Ok(())
            },
        ),
    })
}

/// `STR(name)`: the tag, `u64be(len)`, the UTF-8 bytes.
fn str_encoding(name: &str) -> Vec<u8> {
    let mut bytes = vec![0x06];
    bytes.extend_from_slice(&(name.len() as u64).to_be_bytes());
    bytes.extend_from_slice(name.as_bytes());
    bytes
}
