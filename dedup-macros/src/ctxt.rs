//! Error accumulation for the macros (serde `internals/ctxt.rs`): every bad attribute is reported
//! at once, each at its own tokens, instead of one error per compile.

use std::cell::RefCell;
use std::fmt::Display;
use std::thread;

use quote::ToTokens;

/// Collects spanned errors. Consume it with [`Ctxt::check`]: dropping an unchecked `Ctxt` is a bug
/// in the macro (an error path that forgot to report), and panics in debug and release alike.
#[derive(Debug)]
pub(crate) struct Ctxt {
    // `None` once checked, so that checking cannot be skipped.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    /// An empty context. It must still be [`check`](Ctxt::check)ed.
    pub(crate) fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error spanned at `obj`'s tokens (first to last token on stable rustc).
    pub(crate) fn error_spanned_by<A: ToTokens, T: Display>(&self, obj: A, msg: T) {
        self.syn_error(syn::Error::new_spanned(obj.into_token_stream(), msg));
    }

    /// Records an error that already carries its span, e.g. one of syn's parse errors.
    pub(crate) fn syn_error(&self, err: syn::Error) {
        if let Some(errors) = self.errors.borrow_mut().as_mut() {
            errors.push(err);
        }
    }

    /// Consumes the context: `Ok` if nothing was recorded, else all the errors combined.
    pub(crate) fn check(self) -> syn::Result<()> {
        let mut errors = self
            .errors
            .borrow_mut()
            .take()
            .unwrap_or_default()
            .into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for rest in errors {
            combined.combine(rest);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        assert!(
            thread::panicking() || self.errors.borrow().is_none(),
            "forgot to check for errors"
        );
    }
}
