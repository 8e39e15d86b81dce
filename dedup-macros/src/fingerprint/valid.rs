//! Every semantic rule of `#[derive(Fingerprint)]` (thiserror `valid.rs`): which key goes where,
//! which combinations make no sense, and which serde attributes a view cannot reproduce. Parsing
//! (`attr.rs`) never judges and expansion (`expand.rs`) never fails.

use std::collections::BTreeMap;

use syn::{Ident, LitStr, Member, Path};

use super::ast::{Data, Field, Input, Style, Variant};
use super::presorted::RenameRule;
use crate::ctxt::Ctxt;

impl Input<'_> {
    /// Records every rule the input breaks in `cx`.
    pub(crate) fn validate(&self, cx: &Ctxt) {
        if let Data::Union(data) = &self.data {
            cx.error_spanned_by(
                data.union_token,
                "`#[derive(Fingerprint)]` does not support unions",
            );
        }
        if let Some(packed) = &self.packed {
            cx.error_spanned_by(
                packed,
                "`#[derive(Fingerprint)]` does not support `#[repr(packed)]` types: their fields cannot be borrowed",
            );
        }

        let attrs = &self.attrs;
        if let Some(skip) = &attrs.skip {
            field_only(cx, skip);
        }
        if let Some(unordered) = &attrs.unordered {
            field_only(cx, unordered);
        }
        if let Some(rename) = &attrs.rename {
            cx.error_spanned_by(
                &rename.key,
                "`#[fingerprint(rename)]` can only be used on a field or an enum variant",
            );
        }
        if let Some(namespace) = &attrs.namespace
            && namespace.value.value().is_empty()
        {
            cx.error_spanned_by(
                &namespace.value,
                "`#[fingerprint(namespace)]` cannot be empty",
            );
        }

        if let Some(into) = &self.serde.into {
            cx.error_spanned_by(
                into,
                "`#[derive(Fingerprint)]` cannot follow `#[serde(into = ...)]`, which serializes another type; implement `Fingerprint` by hand over the converted value",
            );
        }
        if let Some(remote) = &self.serde.remote {
            cx.error_spanned_by(
                remote,
                "`#[derive(Fingerprint)]` cannot follow `#[serde(remote = ...)]`, which describes another type; derive `Fingerprint` on a type that holds the remote value",
            );
        }

        match &self.data {
            Data::Struct(style, fields) => {
                self.validate_fields(cx, *style, fields, None);
                self.validate_transparent(cx, fields);
            }
            Data::Enum(variants) => {
                for variant in variants {
                    validate_variant(cx, variant);
                    self.validate_fields(cx, variant.style, &variant.fields, Some(variant));
                }
            }
            Data::Union(_) => {}
        }
    }

    fn validate_fields(
        &self,
        cx: &Ctxt,
        style: Style,
        fields: &[Field],
        variant: Option<&Variant>,
    ) {
        for field in fields {
            validate_field(cx, style, field, variant);
        }
        if style == Style::Named {
            let rule = match variant {
                None => self.serde.rename_all.as_ref(),
                Some(variant) => variant
                    .serde
                    .rename_all
                    .as_ref()
                    .or(self.serde.rename_all_fields.as_ref()),
            };
            validate_names(cx, fields, rule);
        }
    }

    /// serde serializes a transparent struct as its one field that serde does not skip: skipping
    /// that one as well leaves nothing.
    fn validate_transparent(&self, cx: &Ctxt, fields: &[Field]) {
        if self.serde.transparent.is_none() {
            return;
        }
        let mut serialized = fields
            .iter()
            .filter(|field| field.serde.skip_serializing.is_none());
        if let (Some(field), None) = (serialized.next(), serialized.next())
            && let Some(skip) = &field.attrs.skip
        {
            cx.error_spanned_by(
                skip,
                "`#[fingerprint(skip)]` cannot skip the only field of a `#[serde(transparent)]` struct",
            );
        }
    }
}

fn validate_variant(cx: &Ctxt, variant: &Variant) {
    let attrs = &variant.attrs;
    if let Some(skip) = &attrs.skip {
        field_only(cx, skip);
    }
    if let Some(unordered) = &attrs.unordered {
        field_only(cx, unordered);
    }
    container_only(cx, attrs);
}

