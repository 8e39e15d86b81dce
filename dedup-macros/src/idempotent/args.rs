//! What the user wrote in `#[idempotent(...)]`.
//!
//! Parsing never validates: every option is read as a Rust expression (or, for `crate`, a path)
//! and judged in `valid.rs`. Unknown and duplicate options go into the [`Ctxt`] and parsing carries
//! on with the next option, so the user sees every such mistake at once. A value that is not an
//! expression at all is a syntax error and stops parsing.

use proc_macro2::{TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser as _;
use syn::{Expr, Path, Token};

use crate::ctxt::Ctxt;

/// The option names, in the order the docs list them.
pub(super) const STORE: &str = "store";
pub(super) const KEY: &str = "key";
pub(super) const SCOPE: &str = "scope";
pub(super) const TTL: &str = "ttl";
pub(super) const LEASE: &str = "lease";
pub(super) const CORRELATION: &str = "correlation";
pub(super) const PAYLOAD: &str = "payload";
pub(super) const TX: &str = "tx";
pub(super) const CRATE: &str = "crate";

const EXPECTED: &str =
    "`store`, `key`, `scope`, `ttl`, `lease`, `correlation`, `payload`, `tx` or `crate`";

/// A value together with the option name that set it, for spans in later errors.
#[derive(Debug)]
pub(super) struct Keyed<T> {
    pub(super) key: Path,
    pub(super) value: T,
}

/// The options of one `#[idempotent(...)]`, each set at most once.
#[derive(Debug, Default)]
pub(super) struct Args {
    pub(super) store: Option<Keyed<Expr>>,
    pub(super) key: Option<Keyed<Expr>>,
    pub(super) scope: Option<Keyed<Expr>>,
    pub(super) ttl: Option<Keyed<Expr>>,
    pub(super) lease: Option<Keyed<Expr>>,
    pub(super) correlation: Option<Keyed<Expr>>,
    pub(super) payload: Option<Keyed<Expr>>,
    pub(super) tx: Option<Keyed<Expr>>,
    pub(super) krate: Option<Keyed<Path>>,
}

/// Sets an option once (serde's `Attr::set`): every option gets the same "duplicate" error,
/// spanned at the second occurrence.
fn set_once<T>(cx: &Ctxt, slot: &mut Option<Keyed<T>>, name: &str, key: &Path, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(key, format!("duplicate `idempotent` option `{name}`"));
    } else {
        *slot = Some(Keyed {
            key: key.clone(),
            value,
        });
    }
}

impl Args {
    /// Parses the attribute's arguments; unknown and duplicate options are recorded in `cx`.
    pub(super) fn parse(cx: &Ctxt, tokens: TokenStream) -> Args {
        let mut args = Args::default();
        let parser = syn::meta::parser(|meta| args.parse_one(cx, &meta));
        if let Err(err) = parser.parse2(tokens) {
            cx.syn_error(err);
        }
        args
    }

    fn parse_one(&mut self, cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let path = &meta.path;
        let name = match path.get_ident() {
            Some(ident) => ident.to_string(),
            None => String::new(),
        };
        match name.as_str() {
            STORE => set_once(cx, &mut self.store, STORE, path, expr(meta)?),
            KEY => set_once(cx, &mut self.key, KEY, path, expr(meta)?),
            SCOPE => set_once(cx, &mut self.scope, SCOPE, path, expr(meta)?),
            TTL => set_once(cx, &mut self.ttl, TTL, path, expr(meta)?),
            LEASE => set_once(cx, &mut self.lease, LEASE, path, expr(meta)?),
            CORRELATION => set_once(cx, &mut self.correlation, CORRELATION, path, expr(meta)?),
            PAYLOAD => set_once(cx, &mut self.payload, PAYLOAD, path, expr(meta)?),
            TX => set_once(cx, &mut self.tx, TX, path, expr(meta)?),
            CRATE => {
                let krate: Path = meta.value()?.call(Path::parse_mod_style)?;
                set_once(cx, &mut self.krate, CRATE, path, krate);
            }
            _ => {
                let shown = quote::ToTokens::to_token_stream(path)
                    .to_string()
                    .replace(' ', "");
                cx.error_spanned_by(
                    path,
                    format!("unknown `idempotent` option `{shown}`; expected {EXPECTED}"),
                );
                skip_value(meta)?;
            }
        }
        Ok(())
    }
}

/// `name = <expr>`.
fn expr(meta: &ParseNestedMeta<'_>) -> syn::Result<Expr> {
    meta.value()?.parse()
}

/// Steps over the value of an unknown option (`= <expr>` or `(...)`), so parsing can go on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<TokenTree>()?;
    }
    Ok(())
}
