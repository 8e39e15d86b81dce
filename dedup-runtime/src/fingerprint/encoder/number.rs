//! The numeric rules: one INT kind for every integer width, integral floats reduced to INT, one
//! NaN, and binary64 bits for everything else.
//!
//! Encoding the mathematical value rather than a bit pattern is what lets a field widen from `u32`
//! to `u64` or `f64`, and lets Python and Java reproduce the bytes without knowing Rust's types.

use super::out::{Out, tag};
use crate::fingerprint::FingerprintError;

/// `2^63` as an `f64`: below it an integral float converts to `i64` exactly.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// The one NaN encoding: all NaNs are equal for deduplication.
const CANONICAL_NAN: u64 = 0x7FF8_0000_0000_0000;

/// The minimal big-endian two's-complement bytes of `v`: `bytes[16 - len..]`.
#[inline]
fn minimal(v: i128) -> ([u8; 16], usize) {
    // The bits that carry information, plus one sign bit, rounded up to whole bytes (1..=16).
    let magnitude = if v < 0 { !v } else { v };
    let bits = 128 - magnitude.leading_zeros() as usize + 1;
    (v.to_be_bytes(), bits.div_ceil(8))
}

/// Writes INT with the minimal big-endian two's-complement form of `v`.
#[inline]
pub(super) fn put_i128<W: Out + ?Sized>(out: &mut W, v: i128) {
    let (_, len) = minimal(v);
    // Shift the payload to the front so that every copy below has a fixed size.
    let b = ((v as u128) << (8 * (16 - len))).to_be_bytes();
    #[rustfmt::skip]
    let buf = [
        tag::INT, len as u8, // `len` is 1..=16
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15],
    ];
    out.put_prefix(&buf, 2 + len);
}

/// Writes INT for an `i64`: the common case, without 128-bit arithmetic.
#[inline]
pub(super) fn put_i64<W: Out + ?Sized>(out: &mut W, v: i64) {
    let magnitude = if v < 0 { !v } else { v };
    let bits = 64 - magnitude.leading_zeros() as usize + 1;
    let len = bits.div_ceil(8);
    // Shift the payload to the front so that every copy below has a fixed size.
    let b = ((v as u64) << (8 * (8 - len))).to_be_bytes();
    // `len` is 1..=8.
    let buf = [
        tag::INT,
        len as u8,
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6],
        b[7],
    ];
    out.put_prefix(&buf, 2 + len);
}

/// Writes INT for a `u64`; above `i64::MAX` it needs a leading zero byte.
#[inline]
pub(super) fn put_u64<W: Out + ?Sized>(out: &mut W, v: u64) {
    match i64::try_from(v) {
        Ok(signed) => put_i64(out, signed),
        Err(_) => {
            let b = v.to_be_bytes();
            out.put(&[
                tag::INT,
                9,
                0,
                b[0],
                b[1],
                b[2],
                b[3],
                b[4],
                b[5],
                b[6],
                b[7],
            ]);
        }
    }
}

/// Writes INT for an unsigned value; above `i128::MAX` it needs a leading zero byte.
#[inline]
pub(super) fn put_u128<W: Out + ?Sized>(out: &mut W, v: u128) {
    match i128::try_from(v) {
        Ok(signed) => put_i128(out, signed),
        Err(_) => {
            let mut buf = [0u8; 19];
            buf[0] = tag::INT;
            buf[1] = 17;
            buf[3..].copy_from_slice(&v.to_be_bytes());
            out.put(&buf);
        }
    }
}

/// Writes an `f64` under the numeric rules (an `f32` is widened first, which is exact).
#[inline]
pub(super) fn put_f64<W: Out + ?Sized>(out: &mut W, x: f64) {
    if x.is_nan() {
        put_float_bits(out, CANONICAL_NAN);
    } else if x.is_finite() && x == x.trunc() {
        put_integral_f64(out, x);
    } else {
        put_float_bits(out, x.to_bits());
    }
}

