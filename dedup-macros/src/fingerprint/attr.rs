//! What the user wrote in `#[fingerprint(...)]`, `#[serde(...)]` and `#[repr(...)]`.
//!
//! Parsing never validates: it records every key wherever it appears, so that `valid.rs` can say
//! "`#[fingerprint(skip)]` can only be used on a field" rather than "unknown attribute". Syntax
//! errors (unknown keys, a missing or wrong value, a duplicate) go into the [`Ctxt`] and parsing
//! carries on with the next key, so the user sees every mistake at once.
//!
//! `#[serde(...)]` attributes are read leniently and only for their serialize-side meaning: serde's
//! own derive reports their mistakes, and reporting them twice would only add noise.

use proc_macro2::{Group, TokenStream};
use quote::{ToTokens, quote};
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprPath, Ident, LitStr, Meta, Path, Token, WherePredicate, token};

use crate::ctxt::Ctxt;
use crate::symbol::{
    BOUND, CONTENT, CRATE, FINGERPRINT, FLATTEN, INTO, NAMESPACE, PACKED, REMOTE, RENAME,
    RENAME_ALL, RENAME_ALL_FIELDS, REPR, SERDE, SERIALIZE, SERIALIZE_WITH, SKIP, SKIP_SERIALIZING,
    SKIP_SERIALIZING_IF, Symbol, TAG, TRANSPARENT, UNORDERED, UNTAGGED, WITH,
};

/// A value together with the key that set it, for spans in later errors.
#[derive(Debug, Clone)]
pub(crate) struct Keyed<T> {
    pub(crate) key: Path,
    pub(crate) value: T,
}

/// An option that may be set once (serde's `Attr`): every option gets the same "duplicate"
/// error, spanned at the second occurrence.
struct Once<'c, T> {
    cx: &'c Ctxt,
    name: Symbol,
    value: Option<Keyed<T>>,
}

impl<'c, T> Once<'c, T> {
    fn none(cx: &'c Ctxt, name: Symbol) -> Self {
        Once {
            cx,
            name,
            value: None,
        }
    }

    fn set(&mut self, key: &Path, value: T) {
        if self.value.is_some() {
            let msg = format!("duplicate `fingerprint` attribute `{}`", self.name);
            self.cx.error_spanned_by(key, msg);
        } else {
            self.value = Some(Keyed {
                key: key.clone(),
                value,
            });
        }
    }

    fn get(self) -> Option<Keyed<T>> {
        self.value
    }
}

/// Every `#[fingerprint(...)]` key found on one node (container, variant or field). Which keys
/// are allowed where is `valid.rs`'s business.
#[derive(Debug, Default)]
pub(crate) struct Attrs {
    /// `namespace = "..."`
    pub(crate) namespace: Option<Keyed<LitStr>>,
    /// `crate = path`
    pub(crate) krate: Option<Keyed<Path>>,
    /// `skip`
    pub(crate) skip: Option<Path>,
    /// `rename = "..."`
    pub(crate) rename: Option<Keyed<LitStr>>,
    /// `unordered`
    pub(crate) unordered: Option<Path>,
}

impl Attrs {
    /// Reads every `#[fingerprint(...)]` in `attrs`.
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut namespace = Once::none(cx, NAMESPACE);
        let mut krate = Once::none(cx, CRATE);
        let mut skip = Once::none(cx, SKIP);
        let mut rename = Once::none(cx, RENAME);
        let mut unordered = Once::none(cx, UNORDERED);

