//! The expansion of a valid input: a private *view* of references to the fields, which copies
//! the serialize-side serde attributes and derives `Serialize`, and the `Fingerprint` impl that
//! serializes the view through the fp1 encoder. Everything sits in one `const _: () = { ... };`,
//! so the derive adds no name to the user's module.
//!
//! ```text
//! const _: () = {
//!     #[derive(Serialize)] #[serde(crate = "...", bound(serialize = "..."), rename = "Order", ...)]
//!     struct __DedupView<'__dedup, T> {
//!         id: &'__dedup u64,
//!         #[serde(skip)] sent_at: &'__dedup Instant,         // #[fingerprint(skip)]
//!         tags: Unordered<'__dedup, Vec<String>>,           // #[fingerprint(unordered)]
//!         #[serde(serialize_with = "__dedup_ser_0::<T, _>")] // #[serde(with = "m")]
//!         at: &'__dedup T,
//!     }
//!     fn __dedup_ser_0<T, S: Serializer>(v: &&T, s: S) -> Result<..> { m::serialize(*v, s) }
//!     impl<T> Fingerprint for Order<T> where T: Serialize {
//!         fn try_fingerprint(&self) -> Result<Digest, Error> {
//!             let __dedup_view: __DedupView<'_, T> = __DedupView { id: &self.id, ... };
//!             fingerprint_of("Order", &__dedup_view)
//!         }
//!     }
//! };
//! ```
//!
//! Because the view keeps every field (those that do not count as `#[serde(skip)]`), serde sees
//! the same shape as the user's type: a tuple struct stays a tuple struct, `transparent` still
//! finds its field.
//!
//! A struct with named fields whose serialized names are known here takes the direct path
//! instead (`direct.rs`): its view has no serde attributes and implements the runtime's
//! `fp1::Encode`, writing its fields in canonical order without serde, and the struct itself
//! implements `fp1::Encode` too, for when it is nested in another derived struct.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote};
use syn::spanned::Spanned;
use syn::{
    ExprPath, GenericParam, Generics, Ident, Lifetime, LitStr, Member, Type, WherePredicate,
    parse_quote,
};

use super::ast::{Data, Field, Input, Style, Variant};
use super::bound;
use super::direct;
use super::presorted::{self, Names};

/// The view's lifetime: the borrow of the container.
const VIEW_LIFETIME: &str = "'__dedup";

pub(crate) fn expand(input: &Input, private: &TokenStream) -> TokenStream {
    let ident = input.ident;
    let serialize: syn::Path = parse_quote!(#private::serde::Serialize);
    let predicates = bound::serialize_predicates(input, &serialize);

    // The impl: the container's generics plus the inferred (or given) serialize bounds.
    let mut impl_generics = bound::without_defaults(input.generics);
    impl_generics
        .make_where_clause()
        .predicates
        .extend(predicates.iter().cloned());
    let (impl_generics, _, where_clause) = impl_generics.split_for_impl();
    let (_, ty_generics, _) = input.generics.split_for_impl();

    // The view and its helper fns live outside the impl: `Self` must not appear in them.
    let generics = bound::without_defaults(&input.generics_without_self());
    let has_fields = input.all_fields().next().is_some();
    let mut helpers = Helpers {
        private,
        generics: &generics,
        predicates: &predicates,
        items: Vec::new(),
    };

    let view = View {
        input,
        private,
        has_fields,
        generics: &generics,
    };
    let (definition, presorted) = view.definition(&mut helpers, &predicates);
    let nested = direct::nested_impl(input, private);
    let view_ty = view.ty();
    let body = view.body();
    let helpers = helpers.items;

    let namespace = match &input.attrs.namespace {
        Some(namespace) => namespace.value.clone(),
        None => LitStr::new(&unraw(ident), ident.span()),
    };
    let fingerprint = match &input.data {
        Data::Enum(variants) if variants.is_empty() => quote!(match *self {}),
        _ if presorted => quote! {
            let __dedup_view: #view_ty = #body;
            #private::fp1::fingerprint(#namespace, &__dedup_view)
        },
        _ => quote! {
            let __dedup_view: #view_ty = #body;
            #private::fingerprint_of(#namespace, &__dedup_view)
        },
    };

    quote! {
        #[doc(hidden)]
        #[allow(
            non_camel_case_types,
            non_snake_case,
            dead_code,
            deprecated,
            unused_qualifications,
            unused_lifetimes,
            single_use_lifetimes,
            private_bounds,
            private_interfaces,
            clippy::all,
            clippy::pedantic,
            clippy::nursery,
        )]
        const _: () = {
            #definition

            #(#helpers)*

            #nested

            #[automatically_derived]
            impl #impl_generics #private::Fingerprint for #ident #ty_generics #where_clause {
                fn try_fingerprint(
                    &self,
                ) -> #private::Result<#private::Digest, #private::Error> {
                    #fingerprint
                }
            }
        };
    }
}

