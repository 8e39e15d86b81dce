//! The input as the derive sees it: syn nodes plus their parsed attributes (thiserror `ast.rs`,
//! serde `internals/ast.rs`).

use proc_macro2::Span;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{
    DeriveInput, ExprPath, Fields, Generics, Ident, Index, Member, Path, QSelf, Token, Type,
    TypePath,
};

use super::attr;
use crate::ctxt::Ctxt;

/// A `#[derive(Fingerprint)]` input.
pub(crate) struct Input<'a> {
    pub(crate) original: &'a DeriveInput,
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: attr::Attrs,
    pub(crate) serde: attr::Serde,
    /// The `packed` of a `#[repr(packed)]`: fields cannot be borrowed.
    pub(crate) packed: Option<Path>,
    pub(crate) data: Data<'a>,
}

pub(crate) enum Data<'a> {
    Struct(Style, Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
    Union(&'a syn::DataUnion),
}

/// How a struct or variant holds its fields.
#[derive(Debug, Copy, Clone, PartialEq, Eq)]
pub(crate) enum Style {
    /// `{ a: A, b: B }`
    Named,
    /// `(A, B)`
    Tuple,
    /// no fields
    Unit,
}

pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) attrs: attr::Attrs,
    pub(crate) serde: attr::Serde,
    pub(crate) style: Style,
    pub(crate) fields: Vec<Field<'a>>,
}

pub(crate) struct Field<'a> {
    pub(crate) original: &'a syn::Field,
    /// `self.#member`: the ident, or the index of a tuple field.
    pub(crate) member: Member,
    /// The declared type, with `Self` replaced by the container type: the view is another type,
    /// so `Self` there would mean the view.
    pub(crate) ty: Type,
    pub(crate) attrs: attr::Attrs,
    pub(crate) serde: attr::Serde,
}

impl<'a> Input<'a> {
    /// Reads the input and every attribute on it; attribute syntax errors go into `cx`.
    pub(crate) fn from_syn(cx: &Ctxt, node: &'a DeriveInput) -> Self {
        let receiver = ReplaceSelf::new(node);
        let data = match &node.data {
            syn::Data::Struct(data) => {
                let (style, fields) = fields_from_syn(cx, &receiver, &data.fields);
                Data::Struct(style, fields)
            }
            syn::Data::Enum(data) => Data::Enum(
                data.variants
                    .iter()
                    .map(|variant| {
                        let (style, fields) = fields_from_syn(cx, &receiver, &variant.fields);
                        Variant {
                            ident: &variant.ident,
                            attrs: attr::Attrs::from_ast(cx, &variant.attrs),
                            serde: receiver.serde(&variant.attrs),
                            style,
                            fields,
                        }
                    })
                    .collect(),
            ),
            syn::Data::Union(data) => Data::Union(data),
        };
        Input {
            original: node,
            ident: &node.ident,
            generics: &node.generics,
            attrs: attr::Attrs::from_ast(cx, &node.attrs),
            serde: attr::Serde::from_ast(&node.attrs),
            packed: attr::packed(&node.attrs),
            data,
        }
    }

    /// Every field of every variant.
    pub(crate) fn all_fields(&self) -> Box<dyn Iterator<Item = &Field<'a>> + '_> {
        match &self.data {
            Data::Struct(_, fields) => Box::new(fields.iter()),
            Data::Enum(variants) => Box::new(variants.iter().flat_map(|v| v.fields.iter())),
            Data::Union(_) => Box::new(std::iter::empty()),
        }
    }

    /// The generics with `Self` replaced by the container type, for items that are not inside
    /// the container's impl (the view, helper fns).
    pub(crate) fn generics_without_self(&self) -> Generics {
        let mut generics = self.generics.clone();
        ReplaceSelf::new(self.original).visit_generics_mut(&mut generics);
        generics
    }
}

impl Field<'_> {
    /// Whether the field counts (no `#[fingerprint(skip)]`).
    pub(crate) fn counted(&self) -> bool {
        self.attrs.skip.is_none()
    }
}

