//! Byte ranges: which part of a file a `Range` field asks for (RFC 9110 §14).
//!
//! One `bytes=` range (`a-b`, `a-`, `-n`) gets 206 with `Content-Range`; a range wholly past
//! the end gets 416 with `Content-Range: bytes */size`. Several ranges are answered with the
//! whole file (200), which RFC 9110 §14.2 allows and which spares us `multipart/byteranges`.
//! A malformed `Range` is ignored. Whether a range applies at all (`If-Range`) is the
//! validators' question (`validators.rs`).

use super::request::trim_ows;
use crate::protocol::number;

/// The part of a file a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ByteRange {
    /// The whole file.
    Full,
    /// Bytes `first..=last`.
    Partial {
        /// First byte offset.
        first: u64,
        /// Last byte offset, inclusive.
        last: u64,
    },
    /// Nothing of it: 416.
    Unsatisfiable,
}

/// Interprets a `Range` field for a file of `size` bytes. Anything we do not serve as one
/// range (malformed, another unit, several ranges) is the whole file.
pub(super) fn byte_range(value: &[u8], size: u64) -> ByteRange {
    let Some((unit, spec)) = value.split_at_checked(6) else {
        return ByteRange::Full;
    };
    if !unit.eq_ignore_ascii_case(b"bytes=") || spec.contains(&b',') {
        return ByteRange::Full;
    }
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return ByteRange::Full;
    };
    let (first, last) = spec.split_at(dash);
    let (first, last) = (trim_ows(first), trim_ows(last.get(1..).unwrap_or_default()));
    match (number::decimal(first), number::decimal(last)) {
        // "-n": the last n bytes.
        (None, Some(n)) if first.is_empty() => match n.min(size) {
            0 => ByteRange::Unsatisfiable,
            n => ByteRange::Partial {
                first: size - n,
                last: size - 1,
            },
        },
        (Some(a), None) if last.is_empty() && a < size => ByteRange::Partial {
            first: a,
            last: size - 1,
        },
        (Some(a), Some(b)) if a <= b && a < size => ByteRange::Partial {
            first: a,
            last: b.min(size - 1),
        },
        (Some(a), Some(b)) if a <= b => ByteRange::Unsatisfiable,
        (Some(_), None) if last.is_empty() => ByteRange::Unsatisfiable,
        _ => ByteRange::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use ByteRange::*;
        let cases: &[(&str, ByteRange)] = &[
            ("bytes=0-9", Partial { first: 0, last: 9 }),
            (
                "bytes=10-",
                Partial {
                    first: 10,
                    last: 99,
                },
            ),
            (
                "bytes=-10",
                Partial {
                    first: 90,
                    last: 99,
                },
            ),
            ("bytes=-1000", Partial { first: 0, last: 99 }),
            (
                "bytes=90-1000",
                Partial {
                    first: 90,
                    last: 99,
                },
            ),
            (
                "Bytes=99-99",
                Partial {
                    first: 99,
                    last: 99,
                },
            ),
            ("bytes=100-", Unsatisfiable),
            ("bytes=100-200", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=9-0", Full),
            ("bytes=0-1,5-6", Full),
            ("bytes=a-b", Full),
            ("bytes=-", Full),
            ("items=0-1", Full),
            // However many digits, one rule: past the end is 416, an end past it is clamped.
            ("bytes=9999999999999999999-", Unsatisfiable),
            ("bytes=99999999999999999999-", Unsatisfiable),
            (
                "bytes=0-9999999999999999999",
                Partial { first: 0, last: 99 },
            ),
            (
                "bytes=0-99999999999999999999",
                Partial { first: 0, last: 99 },
            ),
            (
                "bytes=-99999999999999999999",
                Partial { first: 0, last: 99 },
            ),
            ("bytes", Full),
        ];
        for (value, expected) in cases {
            assert_eq!(byte_range(value.as_bytes(), 100), *expected, "{value}");
        }
        assert_eq!(byte_range(b"bytes=0-", 0), Unsatisfiable);
        assert_eq!(byte_range(b"bytes=-5", 0), Unsatisfiable);
    }
}
