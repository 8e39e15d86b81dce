//! Where-clause inference (serde `bound.rs`): `T: Serialize` only for the type parameters that
//! counted fields use, so a skipped field may hold a type that does not serialize.

use std::collections::HashSet;

use syn::punctuated::Pair;
use syn::visit::{self, Visit};
use syn::{GenericParam, Generics, Ident, Path, Type, TypePath, WherePredicate, parse_quote};

use super::ast::{Data, Field, Input, Variant};

/// `generics` without default values: impls and fns cannot have them.
pub(crate) fn without_defaults(generics: &Generics) -> Generics {
    let mut generics = generics.clone();
    for param in &mut generics.params {
        match param {
            GenericParam::Type(param) => {
                param.default = None;
            }
            GenericParam::Const(param) => {
                param.default = None;
            }
            GenericParam::Lifetime(_) => {}
        }
    }
    generics
}

/// What the view's `Serialize` impl needs beyond the container's own where clause, in serde's
/// order: the serialize half of `#[serde(bound)]` on counted fields and on variants, then the
/// container's `#[serde(bound)]` if it has one, else `T: Serialize` for each type parameter (and
/// `T::Assoc` field type) that a field serialized by serde itself uses. Fields that do not count,
/// that serde skips, that serialize through a `serialize_with` fn or that carry their own bound
/// add nothing.
pub(crate) fn serialize_predicates(input: &Input, serialize: &Path) -> Vec<WherePredicate> {
    let mut predicates = Vec::new();
    for field in input.all_fields().filter(|field| field.counted()) {
        predicates.extend(field.serde.bound.iter().flatten().cloned());
    }
    if let Data::Enum(variants) = &input.data {
        for variant in variants {
            predicates.extend(variant.serde.bound.iter().flatten().cloned());
        }
    }
    if let Some(bound) = &input.serde.bound {
        predicates.extend(bound.iter().cloned());
        return predicates;
    }

    let mut visitor = FindTyParams {
        all_type_params: input
            .generics
            .type_params()
            .map(|param| param.ident.clone())
            .collect(),
        relevant_type_params: HashSet::new(),
        associated_type_usage: Vec::new(),
    };
    match &input.data {
        Data::Struct(_, fields) => {
            for field in fields.iter().filter(|field| needs_bound(field, None)) {
                visitor.visit_field_ty(&field.ty);
            }
        }
        Data::Enum(variants) => {
            for variant in variants {
                for field in &variant.fields {
                    if needs_bound(field, Some(variant)) {
                        visitor.visit_field_ty(&field.ty);
                    }
                }
            }
        }
        Data::Union(_) => {}
    }

    for param in input.generics.type_params() {
        let ident = &param.ident;
        if visitor.relevant_type_params.contains(ident) {
            predicates.push(parse_quote!(#ident: #serialize));
        }
    }
    for ty in visitor.associated_type_usage {
        predicates.push(parse_quote!(#ty: #serialize));
    }
    predicates
}

/// Whether serde serializes the field itself, with an inferred bound (serde
/// `needs_serialize_bound`, plus `#[fingerprint(skip)]`).
fn needs_bound(field: &Field, variant: Option<&Variant>) -> bool {
    field.counted()
        && field.serde.skip_serializing.is_none()
        && field.serde.serialize_with.is_none()
        && field.serde.bound.is_none()
        && variant.is_none_or(|variant| {
            variant.serde.skip_serializing.is_none()
                && variant.serde.serialize_with.is_none()
                && variant.serde.bound.is_none()
        })
}

struct FindTyParams {
    /// Every type parameter of the container.
    all_type_params: HashSet<Ident>,
    /// The ones that appear in the visited field types.
    relevant_type_params: HashSet<Ident>,
    /// Field types that are an associated type of a type parameter (`T::Assoc`).
    associated_type_usage: Vec<TypePath>,
}

impl FindTyParams {
    fn visit_field_ty(&mut self, ty: &Type) {
        let mut inner = ty;
        while let Type::Group(group) = inner {
            inner = &group.elem;
        }
        if let Type::Path(path) = inner
            && path.qself.is_none()
            && let Some(Pair::Punctuated(first, _)) = path.path.segments.pairs().next()
            && self.all_type_params.contains(&first.ident)
        {
            self.associated_type_usage.push(path.clone());
        }
        self.visit_type(ty);
    }
}

impl<'ast> Visit<'ast> for FindTyParams {
    fn visit_path(&mut self, path: &'ast Path) {
        if path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "PhantomData")
        {
            // `PhantomData<T>` serializes whether or not `T` does.
            return;
        }
        if path.leading_colon.is_none()
            && path.segments.len() == 1
            && self.all_type_params.contains(&path.segments[0].ident)
        {
            self.relevant_type_params
                .insert(path.segments[0].ident.clone());
        }
        visit::visit_path(self, path);
    }

    // A type parameter inside a macro invocation is not a use (serde `visit_macro`).
    fn visit_macro(&mut self, _mac: &'ast syn::Macro) {}

    // Array lengths and other expressions do not serialize anything.
    fn visit_expr(&mut self, _expr: &'ast syn::Expr) {}
}
