//! The bytes of one record in Redis: compact, versioned, and shaped so that the Lua scripts can
//! check the owner with one prefix comparison.
//!
//! ```text
//! offset  size  field
//! 0       1     format version (1)
//! 1       1     state: b'p' in progress, b'c' completed
//! 2       16    owner token, big-endian (zero for records written by `store`)
//! 18      1     flags: bit 0 payload digest present, bit 1 correlation id present
//! 19      32    payload digest                          (if flag bit 0)
//! ..      1-5   correlation length, LEB128              (if flag bit 1)
//! ..      n     correlation id, UTF-8                   (if flag bit 1)
//! ..      rest  the completed result (empty while in progress)
//! ```
//!
//! The first 18 bytes of an in-progress record are its [`owner_prefix`]: complete and release
//! compare them on the server. Completing rewrites byte 1 and appends the result, so the audit
//! fields (correlation, payload) survive without the client resending them.

use crate::store::{ClaimRequest, OwnerToken, Record, RecordState};
use crate::{Digest, Error};

use super::NAME;

/// The format this version writes and reads.
pub(super) const VERSION: u8 = 1;
const IN_PROGRESS: u8 = b'p';
const COMPLETED: u8 = b'c';
const HAS_PAYLOAD: u8 = 0b01;
const HAS_CORRELATION: u8 = 0b10;
/// Version, state and owner: what the scripts compare.
pub(super) const OWNER_PREFIX_LEN: usize = 18;
const HEADER_LEN: usize = OWNER_PREFIX_LEN + 1;

/// The first bytes of `owner`'s in-progress record.
pub(super) fn owner_prefix(owner: OwnerToken) -> [u8; OWNER_PREFIX_LEN] {
    let mut prefix = [0u8; OWNER_PREFIX_LEN];
    prefix[0] = VERSION;
    prefix[1] = IN_PROGRESS;
    prefix[2..].copy_from_slice(&owner.as_u128().to_be_bytes());
    prefix
}

/// What the complete script puts in place of a record's first two bytes.
pub(super) const COMPLETED_HEADER: [u8; 2] = [VERSION, COMPLETED];

/// The length of [`encode_claim`]'s output.
pub(super) fn claim_len(request: &ClaimRequest<'_>) -> usize {
    HEADER_LEN
        + request.payload.map_or(0, |_| Digest::LEN)
        + request.correlation.map_or(0, |c| c.len() + 5)
}

/// The in-progress record a claim writes.
pub(super) fn encode_claim(request: &ClaimRequest<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(claim_len(request));
    // Writing into a vector cannot fail.
    let _ = write_claim(&mut out, request);
    out
}

/// Writes the in-progress record of `request` to `out`.
pub(super) fn write_claim(
    out: &mut impl std::io::Write,
    request: &ClaimRequest<'_>,
) -> std::io::Result<()> {
    out.write_all(&owner_prefix(request.owner))?;
    let mut flags = 0;
    if request.payload.is_some() {
        flags |= HAS_PAYLOAD;
    }
    if request.correlation.is_some() {
        flags |= HAS_CORRELATION;
    }
    out.write_all(&[flags])?;
    if let Some(payload) = request.payload {
        out.write_all(payload.as_bytes())?;
    }
    if let Some(correlation) = request.correlation {
        let mut len = Vec::with_capacity(5);
        write_len(&mut len, correlation.len());
        out.write_all(&len)?;
        out.write_all(correlation.as_bytes())?;
    }
    Ok(())
}

/// A completed record without audit fields, as [`Store::store`](crate::store::Store::store) writes it.
pub(super) fn encode_completed(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + value.len());
    out.extend_from_slice(&COMPLETED_HEADER);
    out.extend_from_slice(&[0u8; 16]);
    out.push(0);
    out.extend_from_slice(value);
    out
}

