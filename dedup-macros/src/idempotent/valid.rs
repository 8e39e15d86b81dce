//! Every semantic rule of `#[idempotent]`: judges the options and the signature, and builds the
//! typed [`Handler`] the expansion works from. Each broken rule is one spanned error in the
//! [`Ctxt`]; expansion never errors.

use proc_macro2::Span;
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::visit::Visit;
use syn::{
    Expr, ExprLit, Ident, Lit, LitInt, LitStr, Pat, Path, ReturnType, Signature, Type,
    TypeImplTrait, TypeParamBound, TypeTraitObject, UnOp,
};

use super::args::{Args, Keyed};
use super::item::MaybeItemFn;
use crate::ctxt::Ctxt;

/// A checked `#[idempotent]` function.
#[derive(Debug)]
pub(super) struct Handler<'a> {
    pub(super) store: &'a Expr,
    pub(super) key: Key<'a>,
    pub(super) scope: Scope<'a>,
    pub(super) ttl: DurationArg<'a>,
    pub(super) lease: DurationArg<'a>,
    pub(super) correlation: Option<&'a Expr>,
    pub(super) payload: Option<&'a Expr>,
    /// `tx = <param>`: claim and complete in the caller's transaction.
    pub(super) tx: Option<Tx<'a>>,
    pub(super) krate: Option<&'a Path>,
    /// The declared return type (a `Result` or an alias of one: checked by a trait bound).
    pub(super) ret: &'a Type,
}

/// `tx = <param>`: the parameter that holds the caller's transaction (`&mut T`).
#[derive(Debug)]
pub(super) struct Tx<'a> {
    /// The parameter's name, as the signature spells it (the body refers to it).
    pub(super) ident: &'a Ident,
    /// `T`: where a type that is not a transaction is reported.
    pub(super) target: &'a Type,
    /// The `tx = ...` option itself: where a build without the transactional inbox (the
    /// runtime's `postgres` feature off) is reported.
    pub(super) option: &'a Keyed<Expr>,
}

/// What the message is deduplicated on.
#[derive(Debug)]
pub(super) enum Key<'a> {
    /// `key = <expr>`.
    Expr(&'a Expr),
    /// The only parameter.
    Param(&'a Ident),
}

/// The scope records live under.
#[derive(Debug)]
pub(super) enum Scope<'a> {
    /// `scope = "..."` or a `&'static str` expression.
    Given(&'a Expr),
    /// `module_path!()::fn_name`.
    Default(&'a Ident),
}

/// `ttl = ...` or `lease = ...`.
#[derive(Debug)]
pub(super) enum DurationArg<'a> {
    /// Not given: the runtime's default.
    Default,
    /// A literal checked here: whole seconds or milliseconds.
    Fixed { amount: u64, unit: Unit, span: Span },
    /// Any expression of type `Duration`.
    Expr(&'a Expr),
}

/// The unit of a [`DurationArg::Fixed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    Millis,
    Secs,
}

/// Checks `args` against `item`. `None` when some rule is broken (the errors are in `cx`).
pub(super) fn check<'a>(cx: &Ctxt, args: &'a Args, item: &'a MaybeItemFn) -> Option<Handler<'a>> {
    let sig = &item.sig;
    check_signature(cx, sig);
    let ret = return_type(cx, sig);
    let store = match &args.store {
        Some(store) => Some(&store.value),
        None => {
            cx.syn_error(syn::Error::new(
                Span::call_site(),
                "`#[idempotent]` requires `store = ...`: the store that records processed messages, \
                 such as `store = STORE` or `store = self.store`",
            ));
            None
        }
    };
    let tx = match &args.tx {
        None => Some(None),
        Some(tx) => transaction(cx, tx, item).map(Some),
    };
    // Without a valid `tx`, which parameter is the transaction is unknown: inferring the key
    // would only add a second, misleading error.
    let key = if tx.is_none() && args.key.is_none() {
        None
    } else {
        key(cx, args, item)
    };
    let scope = scope(cx, args.scope.as_ref(), &sig.ident);
    let ttl = duration(cx, args.ttl.as_ref());
    let lease = duration(cx, args.lease.as_ref());
    Some(Handler {
        store: store?,
        key: key?,
        scope: scope?,
        ttl: ttl?,
        lease: lease?,
        correlation: args.correlation.as_ref().map(|c| &c.value),
        payload: args.payload.as_ref().map(|p| &p.value),
        tx: tx?,
        krate: args.krate.as_ref().map(|k| &k.value),
        ret: ret?,
    })
}

/// Function kinds the expansion cannot wrap.
fn check_signature(cx: &Ctxt, sig: &Signature) {
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(constness, "`#[idempotent]` cannot be used on `const fn`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(
            abi,
            "`#[idempotent]` cannot be used on `extern` functions: make it a plain Rust `fn` \
             and call it from the `extern` one",
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(
            variadic,
            "`#[idempotent]` cannot be used on variadic functions",
        );
    }
}

/// The declared return type, unless it cannot be a stored `Result`.
fn return_type<'a>(cx: &Ctxt, sig: &'a Signature) -> Option<&'a Type> {
    let ty = match &sig.output {
        ReturnType::Type(_, ty) => &**ty,
        ReturnType::Default => {
            let fn_name = &sig.ident;
            cx.syn_error(syn::Error::new_spanned(
                SignatureHead(sig),
                format!(
                    "`#[idempotent]` handlers must return `Result<T, E>`: give `{fn_name}` a return \
                     type such as `-> Result<(), MyError>`, where `MyError: From<dedup_runtime::Error>`"
                ),
            ));
            return None;
        }
    };
    let mut finder = Opaque::default();
    finder.visit_type(ty);
    if sig.asyncness.is_none() && (finder.future.is_some() || names_box_future(ty)) {
        cx.error_spanned_by(
            ty,
            "`#[idempotent]` cannot wrap a function that returns a future: write it as an \
             `async fn` (native `async fn` in traits works; `#[async_trait]` does not)",
        );
        return None;
    }
    if let Some(impl_trait) = finder.impl_trait {
        cx.error_spanned_by(
            impl_trait,
            "`#[idempotent]` handlers cannot return `impl Trait`: the `Ok` value is stored and \
             replayed to duplicates, so it needs a concrete type",
        );
        return None;
    }
    Some(ty)
}