fn fields_from_syn<'a>(
    cx: &Ctxt,
    receiver: &ReplaceSelf,
    fields: &'a Fields,
) -> (Style, Vec<Field<'a>>) {
    let style = match fields {
        Fields::Named(_) => Style::Named,
        Fields::Unnamed(_) => Style::Tuple,
        Fields::Unit => Style::Unit,
    };
    let fields = fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let member = match &field.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(Index {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    span: Span::call_site(),
                }),
            };
            let mut ty = field.ty.clone();
            receiver.clone().visit_type_mut(&mut ty);
            Field {
                original: field,
                member,
                ty,
                attrs: attr::Attrs::from_ast(cx, &field.attrs),
                serde: receiver.serde(&field.attrs),
            }
        })
        .collect();
    (style, fields)
}

/// Replaces `Self` with the container type (serde `internals/receiver.rs`): `Self` becomes
/// `Container<T>`, `Self::Assoc` becomes `<Container<T>>::Assoc`. Macros are left alone.
#[derive(Clone)]
struct ReplaceSelf {
    self_ty: TypePath,
}

impl ReplaceSelf {
    fn new(input: &DeriveInput) -> Self {
        let ident = &input.ident;
        let (_, ty_generics, _) = input.generics.split_for_impl();
        let self_ty = syn::parse2(quote!(#ident #ty_generics)).unwrap_or_else(|_| TypePath {
            attrs: Vec::new(),
            qself: None,
            path: Path::from(ident.clone()),
        });
        ReplaceSelf { self_ty }
    }

    /// The serde attributes, with `Self` replaced in the paths that the expansion calls from
    /// outside any impl (`skip_serializing_if = "Self::is_empty"`).
    fn serde(&self, attrs: &[syn::Attribute]) -> attr::Serde {
        let mut serde = attr::Serde::from_ast(attrs);
        if let Some(path) = &mut serde.skip_serializing_if {
            self.clone().visit_expr_path_mut(path);
        }
        if let Some(with) = &mut serde.serialize_with {
            self.clone().visit_expr_path_mut(&mut with.value);
        }
        serde
    }

    fn self_ty(&self, span: Span) -> TypePath {
        let mut ty = self.self_ty.clone();
        if let Some(first) = ty.path.segments.first_mut() {
            first.ident.set_span(span);
        }
        ty
    }

    /// `Self::Rest` -> `<Container<T>>::Rest`; a lone `Self` in an expression path
    /// -> `Container::<T>`.
    fn self_to_qself(&self, qself: &mut Option<QSelf>, path: &mut Path) {
        if qself.is_some() || path.leading_colon.is_some() {
            return;
        }
        let Some(first) = path.segments.first() else {
            return;
        };
        if first.ident != "Self" {
            return;
        }
        let span = first.ident.span();
        if path.segments.len() == 1 {
            let mut replacement = self.self_ty(span).path;
            for segment in &mut replacement.segments {
                if let syn::PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    args.colon2_token = Some(<Token![::]>::default());
                }
            }
            *path = replacement;
            return;
        }
        *qself = Some(QSelf {
            lt_token: Token![<](span),
            ty: Box::new(Type::Path(self.self_ty(span))),
            position: 0,
            as_token: None,
            gt_token: Token![>](span),
        });
        path.leading_colon = Some(Token![::](span));
        let rest: Punctuated<_, _> = std::mem::take(&mut path.segments)
            .into_pairs()
            .skip(1)
            .collect();
        path.segments = rest;
    }
}

impl VisitMut for ReplaceSelf {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(node) = ty
            && node.qself.is_none()
            && node.path.is_ident("Self")
        {
            let span = node.path.segments[0].ident.span();
            *ty = Type::Path(self.self_ty(span));
            return;
        }
        visit_mut::visit_type_mut(self, ty);
    }

    fn visit_type_path_mut(&mut self, ty: &mut TypePath) {
        self.self_to_qself(&mut ty.qself, &mut ty.path);
        visit_mut::visit_type_path_mut(self, ty);
    }

    fn visit_expr_path_mut(&mut self, expr: &mut ExprPath) {
        self.self_to_qself(&mut expr.qself, &mut expr.path);
        visit_mut::visit_expr_path_mut(self, expr);
    }

    fn visit_macro_mut(&mut self, _mac: &mut syn::Macro) {}
}