fn write_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Decodes the record stored at `key` (shown in errors); anything this version did not write is
/// [`Error::CorruptRecord`].
pub(super) fn decode(key: &dyn std::fmt::Display, mut bytes: Vec<u8>) -> Result<Record, Error> {
    let corrupt = |reason: String| Error::corrupt(NAME, key.to_string(), reason);
    if bytes.is_empty() {
        return Err(corrupt("the record is empty".to_owned()));
    }
    if bytes[0] != VERSION {
        return Err(corrupt(format!(
            "unknown record format version {} (this version reads {VERSION})",
            bytes[0]
        )));
    }
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "the record is truncated ({} bytes, the header alone has {HEADER_LEN})",
            bytes.len()
        )));
    }
    let mut owner = [0u8; 16];
    owner.copy_from_slice(&bytes[2..OWNER_PREFIX_LEN]);
    let owner = OwnerToken::from_u128(u128::from_be_bytes(owner));
    let flags = bytes[OWNER_PREFIX_LEN];
    if flags & !(HAS_PAYLOAD | HAS_CORRELATION) != 0 {
        return Err(corrupt(format!("unknown record flags {flags:#04x}")));
    }
    let mut at = HEADER_LEN;
    let payload = if flags & HAS_PAYLOAD != 0 {
        let raw: [u8; Digest::LEN] = bytes
            .get(at..at + Digest::LEN)
            .and_then(|raw| raw.try_into().ok())
            .ok_or_else(|| corrupt("the payload digest is truncated".to_owned()))?;
        at += Digest::LEN;
        Some(Digest::from_bytes(raw))
    } else {
        None
    };
    let correlation = if flags & HAS_CORRELATION != 0 {
        let len = read_len(&bytes, &mut at)
            .ok_or_else(|| corrupt("the correlation length is malformed".to_owned()))?;
        let raw = at
            .checked_add(len)
            .and_then(|end| bytes.get(at..end))
            .ok_or_else(|| corrupt("the correlation id is truncated".to_owned()))?;
        let correlation = std::str::from_utf8(raw)
            .map_err(|_| corrupt("the correlation id is not UTF-8".to_owned()))?
            .to_owned();
        at += len;
        Some(correlation)
    } else {
        None
    };
    let state = match bytes[1] {
        IN_PROGRESS if at == bytes.len() => RecordState::InProgress { owner },
        IN_PROGRESS => {
            return Err(corrupt(format!(
                "an in-progress record has {} trailing bytes",
                bytes.len() - at
            )));
        }
        COMPLETED => {
            // Moves the result to the front in place: no copy of a large value.
            bytes.drain(..at);
            RecordState::Completed { value: bytes }
        }
        other => return Err(corrupt(format!("unknown record state {other:#04x}"))),
    };
    Ok(Record {
        state,
        correlation,
        payload,
        expires_in: None,
    })
}

fn read_len(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let mut len: usize = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        len |= usize::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(len);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn request(correlation: Option<&str>, payload: Option<Digest>) -> ClaimRequest<'_> {
        ClaimRequest {
            owner: OwnerToken::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677),
            lease: Duration::from_secs(1),
            correlation,
            payload,
        }
    }

    /// What the complete script does to an in-progress record.
    fn complete(claim: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = COMPLETED_HEADER.to_vec();
        out.extend_from_slice(&claim[2..]);
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn claims_round_trip_with_and_without_audit_fields() {
        let payload = Digest::from_bytes([7; 32]);
        let long = "x".repeat(300);
        for (correlation, payload) in [
            (None, None),
            (Some("corr-1"), None),
            (None, Some(payload)),
            (Some(""), Some(payload)),
            (Some(long.as_str()), Some(payload)),
        ] {
            let req = request(correlation, payload);
            let bytes = encode_claim(&req);
            assert_eq!(&bytes[..OWNER_PREFIX_LEN], &owner_prefix(req.owner));
            let record = decode(&"k", bytes.clone()).unwrap();
            assert_eq!(record.state, RecordState::InProgress { owner: req.owner });
            assert_eq!(record.correlation.as_deref(), correlation);
            assert_eq!(record.payload, payload);

            let done = decode(&"k", complete(&bytes, b"{\"a\":1}")).unwrap();
            assert_eq!(
                done.state,
                RecordState::Completed {
                    value: b"{\"a\":1}".to_vec()
                }
            );
            assert_eq!(done.correlation.as_deref(), correlation);
            assert_eq!(done.payload, payload);
        }
    }

    #[test]
    fn stored_values_round_trip() {
        for value in [&b""[..], b"null", &[0u8, 255, 1][..]] {
            let record = decode(&"k", encode_completed(value)).unwrap();
            assert_eq!(
                record.state,
                RecordState::Completed {
                    value: value.to_vec()
                }
            );
            assert_eq!(record.correlation, None);
            assert_eq!(record.payload, None);
        }
    }

    #[test]
    fn anything_else_is_corrupt_never_a_panic() {
        let good = encode_claim(&request(Some("corr"), Some(Digest::from_bytes([1; 32]))));
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![2],
            vec![VERSION],
            b"plain text someone SET here".to_vec(),
            {
                let mut b = good.clone();
                b[1] = b'x';
                b
            },
            {
                let mut b = good.clone();
                b[OWNER_PREFIX_LEN] = 0x80;
                b
            },
            {
                let mut b = good.clone();
                b.push(0);
                b
            },
            {
                let mut b = encode_claim(&request(Some("é"), None));
                let last = b.len() - 1;
                b[last] = 0xff;
                b
            },
            {
                let mut b = owner_prefix(OwnerToken::from_u128(1)).to_vec();
                b.extend_from_slice(&[HAS_CORRELATION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
                b
            },
        ];
        // Every truncation of a good record.
        cases.extend((0..good.len()).map(|n| good[..n].to_vec()));
        for bytes in cases {
            let err = decode(&"the-key", bytes.clone()).unwrap_err();
            assert!(
                matches!(&err, Error::CorruptRecord { store: "redis", key, .. } if key == "the-key"),
                "{bytes:?}: {err:?}"
            );
        }
    }

    #[test]
    fn lengths_use_leb128() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 28] {
            let mut out = Vec::new();
            write_len(&mut out, len);
            let mut at = 0;
            assert_eq!(read_len(&out, &mut at), Some(len));
            assert_eq!(at, out.len());
        }
    }
}