/// `fn name(...)`: the part of a signature an error about the whole function points at.
struct SignatureHead<'a>(&'a Signature);

impl ToTokens for SignatureHead<'_> {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        let sig = self.0;
        sig.fn_token.to_tokens(tokens);
        sig.ident.to_tokens(tokens);
        sig.paren_token
            .surround(tokens, |tokens| sig.inputs.to_tokens(tokens));
    }
}

/// Finds `impl Trait` and `dyn Future` in a return type.
#[derive(Default)]
struct Opaque<'a> {
    impl_trait: Option<&'a TypeImplTrait>,
    future: Option<&'a Type>,
}

impl<'a> Visit<'a> for Opaque<'a> {
    fn visit_type(&mut self, ty: &'a Type) {
        match ty {
            Type::ImplTrait(TypeImplTrait { bounds, .. })
            | Type::TraitObject(TypeTraitObject { bounds, .. })
                if bounds.iter().any(is_future_bound) =>
            {
                self.future.get_or_insert(ty);
            }
            _ => {}
        }
        syn::visit::visit_type(self, ty);
    }

    fn visit_type_impl_trait(&mut self, ty: &'a TypeImplTrait) {
        self.impl_trait.get_or_insert(ty);
        syn::visit::visit_type_impl_trait(self, ty);
    }
}

fn is_future_bound(bound: &TypeParamBound) -> bool {
    match bound {
        TypeParamBound::Trait(bound) => bound
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Future"),
        _ => false,
    }
}

/// `BoxFuture<..>` / `LocalBoxFuture<..>` (the futures crate's aliases of a pinned boxed future).
fn names_box_future(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path.path.segments.last().is_some_and(|segment| {
            segment.ident == "BoxFuture" || segment.ident == "LocalBoxFuture"
        }),
        _ => false,
    }
}

