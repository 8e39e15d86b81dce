//! PLACEHOLDER: Fingerprint for std types (being written).