/// The stub that follows the errors of an invalid input: with the impl in place, code that uses
/// the type reports nothing more (thiserror `fallback.rs`).
pub(crate) fn fallback(input: &syn::DeriveInput, private: &TokenStream) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[doc(hidden)]
        #[allow(deprecated, unused_qualifications)]
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #private::Fingerprint for #ident #ty_generics #where_clause {
                fn try_fingerprint(
                    &self,
                ) -> #private::Result<#private::Digest, #private::Error> {
                    ::core::unreachable!()
                }
            }
        };
    }
}

struct View<'a> {
    input: &'a Input<'a>,
    private: &'a TokenStream,
    /// Whether the view borrows anything (and so has the `'__dedup` lifetime).
    has_fields: bool,
    /// The container's generics, without defaults and without `Self`.
    generics: &'a Generics,
}

impl View<'_> {
    fn ident() -> Ident {
        Ident::new("__DedupView", Span::call_site())
    }

    fn lifetime() -> Lifetime {
        Lifetime::new(VIEW_LIFETIME, Span::call_site())
    }

    /// The view's own generics: `'__dedup` (if it borrows anything) and the container's.
    fn generics(&self) -> Generics {
        let mut generics = self.generics.clone();
        if self.has_fields {
            let lifetime = Self::lifetime();
            generics.params.insert(0, parse_quote!(#lifetime));
        }
        if !generics.params.is_empty() {
            generics.lt_token.get_or_insert_with(Default::default);
            generics.gt_token.get_or_insert_with(Default::default);
        }
        generics
    }

    /// `__DedupView<'_, 'a, T, N>`, naming the impl's own parameters.
    fn ty(&self) -> TokenStream {
        let ident = Self::ident();
        let mut args = Vec::new();
        if self.has_fields {
            args.push(quote!('_));
        }
        for param in &self.generics.params {
            if let GenericParam::Lifetime(param) = param {
                args.push(param.lifetime.to_token_stream());
            }
        }
        args.extend(type_and_const_args(self.generics));
        if args.is_empty() {
            quote!(#ident)
        } else {
            quote!(#ident<#(#args),*>)
        }
    }

    /// The view's definition, and whether it is presorted (implements the runtime's
    /// `fp1::Encode`) rather than serde-derived.
    fn definition(
        &self,
        helpers: &mut Helpers,
        predicates: &[WherePredicate],
    ) -> (TokenStream, bool) {
        if let Some(sorted) = presorted::sorted_fields(self.input, Names::Fingerprint) {
            return (
                self.presorted_definition(helpers, predicates, &sorted),
                true,
            );
        }
        let input = self.input;
        let private = self.private;
        let ident = Self::ident();
        let generics = self.generics();
        let (view_generics, _, where_clause) = generics.split_for_impl();

        let serde_crate = LitStr::new(&quote!(#private::serde).to_string(), Span::call_site());
        let bound = LitStr::new(&quote!(#(#predicates),*).to_string(), Span::call_site());
        let name = match &input.serde.rename {
            Some(rename) => rename.clone(),
            None => LitStr::new(&unraw(input.ident), input.ident.span()),
        };
        let mut attrs = vec![
            quote!(crate = #serde_crate),
            quote!(bound(serialize = #bound)),
            quote!(rename = #name),
        ];
        let serde = &input.serde;
        for (key, value) in [
            ("rename_all", &serde.rename_all),
            ("rename_all_fields", &serde.rename_all_fields),
            ("tag", &serde.tag),
            ("content", &serde.content),
        ] {
            if let Some(value) = value {
                let key = Ident::new(key, value.span());
                attrs.push(quote!(#key = #value));
            }
        }
        attrs.extend(serde.untagged.iter().map(ToTokens::to_token_stream));
        attrs.extend(serde.transparent.iter().map(ToTokens::to_token_stream));

        let data = match &input.data {
            Data::Struct(style, fields) => {
                let fields = self.fields(helpers, fields, *style, None);
                match style {
                    Style::Named => quote!(struct #ident #view_generics #where_clause { #fields }),
                    Style::Tuple => quote!(struct #ident #view_generics ( #fields ) #where_clause;),
                    Style::Unit => quote!(struct #ident #view_generics #where_clause;),
                }
            }
            Data::Enum(variants) => {
                let variants = variants
                    .iter()
                    .map(|variant| self.variant(helpers, variant));
                quote!(enum #ident #view_generics #where_clause { #(#variants)* })
            }
            // Rejected by `valid.rs`.
            Data::Union(_) => TokenStream::new(),
        };

        let definition = quote! {
            #[derive(#private::serde::Serialize)]
            #[serde(#(#attrs),*)]
            #data
        };
        (definition, false)
    }

    /// A struct whose canonical field order is known: the view without serde attributes, and
    /// its `fp1::Encode` impl, which writes the fields in that order, leaving out those that
    /// serde would skip (`presorted.rs`, `direct.rs`).
    fn presorted_definition(
        &self,
        helpers: &mut Helpers,
        predicates: &[WherePredicate],
        sorted: &[(String, &Field)],
    ) -> TokenStream {
        let private = self.private;
        let ident = Self::ident();
        let generics = self.generics();
        let (view_generics, view_ty_generics, where_clause) = generics.split_for_impl();
        let fields = match &self.input.data {
            Data::Struct(_, fields) => fields.iter().map(|field| {
                let member = &field.member;
                let ty = self.field_ty(field);
                quote!(#member: #ty)
            }),
            // `sorted_fields` only accepts structs.
            Data::Enum(_) | Data::Union(_) => return TokenStream::new(),
        };

        let mut bounded = generics.clone();
        bounded
            .make_where_clause()
            .predicates
            .extend(predicates.iter().cloned());
        let (_, _, bounded_where) = bounded.split_for_impl();

        let entries: Vec<TokenStream> = sorted
            .iter()
            .map(|(name, field)| {
                let member = &field.member;
                let value = match &field.serde.serialize_with {
                    Some(with) => {
                        let with = helpers.serialize_with(&with.value, &[&field.ty]).1;
                        let wrapper = helpers.with_wrapper(&generics, &with, member);
                        quote!(&#wrapper(self))
                    }
                    None => quote!(&self.#member),
                };
                let write = direct::entry(private, name, &value, field.original.span());
                match &field.serde.skip_serializing_if {
                    Some(path) => {
                        let skip = helpers
                            .skip_serializing_if(path, &field.ty, field.attrs.unordered.is_some())
                            .1;
                        quote!(if !#skip(&self.#member) #write)
                    }
                    None => write,
                }
            })
            .collect();
        let encode = direct::encode_fn(private, &entries);

        quote! {
            struct #ident #view_generics #where_clause { #(#fields),* }

            #[automatically_derived]
            impl #view_generics #private::fp1::Encode for #ident #view_ty_generics
            #bounded_where
            {
                #encode
            }
        }
    }

    fn variant(&self, helpers: &mut Helpers, variant: &Variant) -> TokenStream {
        let ident = variant.ident;
        let mut attrs = Vec::new();
        let rename = variant
            .attrs
            .rename
            .as_ref()
            .map(|rename| &rename.value)
            .or(variant.serde.rename.as_ref());
        if let Some(rename) = rename {
            attrs.push(quote!(rename = #rename));
        }
        if let Some(rule) = &variant.serde.rename_all {
            attrs.push(quote!(rename_all = #rule));
        }
        if let Some(skip) = &variant.serde.skip_serializing {
            attrs.push(Ident::new("skip_serializing", skip.span()).into_token_stream());
        }
        if let Some(with) = &variant.serde.serialize_with {
            let tys: Vec<&Type> = variant.fields.iter().map(|field| &field.ty).collect();
            let helper = helpers.serialize_with(&with.value, &tys).0;
            attrs.push(quote!(serialize_with = #helper));
        }
        attrs.extend(variant.serde.untagged.iter().map(ToTokens::to_token_stream));
        let attrs = serde_attr(&attrs);

        let fields = self.fields(helpers, &variant.fields, variant.style, Some(variant));
        match variant.style {
            Style::Named => quote!(#attrs #ident { #fields },),
            Style::Tuple => quote!(#attrs #ident ( #fields ),),
            Style::Unit => quote!(#attrs #ident,),
        }
    }

    fn fields(
        &self,
        helpers: &mut Helpers,
        fields: &[Field],
        style: Style,
        variant: Option<&Variant>,
    ) -> TokenStream {
        let fields = fields.iter().map(|field| {
            let attrs = Self::field_attrs(helpers, field, variant);
            let ty = self.field_ty(field);
            match style {
                Style::Named => {
                    let ident = &field.original.ident;
                    quote!(#attrs #ident: #ty)
                }
                Style::Tuple | Style::Unit => quote!(#attrs #ty),
            }
        });
        quote!(#(#fields),*)
    }

    /// `&'__dedup T`, or `Unordered<'__dedup, T>` for `#[fingerprint(unordered)]`.
    fn field_ty(&self, field: &Field) -> TokenStream {
        let lifetime = Self::lifetime();
        let ty = &field.ty;
        if field.attrs.unordered.is_some() {
            let private = self.private;
            quote!(#private::Unordered<#lifetime, #ty>)
        } else {
            quote!(&#lifetime #ty)
        }
    }

    fn field_attrs(helpers: &mut Helpers, field: &Field, variant: Option<&Variant>) -> TokenStream {
        if !field.counted() {
            return quote!(#[serde(skip)]);
        }
        // Inside a variant serialized by a `serialize_with` fn, the fields' own attributes do
        // nothing (serde ignores them there too).
        if variant.is_some_and(|variant| variant.serde.serialize_with.is_some()) {
            return TokenStream::new();
        }
        let serde = &field.serde;
        let mut attrs = Vec::new();
        let rename = field
            .attrs
            .rename
            .as_ref()
            .map(|rename| &rename.value)
            .or(serde.rename.as_ref());
        if let Some(rename) = rename {
            attrs.push(quote!(rename = #rename));
        }
        if let Some(skip) = &serde.skip_serializing {
            attrs.push(Ident::new("skip_serializing", skip.span()).into_token_stream());
        }
        if let Some(path) = &serde.skip_serializing_if {
            let helper = helpers
                .skip_serializing_if(path, &field.ty, field.attrs.unordered.is_some())
                .0;
            attrs.push(quote!(skip_serializing_if = #helper));
        }
        if let Some(with) = &serde.serialize_with {
            let helper = helpers.serialize_with(&with.value, &[&field.ty]).0;
            attrs.push(quote!(serialize_with = #helper));
        }
        attrs.extend(serde.flatten.iter().map(ToTokens::to_token_stream));
        serde_attr(&attrs)
    }

    /// The expression that borrows `self` as the view (its generic arguments are inferred from
    /// the type of the `let`).
    fn body(&self) -> TokenStream {
        let path = Self::ident();
        match &self.input.data {
            Data::Struct(style, fields) => {
                let inits = fields.iter().map(|field| {
                    let member = &field.member;
                    let value = self.wrap(field, quote!(&self.#member));
                    quote!(#member: #value)
                });
                match style {
                    Style::Unit => path.into_token_stream(),
                    Style::Named | Style::Tuple => quote!(#path { #(#inits),* }),
                }
            }
            Data::Enum(variants) => {
                let arms = variants.iter().map(|variant| {
                    let ident = variant.ident;
                    let bindings: Vec<Ident> = (0..variant.fields.len())
                        .map(|i| format_ident!("__dedup_{}", i))
                        .collect();
                    let values = variant
                        .fields
                        .iter()
                        .zip(&bindings)
                        .map(|(field, binding)| self.wrap(field, binding.to_token_stream()));
                    match variant.style {
                        Style::Named => {
                            let members: Vec<&Member> =
                                variant.fields.iter().map(|field| &field.member).collect();
                            quote! {
                                Self::#ident { #(#members: #bindings),* } =>
                                    #path::#ident { #(#members: #values),* },
                            }
                        }
                        Style::Tuple => quote! {
                            Self::#ident ( #(#bindings),* ) => #path::#ident ( #(#values),* ),
                        },
                        Style::Unit => quote! {
                            Self::#ident => #path::#ident,
                        },
                    }
                });
                quote!(match self { #(#arms)* })
            }
            Data::Union(_) => TokenStream::new(),
        }
    }

    /// A borrowed field as the view holds it.
    fn wrap(&self, field: &Field, borrow: TokenStream) -> TokenStream {
        if field.attrs.unordered.is_some() {
            let private = self.private;
            quote!(#private::Unordered(#borrow))
        } else {
            borrow
        }
    }
}

/// The small fns that let `serialize_with` / `skip_serializing_if` paths, written for `&T`, take
/// the view's `&&T`. Generic over the container's parameters (named in a turbofish, since not all
/// of them appear in the argument types), with the impl's bounds.
struct Helpers<'a> {
    private: &'a TokenStream,
    generics: &'a Generics,
    predicates: &'a [WherePredicate],
    items: Vec<TokenStream>,
}

impl Helpers<'_> {
    /// A fn `(&&T0, &&T1, .., S) -> Result<S::Ok, S::Error>` calling `path(&T0, &T1, .., S)`,
    /// and the `serialize_with` string and the path that name it.
    fn serialize_with(&mut self, path: &ExprPath, tys: &[&Type]) -> (LitStr, TokenStream) {
        let private = self.private;
        let fn_ident = format_ident!("__dedup_ser_{}", self.items.len());
        let serializer = Ident::new("__DedupS", Span::call_site());
        let mut generics = self.generics.clone();
        generics
            .params
            .push(parse_quote!(#serializer: #private::serde::Serializer));
        let (fn_generics, where_clause) = self.with_predicates(&mut generics);
        let args: Vec<Ident> = (0..tys.len())
            .map(|i| format_ident!("__dedup_v{}", i))
            .collect();
        self.items.push(quote! {
            fn #fn_ident #fn_generics (
                #(#args: &&#tys,)*
                __dedup_s: #serializer,
            ) -> #private::Result<
                <#serializer as #private::serde::Serializer>::Ok,
                <#serializer as #private::serde::Serializer>::Error,
            >
            #where_clause
            {
                #path(#(*#args,)* __dedup_s)
            }
        });
        let mut turbofish = type_and_const_args(self.generics);
        if !turbofish.is_empty() {
            turbofish.push(quote!(_));
        }
        name_with_turbofish(&fn_ident, &turbofish, path.span())
    }

    /// A fn `(&&T) -> bool` (or `(&Unordered<T>) -> bool`) calling `path(&T)`, and the
    /// `skip_serializing_if` string and the path that name it.
    fn skip_serializing_if(
        &mut self,
        path: &ExprPath,
        ty: &Type,
        unordered: bool,
    ) -> (LitStr, TokenStream) {
        let private = self.private;
        let fn_ident = format_ident!("__dedup_skip_if_{}", self.items.len());
        let mut generics = self.generics.clone();
        let (fn_generics, where_clause) = self.with_predicates(&mut generics);
        let (arg, value) = if unordered {
            (quote!(&#private::Unordered<'_, #ty>), quote!(__dedup_v.0))
        } else {
            (quote!(&&#ty), quote!(*__dedup_v))
        };
        self.items.push(quote! {
            fn #fn_ident #fn_generics (__dedup_v: #arg) -> bool #where_clause {
                #path(#value)
            }
        });
        let turbofish = type_and_const_args(self.generics);
        name_with_turbofish(&fn_ident, &turbofish, path.span())
    }

    /// For a presorted view (`view_generics`: its generics), a newtype over `&view` whose
    /// `Serialize` passes `view.#member` to the `serialize_with` helper `helper`: what serde's
    /// derive builds inside `serialize` for such a field. It names the helper by its turbofish.
    fn with_wrapper(
        &mut self,
        view_generics: &Generics,
        helper: &TokenStream,
        member: &Member,
    ) -> Ident {
        let private = self.private;
        let ident = format_ident!("__DedupWith{}", self.items.len());
        let view = View::ident();
        let (_, view_args, view_where) = view_generics.split_for_impl();
        let borrow = Lifetime::new("'__dedup_with", Span::call_site());
        let mut generics = view_generics.clone();
        generics.params.insert(0, parse_quote!(#borrow));
        generics.lt_token.get_or_insert_with(Default::default);
        generics.gt_token.get_or_insert_with(Default::default);
        let (_, args, _) = generics.split_for_impl();
        let (params, where_clause) = self.with_predicates(&mut generics.clone());
        let serializer = Ident::new("__DedupS", Span::call_site());
        let ser = quote!(<#serializer as #private::serde::Serializer>);
        self.items.push(quote! {
            struct #ident #params (&#borrow #view #view_args) #view_where;

            #[automatically_derived]
            impl #params #private::serde::Serialize for #ident #args #where_clause {
                fn serialize<#serializer: #private::serde::Serializer>(
                    &self,
                    __dedup_s: #serializer,
                ) -> #private::Result<#ser::Ok, #ser::Error> {
                    #helper(&self.0.#member, __dedup_s)
                }
            }
        });
        ident
    }

    /// `<params>` and `where ...` of a helper fn: the container's where clause plus the
    /// impl's serialize bounds.
    fn with_predicates(&self, generics: &mut Generics) -> (TokenStream, TokenStream) {
        generics
            .make_where_clause()
            .predicates
            .extend(self.predicates.iter().cloned());
        if !generics.params.is_empty() {
            generics.lt_token.get_or_insert_with(Default::default);
            generics.gt_token.get_or_insert_with(Default::default);
        }
        let (fn_generics, _, where_clause) = generics.split_for_impl();
        (
            fn_generics.into_token_stream(),
            where_clause.into_token_stream(),
        )
    }
}

/// `"name::<T, N, _>"`, or `"name"` without parameters, spanned at the user's serde path so
/// that serde's own errors about it land there; and the same path as tokens.
fn name_with_turbofish(ident: &Ident, args: &[TokenStream], span: Span) -> (LitStr, TokenStream) {
    let path = if args.is_empty() {
        ident.to_token_stream()
    } else {
        quote!(#ident::<#(#args),*>)
    };
    (LitStr::new(&path.to_string(), span), path)
}

/// The type and const parameters, by name, in order (lifetimes are left to inference).
fn type_and_const_args(generics: &Generics) -> Vec<TokenStream> {
    generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(param.ident.to_token_stream()),
            GenericParam::Const(param) => Some(param.ident.to_token_stream()),
            GenericParam::Lifetime(_) => None,
        })
        .collect()
}

/// `tokens`, every one spanned at `span`.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// `#[serde(a, b = "..")]`, or nothing.
fn serde_attr(attrs: &[TokenStream]) -> TokenStream {
    if attrs.is_empty() {
        TokenStream::new()
    } else {
        quote!(#[serde(#(#attrs),*)])
    }
}

/// The name as serde and the default namespace see it: `r#type` is `type`.
pub(crate) fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    match name.strip_prefix("r#") {
        Some(name) => name.to_owned(),
        None => name,
    }
}