/// `key = ...`, or the only parameter.
fn key<'a>(cx: &Ctxt, args: &'a Args, item: &'a MaybeItemFn) -> Option<Key<'a>> {
    if let Some(key) = &args.key {
        return Some(Key::Expr(&key.value));
    }
    let sig = &item.sig;
    // The transaction is passed through, never part of the message.
    let tx = args.tx.as_ref().and_then(|tx| param_name(&tx.value));
    let params: Vec<_> = item
        .params()
        .filter(|param| tx.is_none_or(|tx| !is_named(param, tx)))
        .collect();
    match params.as_slice() {
        [] => {
            cx.syn_error(syn::Error::new(
                sig.paren_token.span.join(),
                format!(
                    "`#[idempotent]` needs a key: `{}` has no parameter to deduplicate on; add the \
                     message as a parameter, or choose the key with `key = ...`",
                    sig.ident
                ),
            ));
            None
        }
        [param] => match &*param.pat {
            Pat::Ident(pat) => Some(Key::Param(&pat.ident)),
            pat => {
                cx.error_spanned_by(
                    pat,
                    "`#[idempotent]` cannot use this pattern as the key: bind the parameter to a \
                     name, or choose the key with `key = ...`",
                );
                None
            }
        },
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|param| match &*param.pat {
                    Pat::Ident(pat) => format!("`{}`", pat.ident),
                    pat => format!("`{}`", pat.to_token_stream()),
                })
                .collect();
            let example = several
                .iter()
                .find_map(|param| match &*param.pat {
                    Pat::Ident(pat) => Some(pat.ident.to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| "message.id".to_owned());
            cx.error_spanned_by(
                &sig.inputs,
                format!(
                    "`#[idempotent]` cannot tell which parameter is the message: `{}` takes {}; \
                     choose the key with `key = ...`, such as `key = {example}`",
                    sig.ident,
                    join(&names),
                ),
            );
            None
        }
    }
}

/// `tx = <param>`: a parameter of an `async fn`, bound to a plain name, of type `&mut T`.
fn transaction<'a>(cx: &Ctxt, tx: &'a Keyed<Expr>, item: &'a MaybeItemFn) -> Option<Tx<'a>> {
    let mut valid = true;
    if item.sig.asyncness.is_none() {
        cx.error_spanned_by(
            &tx.key,
            "`tx = ...` needs an `async fn`: the claim and the record are written with the \
             body's queries, in the caller's PostgreSQL transaction",
        );
        valid = false;
    }
    let Some(name) = param_name(&tx.value) else {
        cx.error_spanned_by(
            &tx.value,
            "`tx` takes the name of the parameter that holds the caller's transaction, such as \
             `tx = tx`",
        );
        return None;
    };
    let Some(param) = item.params().find(|param| is_named(param, name)) else {
        cx.error_spanned_by(
            &tx.value,
            format!("`tx = {name}`: no parameter named `{name}`"),
        );
        return None;
    };
    let Pat::Ident(pat) = &*param.pat else {
        return None; // `is_named` matched an identifier pattern
    };
    if pat.by_ref.is_some() || pat.mutability.is_some() || pat.subpat.is_some() {
        cx.error_spanned_by(
            pat,
            format!(
                "the `tx` parameter must be a plain name, without `mut` or `ref`: write \
                 `{name}: &mut ...` (the body gets its own reborrow of the transaction)"
            ),
        );
        valid = false;
    }
    let Type::Reference(reference) = peel_type(&param.ty) else {
        return not_a_mut_reference(cx, &param.ty);
    };
    if reference.mutability.is_none() {
        return not_a_mut_reference(cx, &param.ty);
    }
    let target = &*reference.elem;
    valid.then_some(Tx {
        ident: &pat.ident,
        target,
        option: tx,
    })
}

fn not_a_mut_reference<T>(cx: &Ctxt, ty: &Type) -> Option<T> {
    cx.error_spanned_by(
        ty,
        "the `tx` parameter must be a mutable reference to the caller's transaction, such as \
         `tx: &mut sqlx::Transaction<'_, sqlx::Postgres>`: the caller commits it after `Ok`",
    );
    None
}

/// The identifier `tx = <ident>` names, if it is one.
fn param_name(expr: &Expr) -> Option<&Ident> {
    match peel(expr) {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => path.path.get_ident(),
        _ => None,
    }
}

/// Whether `param` is bound to the identifier `name` (raw or not).
fn is_named(param: &syn::PatType, name: &Ident) -> bool {
    match &*param.pat {
        Pat::Ident(pat) => pat.ident.unraw() == name.unraw(),
        _ => false,
    }
}

