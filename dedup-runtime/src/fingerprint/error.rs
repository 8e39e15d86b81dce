//! Why a value has no fingerprint.

/// A value that cannot be encoded canonically. No fingerprint is ever made of part of a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    /// Containers nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("cannot fingerprint a value nested deeper than {limit} levels")]
    TooDeep {
        /// The limit that was reached.
        limit: usize,
    },
    /// Two entries of one map (or struct) encode to the same key.
    #[error("cannot fingerprint a map with two entries for the key {key}")]
    DuplicateMapKey {
        /// A readable form of the key.
        key: String,
    },
    /// The value's `Serialize` implementation reported an error.
    #[error("cannot fingerprint this value: its `Serialize` implementation failed: {0}")]
    Serialize(String),
    /// The value uses a serde feature that has no canonical encoding.
    #[error("cannot fingerprint this value: {0}")]
    Unsupported(String),
}

impl serde::ser::Error for FingerprintError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        FingerprintError::Serialize(msg.to_string())
    }
}