fn put_float_bits<W: Out + ?Sized>(out: &mut W, bits: u64) {
    let b = bits.to_be_bytes();
    out.put(&[tag::FLOAT, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
}

/// Writes the exact integer value of a finite integral `x` (up to ~2^1024: a 129-byte INT).
fn put_integral_f64<W: Out + ?Sized>(out: &mut W, x: f64) {
    if x.abs() < TWO_POW_63 {
        // Exact: `x` is integral and within `i64`'s range (this also maps -0.0 to 0).
        put_i64(out, x as i64);
        return;
    }
    // |x| >= 2^63, so `x` is normal and equals m * 2^shift with a 53-bit m and shift >= 11.
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7FF) as u32;
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let shift = exponent - 1075;
    // Split the shift into whole zero bytes and a few bits folded into the head: the value is
    // `head` followed by `zeros` zero bytes, in two's complement for either sign.
    let zeros = (shift / 8) as usize;
    let head = i128::from(mantissa << (shift % 8));
    let head = if x < 0.0 { -head } else { head };
    let (be, head_len) = minimal(head);
    let head_payload = &be[16 - head_len..];
    // At most 8 head bytes and 121 zero bytes: the length fits a byte.
    let len = head_payload.len() + zeros;
    let mut buf = [0u8; 2 + 8 + 128];
    buf[0] = tag::INT;
    buf[1] = len as u8;
    buf[2..2 + head_payload.len()].copy_from_slice(head_payload);
    out.put(&buf[..2 + len]);
}

/// Writes a JSON number given as text (serde_json's `arbitrary_precision` representation).
///
/// It is read exactly as serde_json reads it without that feature: an integer literal in the
/// `i64` or `u64` range is that integer, anything else is the nearest `f64`. The fingerprint
/// therefore does not change when feature unification turns `arbitrary_precision` on.
pub(super) fn put_json_number<W: Out + ?Sized>(
    out: &mut W,
    text: &str,
) -> Result<(), FingerprintError> {
    if !is_json_number(text) {
        return Err(FingerprintError::Unsupported(format!(
            "`{text}` is not a JSON number"
        )));
    }
    if let Ok(i) = text.parse::<i64>() {
        put_i64(out, i);
    } else if let Ok(u) = text.parse::<u64>() {
        put_u64(out, u);
    } else {
        match text.parse::<f64>() {
            Ok(x) => put_f64(out, x),
            Err(_) => {
                return Err(FingerprintError::Unsupported(format!(
                    "`{text}` is not a JSON number"
                )));
            }
        }
    }
    Ok(())
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: Rust's parsers also accept `inf`, `+1`
/// and `1.`, which are not JSON.
fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if b.first() == Some(&b'-') {
        i += 1;
    }
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::encoder::pool::Pool;

    fn hex_of(pool: Pool) -> String {
        hex::encode(pool.buf)
    }

    fn int(v: i128) -> String {
        let mut out = Pool::default();
        put_i128(&mut out, v);
        hex_of(out)
    }

    fn float(x: f64) -> String {
        let mut out = Pool::default();
        put_f64(&mut out, x);
        hex_of(out)
    }

    #[test]
    fn ints_are_minimal_twos_complement() {
        assert_eq!(int(0), "040100");
        assert_eq!(int(127), "04017f");
        assert_eq!(int(128), "04020080");
        assert_eq!(int(-1), "0401ff");
        assert_eq!(int(-128), "040180");
        assert_eq!(int(-129), "0402ff7f");
        assert_eq!(
            int(i128::MIN),
            format!("0410{}", "80".to_owned() + &"00".repeat(15))
        );
        let mut out = Pool::default();
        put_u128(&mut out, u128::MAX);
        assert_eq!(hex_of(out), format!("041100{}", "ff".repeat(16)));
    }

    #[test]
    fn the_64_bit_paths_agree_with_the_128_bit_one() {
        let samples = [
            0i64,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            255,
            256,
            i64::MAX,
            i64::MIN,
        ];
        for v in samples
            .into_iter()
            .chain((0..64).flat_map(|s| [1i64 << s, (1i64 << s).wrapping_neg()]))
        {
            let (mut a, mut b) = (Pool::default(), Pool::default());
            put_i64(&mut a, v);
            put_i128(&mut b, i128::from(v));
            assert_eq!(a.buf, b.buf, "{v}");
        }
        for v in [0u64, 1, u64::MAX, 1 << 63, (1 << 63) - 1] {
            let (mut a, mut b) = (Pool::default(), Pool::default());
            put_u64(&mut a, v);
            put_i128(&mut b, i128::from(v));
            assert_eq!(a.buf, b.buf, "{v}");
        }
    }

    #[test]
    fn floats_follow_the_numeric_rules() {
        assert_eq!(float(-0.0), "040100");
        assert_eq!(float(5.0), "040105");
        assert_eq!(float(0.1), "053fb999999999999a");
        assert_eq!(float(f64::NAN), "057ff8000000000000");
        assert_eq!(float(-f64::NAN), "057ff8000000000000");
        assert_eq!(float(f64::INFINITY), "057ff0000000000000");
        assert_eq!(float(-(2f64.powi(70))), "0409c00000000000000000");
        assert_eq!(float(2f64.powi(63)), "0409008000000000000000");
        assert_eq!(float(-(2f64.powi(63))), "04088000000000000000");
        assert!(float(1e300).starts_with("047d17"));
        assert_eq!(float(f64::MAX).len(), 2 * (2 + 129));
    }

    #[test]
    fn json_numbers_read_like_serde_json() {
        let enc = |t: &str| {
            let mut out = Pool::default();
            put_json_number(&mut out, t).map(|()| hex_of(out))
        };
        assert_eq!(enc("5").unwrap(), float(5.0));
        assert_eq!(enc("5.0").unwrap(), float(5.0));
        assert_eq!(enc("-0").unwrap(), "040100");
        assert_eq!(
            enc("18446744073709551615").unwrap(),
            "040900ffffffffffffffff"
        );
        assert_eq!(enc("0.1").unwrap(), float(0.1));
        assert_eq!(enc("1e300").unwrap(), float(1e300));
        for bad in [
            "", "-", "01", "1.", ".5", "+1", "inf", "NaN", "1e", "0x10", " 1",
        ] {
            assert!(enc(bad).is_err(), "{bad:?}");
        }
    }
}