/// Looks through parenthesized and invisible-group types.
fn peel_type(ty: &Type) -> &Type {
    match ty {
        Type::Paren(inner) => peel_type(&inner.elem),
        Type::Group(inner) => peel_type(&inner.elem),
        other => other,
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `scope = "..."` (not empty), any other expression (a `&'static str`), or the default.
fn scope<'a>(cx: &Ctxt, scope: Option<&'a Keyed<Expr>>, fn_name: &'a Ident) -> Option<Scope<'a>> {
    let Some(scope) = scope else {
        return Some(Scope::Default(fn_name));
    };
    if let Expr::Lit(ExprLit {
        lit: Lit::Str(lit), ..
    }) = &scope.value
        && lit.value().trim().is_empty()
    {
        cx.error_spanned_by(lit, "`scope` cannot be empty");
        return None;
    }
    if let Expr::Lit(ExprLit { lit, .. }) = &scope.value
        && !matches!(lit, Lit::Str(_))
    {
        cx.error_spanned_by(
            lit,
            "`scope` must be a string, such as `scope = \"billing.charge\"`",
        );
        return None;
    }
    Some(Scope::Given(&scope.value))
}

/// `ttl = ...` / `lease = ...`: seconds, a string with a unit, or a `Duration` expression.
fn duration<'a>(cx: &Ctxt, arg: Option<&'a Keyed<Expr>>) -> Option<DurationArg<'a>> {
    let Some(arg) = arg else {
        return Some(DurationArg::Default);
    };
    let name = arg
        .key
        .get_ident()
        .map_or_else(String::new, Ident::to_string);
    let result = match peel(&arg.value) {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => seconds_literal(&name, lit),
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => unit_literal(&name, lit),
        Expr::Lit(ExprLit {
            lit: Lit::Float(lit),
            ..
        }) => Err(syn::Error::new_spanned(
            lit,
            format!(
                "invalid duration `{lit}`: `{name}` takes whole seconds, or a string with a \
                 smaller unit such as `\"1500ms\"`",
                lit = lit.to_token_stream()
            ),
        )),
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) && is_number(&unary.expr) => Err(
            syn::Error::new_spanned(unary, format!("`{name}` cannot be negative")),
        ),
        _ => return Some(DurationArg::Expr(&arg.value)),
    };
    match result {
        Ok(fixed) => Some(fixed),
        Err(err) => {
            cx.syn_error(err);
            None
        }
    }
}

/// Looks through parentheses and invisible groups.
fn peel(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(inner) => peel(&inner.expr),
        Expr::Group(inner) => peel(&inner.expr),
        other => other,
    }
}

fn is_number(expr: &Expr) -> bool {
    matches!(
        peel(expr),
        Expr::Lit(ExprLit {
            lit: Lit::Int(_) | Lit::Float(_),
            ..
        })
    )
}

const INTEGER_SUFFIXES: [&str; 7] = ["", "u8", "u16", "u32", "u64", "u128", "usize"];

/// `ttl = 30`: whole seconds.
fn seconds_literal(name: &str, lit: &LitInt) -> syn::Result<DurationArg<'static>> {
    let text = lit.to_token_stream().to_string();
    if !INTEGER_SUFFIXES.contains(&lit.suffix()) {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "invalid duration `{text}`: write whole seconds (`{name} = {digits}`) or a string \
                 with a unit (`{name} = \"{digits}{suffix}\"`)",
                digits = lit.base10_digits(),
                suffix = lit.suffix(),
            ),
        ));
    }
    if lit.base10_digits().starts_with('-') {
        return Err(syn::Error::new_spanned(
            lit,
            format!("`{name}` cannot be negative"),
        ));
    }
    let amount = lit.base10_parse::<u64>().map_err(|_| {
        syn::Error::new_spanned(
            lit,
            format!(
                "`{name} = {text}` is out of range: at most {} seconds",
                u64::MAX
            ),
        )
    })?;
    fixed(name, amount, Unit::Secs, lit.span())
}

/// `ttl = "24h"`: a number and one of `ms`, `s`, `m`, `h`, `d`.
fn unit_literal(name: &str, lit: &LitStr) -> syn::Result<DurationArg<'static>> {
    let text = lit.value();
    let invalid = || {
        syn::Error::new_spanned(
            lit,
            format!(
                "invalid duration `{text}`: expected a number and a unit, such as `90s`, `15m`, \
                 `24h` or `7d`"
            ),
        )
    };
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(invalid());
    }
    let (unit, factor) = match unit {
        "ms" => (Unit::Millis, 1),
        "s" => (Unit::Secs, 1),
        "m" => (Unit::Secs, 60),
        "h" => (Unit::Secs, 60 * 60),
        "d" => (Unit::Secs, 24 * 60 * 60),
        _ => return Err(invalid()),
    };
    let amount = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| {
            syn::Error::new_spanned(lit, format!("invalid duration `{text}`: out of range"))
        })?;
    fixed(name, amount, unit, lit.span())
}

fn fixed(name: &str, amount: u64, unit: Unit, span: Span) -> syn::Result<DurationArg<'static>> {
    if amount == 0 {
        return Err(syn::Error::new(
            span,
            format!("`{name}` must be greater than zero"),
        ));
    }
    Ok(DurationArg::Fixed { amount, unit, span })
}
