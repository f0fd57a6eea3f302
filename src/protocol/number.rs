//! The numbers peers send, parsed by one rule each: digits and nothing else.
//!
//! `u64::from_str` and `from_str_radix` accept a leading `+`, which no protocol here allows
//! (HTTP's `Content-Length: +1` is a smuggling vector: a lenient peer and a strict one
//! disagree on where the body ends). So every decimal and hexadecimal field a peer controls
//! goes through these functions.

/// A run of ASCII decimal digits, nothing else. A value too large for a `u64` saturates to
/// `u64::MAX`, so a 20-digit number is as large as it gets, never an error of a different kind
/// from a 19-digit one: the caller's limit refuses it (a body too large), or clamps it (a range
/// end past the file).
pub(crate) fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The value of one ASCII hexadecimal digit, either case.
pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Exactly `2 * N` hexadecimal digits, either case, as `N` bytes (a SHA-256 digest).
pub(crate) fn hex_bytes<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    if hex.len() != 2 * N {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_takes_digits_only_and_saturates() {
        assert_eq!(decimal(b"0"), Some(0));
        assert_eq!(decimal(b"0042"), Some(42));
        assert_eq!(decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(decimal(b"18446744073709551616"), Some(u64::MAX));
        assert_eq!(decimal(&[b'9'; 40]), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b" 1",
            b"1 ",
            b"0x10",
            b"1_000",
            b"\xd9\xa1",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hex_bytes_takes_exactly_the_digits() {
        assert_eq!(hex_bytes::<2>(b"0aFf"), Some([0x0a, 0xff]));
        for bad in [&b"+f00"[..], b"0a f", b"0aF", b"0aFf0", b"0g00", b"-f00"] {
            assert_eq!(hex_bytes::<2>(bad), None, "{bad:?}");
        }
    }
}