fn validate_field(cx: &Ctxt, style: Style, field: &Field, variant: Option<&Variant>) {
    let attrs = &field.attrs;
    container_only(cx, attrs);

    if let Some(skip) = &attrs.skip {
        if let Some(rename) = &attrs.rename {
            cx.error_spanned_by(
                &rename.key,
                "`#[fingerprint(skip)]` and `#[fingerprint(rename)]` cannot be used together",
            );
        }
        if let Some(unordered) = &attrs.unordered {
            cx.error_spanned_by(
                unordered,
                "`#[fingerprint(skip)]` and `#[fingerprint(unordered)]` cannot be used together",
            );
        }
        if let Some(with) = variant.and_then(|variant| variant.serde.serialize_with.as_ref()) {
            cx.error_spanned_by(
                skip,
                format!(
                    "`#[fingerprint(skip)]` cannot be used in a variant with `#[serde({})]`, whose function sees every field",
                    path_str(&with.key)
                ),
            );
        }
    }

    if let Some(rename) = &attrs.rename {
        if style == Style::Tuple {
            cx.error_spanned_by(
                &rename.key,
                "`#[fingerprint(rename)]` cannot be used on a tuple field, which has no name",
            );
        }
        if field.serde.flatten.is_some() {
            cx.error_spanned_by(
                &rename.key,
                "`#[fingerprint(rename)]` cannot be used on a `#[serde(flatten)]` field, which has no name",
            );
        }
    }

    if let Some(unordered) = &attrs.unordered {
        if field.serde.flatten.is_some() {
            cx.error_spanned_by(
                unordered,
                "`#[fingerprint(unordered)]` cannot be used on a `#[serde(flatten)]` field",
            );
        }
        let with = field
            .serde
            .serialize_with
            .as_ref()
            .or_else(|| variant.and_then(|variant| variant.serde.serialize_with.as_ref()));
        if let Some(with) = with {
            cx.error_spanned_by(
                unordered,
                format!(
                    "`#[fingerprint(unordered)]` cannot be combined with `#[serde({})]`, which decides how the value serializes",
                    path_str(&with.key)
                ),
            );
        }
    }
}

/// A `#[fingerprint(rename)]` must not give a counted field the name another counted field of the
/// same struct (or struct variant) already counts under: the encoder could only fail at run time.
/// Names follow serde: `#[fingerprint(rename)]`, else `#[serde(rename)]`, else the field name
/// under the `rename_all` rule. Clashes without a `#[fingerprint(rename)]` are serde's shape, and
/// may be deliberate (two `Option`s of which one at most is `Some`), so they are left alone.
fn validate_names(cx: &Ctxt, fields: &[Field], rule: Option<&LitStr>) {
    let rule = rule.map(LitStr::value);
    let mut seen: BTreeMap<String, (&Ident, bool)> = BTreeMap::new();
    for field in fields {
        if !field.counted()
            || field.serde.skip_serializing.is_some()
            || field.serde.skip_serializing_if.is_some()
            || field.serde.flatten.is_some()
        {
            continue;
        }
        let Member::Named(ident) = &field.member else {
            continue;
        };
        let name = match (&field.attrs.rename, &field.serde.rename) {
            (Some(rename), _) => rename.value.value(),
            (None, Some(rename)) => rename.value(),
            (None, None) => {
                let name = ident.to_string();
                let name = name.strip_prefix("r#").unwrap_or(&name);
                apply_rule(rule.as_deref(), name)
            }
        };
        let renamed = field.attrs.rename.is_some();
        match seen.get(&name) {
            Some(&(first, first_renamed)) if renamed || first_renamed => {
                let msg = format!("fields `{first}` and `{ident}` both count as `{name}`");
                match &field.attrs.rename {
                    Some(rename) => cx.error_spanned_by(&rename.value, msg),
                    None => cx.error_spanned_by(ident, msg),
                }
            }
            Some(_) => {}
            None => {
                seen.insert(name, (ident, renamed));
            }
        }
    }
}

/// serde's `RenameRule::apply_to_field`; where serde itself would give up, the plain name.
fn apply_rule(rule: Option<&str>, field: &str) -> String {
    rule.and_then(RenameRule::from_str)
        .and_then(|rule| rule.apply_to_field(field))
        .unwrap_or_else(|| field.to_owned())
}

fn field_only(cx: &Ctxt, key: &Path) {
    cx.error_spanned_by(
        key,
        format!(
            "`#[fingerprint({})]` can only be used on a field",
            path_str(key)
        ),
    );
}

/// `namespace` and `crate` describe the whole type.
fn container_only(cx: &Ctxt, attrs: &super::attr::Attrs) {
    let keys = [
        attrs.namespace.as_ref().map(|keyed| &keyed.key),
        attrs.krate.as_ref().map(|keyed| &keyed.key),
    ];
    for key in keys.into_iter().flatten() {
        cx.error_spanned_by(
            key,
            format!(
                "`#[fingerprint({})]` can only be used on a struct or enum",
                path_str(key)
            ),
        );
    }
}

fn path_str(path: &Path) -> String {
    quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "")
}