        for attr in attrs {
            if attr.path() != FINGERPRINT {
                continue;
            }
            let list = match &attr.meta {
                Meta::List(list) => list,
                Meta::Path(_) | Meta::NameValue(_) => {
                    cx.error_spanned_by(
                        attr,
                        "expected `#[fingerprint(...)]`, e.g. `#[fingerprint(skip)]`",
                    );
                    continue;
                }
            };
            if list.tokens.is_empty() {
                continue;
            }
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path == NAMESPACE {
                    if let Some(lit) = string_value(cx, &meta, NAMESPACE)? {
                        namespace.set(&meta.path, lit);
                    }
                } else if meta.path == CRATE {
                    let path: Path = meta.value()?.call(Path::parse_mod_style)?;
                    krate.set(&meta.path, path);
                } else if meta.path == SKIP {
                    flag(cx, &meta, SKIP)?;
                    skip.set(&meta.path, ());
                } else if meta.path == RENAME {
                    if let Some(lit) = string_value(cx, &meta, RENAME)? {
                        rename.set(&meta.path, lit);
                    }
                } else if meta.path == UNORDERED {
                    flag(cx, &meta, UNORDERED)?;
                    unordered.set(&meta.path, ());
                } else {
                    let name = meta.path.to_token_stream().to_string().replace(' ', "");
                    cx.error_spanned_by(
                        &meta.path,
                        format!("unknown `fingerprint` attribute `{name}`"),
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(err) = parsed {
                cx.syn_error(err);
            }
        }

        Attrs {
            namespace: namespace.get(),
            krate: krate.get(),
            skip: skip.get().map(|keyed| keyed.key),
            rename: rename.get(),
            unordered: unordered.get().map(|keyed| keyed.key),
        }
    }
}

/// `key = "string"`. Anything else is reported (at the value, or at the key if there is none) and
/// skipped, so the next key is still read.
fn string_value(cx: &Ctxt, meta: &ParseNestedMeta, name: Symbol) -> syn::Result<Option<LitStr>> {
    let msg = format!("`#[fingerprint({name} = ...)]` expects a string literal");
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(&meta.path, msg);
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    let lit = lit_str(&expr).cloned();
    if lit.is_none() {
        cx.error_spanned_by(&expr, msg);
    }
    Ok(lit)
}

/// A bare `key`: a value (`skip = true`, `skip(...)`) is reported over `key = value` and skipped.
fn flag(cx: &Ctxt, meta: &ParseNestedMeta, name: Symbol) -> syn::Result<()> {
    let value = take_value(meta)?;
    if !value.is_empty() {
        let path = &meta.path;
        cx.error_spanned_by(
            quote!(#path #value),
            format!("`#[fingerprint({name})]` takes no value"),
        );
    }
    Ok(())
}

/// Consumes whatever follows a key (`= expr` or `(...)`) and returns it.
fn take_value(meta: &ParseNestedMeta) -> syn::Result<TokenStream> {
    let input = meta.input;
    if input.peek(Token![=]) {
        let eq: Token![=] = input.parse()?;
        let expr: Expr = input.parse()?;
        Ok(quote!(#eq #expr))
    } else if input.peek(token::Paren) {
        let group: Group = input.parse()?;
        Ok(group.into_token_stream())
    } else {
        Ok(TokenStream::new())
    }
}

/// Skips the value of a key that is not read.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    take_value(meta).map(drop)
}

/// The string literal in `expr`, looking through invisible groups (`$lit` from a `macro_rules!`).
fn lit_str(mut expr: &Expr) -> Option<&LitStr> {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Some(lit),
        _ => None,
    }
}

/// The serde rename rules (`rename_all = "..."`), as serde spells them.
const RENAME_RULES: &[&str] = &[
    "lowercase",
    "UPPERCASE",
    "PascalCase",
    "camelCase",
    "snake_case",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
    "SCREAMING-KEBAB-CASE",
];

/// The serialize side of every `#[serde(...)]` key found on one node. serde itself rejects keys
/// in the wrong place, so one struct serves containers, variants and fields.
#[derive(Debug, Default)]
pub(crate) struct Serde {
    /// `rename = "..."` / `rename(serialize = "...")`
    pub(crate) rename: Option<LitStr>,
    /// `rename_all = "..."` / `rename_all(serialize = "...")`, when it names a known rule.
    pub(crate) rename_all: Option<LitStr>,
    /// `rename_all_fields = "..."` (enums), when it names a known rule.
    pub(crate) rename_all_fields: Option<LitStr>,
    /// `tag = "..."`
    pub(crate) tag: Option<LitStr>,
    /// `content = "..."`
    pub(crate) content: Option<LitStr>,
    /// `untagged`
    pub(crate) untagged: Option<Path>,
    /// `transparent`
    pub(crate) transparent: Option<Path>,
    /// `skip` or `skip_serializing`
    pub(crate) skip_serializing: Option<Path>,
    /// `skip_serializing_if = "path"`
    pub(crate) skip_serializing_if: Option<ExprPath>,
    /// `serialize_with = "path"`, or `with = "module"` as `module::serialize`.
    pub(crate) serialize_with: Option<Keyed<ExprPath>>,
    /// `flatten`
    pub(crate) flatten: Option<Path>,
    /// `bound = "..."` / `bound(serialize = "...")`
    pub(crate) bound: Option<Vec<WherePredicate>>,
    /// `into = "Type"`: serializes another value, which a view cannot follow.
    pub(crate) into: Option<Path>,
    /// `remote = "Type"`: the derive describes another type, which a view cannot follow.
    pub(crate) remote: Option<Path>,
}

impl Serde {
    /// Reads every `#[serde(...)]` in `attrs`. Malformed ones are left to serde to report.
    pub(crate) fn from_ast(attrs: &[Attribute]) -> Self {
        let mut serde = Serde::default();
        for attr in attrs {
            if attr.path() != SERDE {
                continue;
            }
            if let Meta::List(list) = &attr.meta
                && list.tokens.is_empty()
            {
                continue;
            }
            // A malformed attribute is serde's to report; what was read before it still counts.
            let _ = attr.parse_nested_meta(|meta| serde.read(&meta));
        }
        serde
    }

    fn read(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        let path = &meta.path;
        if *path == RENAME {
            set_first(&mut self.rename, serialize_str(meta)?);
        } else if *path == RENAME_ALL {
            set_first(&mut self.rename_all, serialize_str(meta)?.filter(is_rule));
        } else if *path == RENAME_ALL_FIELDS {
            set_first(
                &mut self.rename_all_fields,
                serialize_str(meta)?.filter(is_rule),
            );
        } else if *path == TAG {
            set_first(&mut self.tag, plain_str(meta)?);
        } else if *path == CONTENT {
            set_first(&mut self.content, plain_str(meta)?);
        } else if *path == UNTAGGED {
            set_first(&mut self.untagged, Some(path.clone()));
        } else if *path == TRANSPARENT {
            set_first(&mut self.transparent, Some(path.clone()));
        } else if *path == SKIP || *path == SKIP_SERIALIZING {
            set_first(&mut self.skip_serializing, Some(path.clone()));
        } else if *path == SKIP_SERIALIZING_IF {
            let expr_path = plain_str(meta)?.and_then(|lit| lit.parse::<ExprPath>().ok());
            set_first(&mut self.skip_serializing_if, expr_path);
        } else if *path == SERIALIZE_WITH {
            let expr_path = plain_str(meta)?.and_then(|lit| lit.parse::<ExprPath>().ok());
            let keyed = expr_path.map(|value| Keyed {
                key: path.clone(),
                value,
            });
            set_first(&mut self.serialize_with, keyed);
        } else if *path == WITH {
            let keyed = plain_str(meta)?.and_then(|lit| {
                let mut value = lit.parse::<ExprPath>().ok()?;
                let serialize = Ident::new("serialize", lit.span());
                value.path.segments.push(serialize.into());
                Some(Keyed {
                    key: path.clone(),
                    value,
                })
            });
            set_first(&mut self.serialize_with, keyed);
        } else if *path == FLATTEN {
            set_first(&mut self.flatten, Some(path.clone()));
        } else if *path == BOUND {
            let predicates = serialize_str(meta)?.and_then(|lit| {
                lit.parse_with(Punctuated::<WherePredicate, Token![,]>::parse_terminated)
                    .ok()
            });
            set_first(&mut self.bound, predicates.map(|p| p.into_iter().collect()));
        } else if *path == INTO {
            skip_value(meta)?;
            set_first(&mut self.into, Some(path.clone()));
        } else if *path == REMOTE {
            skip_value(meta)?;
            set_first(&mut self.remote, Some(path.clone()));
        } else {
            // Deserialize-only (`default`, `alias`, `borrow`, `deny_unknown_fields`, `from`, ...)
            // or unknown: nothing to follow.
            skip_value(meta)?;
        }
        Ok(())
    }
}

/// serde keeps the first value of a repeated key (after reporting the duplicate).
fn set_first<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn is_rule(lit: &LitStr) -> bool {
    RENAME_RULES.contains(&lit.value().as_str())
}

/// `key = "..."`.
fn plain_str(meta: &ParseNestedMeta) -> syn::Result<Option<LitStr>> {
    if !meta.input.peek(Token![=]) {
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    Ok(lit_str(&expr).cloned())
}

/// The serialize half of `key = "..."` or `key(serialize = "...", deserialize = "...")`.
fn serialize_str(meta: &ParseNestedMeta) -> syn::Result<Option<LitStr>> {
    if !meta.input.peek(token::Paren) {
        return plain_str(meta);
    }
    let mut found = None;
    meta.parse_nested_meta(|inner| {
        if inner.path == SERIALIZE {
            set_first(&mut found, plain_str(&inner)?);
        } else {
            skip_value(&inner)?;
        }
        Ok(())
    })?;
    Ok(found)
}

/// The `packed` in `#[repr(packed)]` / `#[repr(C, packed(2))]`, if any.
pub(crate) fn packed(attrs: &[Attribute]) -> Option<Path> {
    let mut found = None;
    for attr in attrs {
        if attr.path() != REPR {
            continue;
        }
        // A malformed `repr` is rustc's to report.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path == PACKED && found.is_none() {
                found = Some(meta.path.clone());
            }
            skip_value(&meta)
        });
    }
    found
}
