//! The serializer's error: a [`FingerprintError`] behind one pointer.
//!
//! Every serializer call returns a `Result`; with a pointer-sized error it travels in a register
//! instead of through memory, which is measurable at this call rate (serde_json boxes its error
//! for the same reason). The public API unwraps it.

use std::fmt;

use crate::fingerprint::FingerprintError;

#[derive(Debug)]
pub struct Error(Box<FingerprintError>);

impl Error {
    pub(super) fn into_inner(self) -> FingerprintError {
        *self.0
    }

    pub(super) fn unsupported(what: &str) -> Self {
        FingerprintError::Unsupported(what.to_owned()).into()
    }

    pub(super) fn misuse(what: &str) -> Self {
        FingerprintError::Serialize(what.to_owned()).into()
    }
}

impl From<FingerprintError> for Error {
    #[cold]
    fn from(error: FingerprintError) -> Self {
        Error(Box::new(error))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {}

impl serde::ser::Error for Error {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FingerprintError::Serialize(msg.to_string()).into()
    }
}
