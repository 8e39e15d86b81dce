//! Every attribute keyword the macros recognise, in one place (serde `internals/symbol.rs`).

use std::fmt::{self, Display};

use syn::{Ident, Path};

/// An attribute keyword, compared against idents and paths without allocating.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Symbol(&'static str);

// `#[fingerprint(...)]`
pub(crate) const FINGERPRINT: Symbol = Symbol("fingerprint");
pub(crate) const NAMESPACE: Symbol = Symbol("namespace");
pub(crate) const CRATE: Symbol = Symbol("crate");
pub(crate) const SKIP: Symbol = Symbol("skip");
pub(crate) const RENAME: Symbol = Symbol("rename");
pub(crate) const UNORDERED: Symbol = Symbol("unordered");

// `#[serde(...)]`, serialize side (the rest is skipped)
pub(crate) const SERDE: Symbol = Symbol("serde");
pub(crate) const SERIALIZE: Symbol = Symbol("serialize");
pub(crate) const RENAME_ALL: Symbol = Symbol("rename_all");
pub(crate) const RENAME_ALL_FIELDS: Symbol = Symbol("rename_all_fields");
pub(crate) const TAG: Symbol = Symbol("tag");
pub(crate) const CONTENT: Symbol = Symbol("content");
pub(crate) const UNTAGGED: Symbol = Symbol("untagged");
pub(crate) const TRANSPARENT: Symbol = Symbol("transparent");
pub(crate) const BOUND: Symbol = Symbol("bound");
pub(crate) const INTO: Symbol = Symbol("into");
pub(crate) const REMOTE: Symbol = Symbol("remote");
pub(crate) const SKIP_SERIALIZING: Symbol = Symbol("skip_serializing");
pub(crate) const SKIP_SERIALIZING_IF: Symbol = Symbol("skip_serializing_if");
pub(crate) const WITH: Symbol = Symbol("with");
pub(crate) const SERIALIZE_WITH: Symbol = Symbol("serialize_with");
pub(crate) const FLATTEN: Symbol = Symbol("flatten");

// `#[repr(...)]`
pub(crate) const REPR: Symbol = Symbol("repr");
pub(crate) const PACKED: Symbol = Symbol("packed");

impl PartialEq<Symbol> for Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.0
    }
}

impl PartialEq<Symbol> for &Ident {
    fn eq(&self, word: &Symbol) -> bool {
        *self == word.0
    }
}

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl PartialEq<Symbol> for &Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl Display for Symbol {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0)
    }
}
