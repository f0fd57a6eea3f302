//! HPACK (RFC 7541): how HTTP/2 compresses field names and values.
//!
//! A field block is a sequence of *representations*, each starting with a few flag bits:
//!
//! ```text
//!   1xxxxxxx  indexed field: the whole field is entry x of the tables (1 byte for most)
//!   01xxxxxx  literal with incremental indexing: name (index or string), value string;
//!             both ends then add the field to their dynamic table
//!   0000xxxx  literal without indexing            (name index or 0, then strings)
//!   0001xxxx  literal never indexed: also not to be indexed by any intermediary
//!   001xxxxx  dynamic table size update, only at the start of a block
//! ```
//!
//! Integers have an N-bit prefix and 7-bit continuation bytes (§5.1); strings are a length
//! (with an "H" bit for Huffman) and bytes (§5.2). The two tables are in `table.rs`: a fixed
//! static one and a dynamic one that the encoder fills and the decoder mirrors. That mirror
//! is why HPACK is *stateful*: every block must be decoded, in order, by the one decoder of
//! the connection, or the next block means something else. So [`Decoder::decode`] always
//! goes through the whole block, even past a limit, and reports the limit at the end.
//!
//! - [`Decoder`]: a block in, `(name, value)` pairs out through a callback, borrowed from the
//!   block, the tables or one reused scratch buffer: no allocation per field.
//! - [`Encoder`]: fields in, a block out; static matches, incremental indexing of repeated
//!   fields, never-indexed sensitive fields, Huffman unless longer.
//! - `huffman.rs`: the static Huffman code of Appendix B.

mod decoder;
mod encoder;
pub(crate) mod huffman;
pub(crate) mod table;

pub use decoder::Decoder;
pub use encoder::{Encoder, FieldBlock};

use super::frame::ErrorCode;
use crate::session::Append;

/// Why a field block could not be decoded.
///
/// Every variant but [`Error::HeaderListTooLarge`] leaves the decoder's table in an unknown
/// state: the connection must end with GOAWAY and COMPRESSION_ERROR ([`Error::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The block ends inside a representation (an integer or a string cut short).
    Truncated,
    /// An integer over 2^32 - 1, or with more than 5 continuation bytes.
    IntegerOverflow,
    /// Index 0, or past the end of the dynamic table.
    InvalidIndex,
    /// A Huffman string with EOS, or bad padding (over 7 bits, or not all ones).
    Huffman,
    /// A dynamic table size update after the first field of a block.
    LateSizeUpdate,
    /// A dynamic table size update above the SETTINGS_HEADER_TABLE_SIZE we advertise.
    SizeUpdateTooLarge,
    /// The first block after we lowered SETTINGS_HEADER_TABLE_SIZE did not start with the
    /// size update RFC 7541 §4.2 requires.
    MissingSizeUpdate,
    /// The decoded list exceeds the maximum header list size (name + value + 32 per field).
    /// The whole block was still decoded and the table is in sync: a *stream* error (answer
    /// 431, or reset the stream), not a connection error. Fields past the limit were not
    /// passed to the callback.
    HeaderListTooLarge,
}

impl Error {
    /// The HTTP/2 error code: COMPRESSION_ERROR for a connection error, PROTOCOL_ERROR for
    /// [`Error::HeaderListTooLarge`] (with RST_STREAM, if not answered with a 431).
    pub fn code(self) -> ErrorCode {
        match self {
            Error::HeaderListTooLarge => ErrorCode::ProtocolError,
            _ => ErrorCode::CompressionError,
        }
    }

    /// Whether the connection must end (the HPACK state is lost).
    pub fn is_connection_error(self) -> bool {
        self != Error::HeaderListTooLarge
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "HPACK block ends inside a field",
            Error::IntegerOverflow => "HPACK integer too large",
            Error::InvalidIndex => "HPACK index out of the tables",
            Error::Huffman => "invalid Huffman string (EOS or bad padding)",
            Error::LateSizeUpdate => "HPACK table size update after a field",
            Error::SizeUpdateTooLarge => "HPACK table size update above the advertised limit",
            Error::MissingSizeUpdate => "HPACK table size update missing after a lower limit",
            Error::HeaderListTooLarge => "header list larger than SETTINGS_MAX_HEADER_LIST_SIZE",
        })
    }
}

impl std::error::Error for Error {}

/// The most continuation bytes an integer may have: 5 hold 35 bits, more than a `u32`.
const MAX_INT_CONTINUATIONS: usize = 5;

/// Reads an integer with a `prefix_bits`-bit prefix (1..=8) at `*pos`, advancing `*pos`
/// (RFC 7541 §5.1). The bits above the prefix in the first byte are ignored.
#[inline]
pub(crate) fn decode_int(block: &[u8], pos: &mut usize, prefix_bits: u8) -> Result<u32, Error> {
    let max_prefix = (1u32 << prefix_bits) - 1;
    let first = *block.get(*pos).ok_or(Error::Truncated)?;
    *pos += 1;
    let value = u32::from(first) & max_prefix;
    // Nearly every index and length fits its prefix: one byte, inlined where it is read.
    if value < max_prefix {
        return Ok(value);
    }
    decode_int_rest(block, pos, value)
}

/// The continuation bytes of an integer whose prefix is full.
fn decode_int_rest(block: &[u8], pos: &mut usize, prefix: u32) -> Result<u32, Error> {
    let mut value = u64::from(prefix);
    for shift in (0..MAX_INT_CONTINUATIONS).map(|i| 7 * i) {
        let byte = *block.get(*pos).ok_or(Error::Truncated)?;
        *pos += 1;
        value += u64::from(byte & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(Error::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            return Ok(value as u32);
        }
    }
    Err(Error::IntegerOverflow)
}

/// Appends `value` with a `prefix_bits`-bit prefix (1..=8), the first byte's higher bits
/// set to `flags` (RFC 7541 §5.1).
pub(crate) fn encode_int(value: usize, prefix_bits: u8, flags: u8, out: &mut impl Append) {
    let max_prefix = (1usize << prefix_bits) - 1;
    if value < max_prefix {
        out.append(&[flags | value as u8]);
        return;
    }
    let mut bytes = [0u8; 11];
    bytes[0] = flags | max_prefix as u8;
    let mut n = 1;
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        bytes[n] = (rest as u8 & 0x7f) | 0x80;
        rest >>= 7;
        n += 1;
    }
    bytes[n] = rest as u8;
    out.append(&bytes[..=n]);
}

/// Appends a string literal (RFC 7541 §5.2), Huffman-coded unless that is longer (on a
/// tie Huffman, as RFC 7541's own examples choose).
pub(crate) fn encode_string(value: &[u8], out: &mut impl Append) {
    let huffman_len = huffman::encoded_len(value);
    if huffman_len <= value.len() && !value.is_empty() {
        encode_int(huffman_len, 7, 0x80, out);
        huffman::encode(value, out);
    } else {
        encode_int(value.len(), 7, 0, out);
        out.append(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7541_c1_integers() {
        // C.1.1: 10 in a 5-bit prefix.
        let mut out = Vec::new();
        encode_int(10, 5, 0, &mut out);
        assert_eq!(out, [0b01010]);
        // C.1.2: 1337 in a 5-bit prefix.
        out.clear();
        encode_int(1337, 5, 0, &mut out);
        assert_eq!(out, [0b11111, 0b1001_1010, 0b0000_1010]);
        // C.1.3: 42 at an octet boundary.
        out.clear();
        encode_int(42, 8, 0, &mut out);
        assert_eq!(out, [42]);
        for (bytes, prefix, want) in [
            (&[0b0000_1010u8][..], 5, 10),
            (&[0b1111_1111, 0b1001_1010, 0b0000_1010], 5, 1337),
            (&[42], 8, 42),
        ] {
            let mut pos = 0;
            assert_eq!(decode_int(bytes, &mut pos, prefix), Ok(want));
            assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn integers_round_trip_at_every_prefix_and_edge() {
        for prefix in 1..=8u8 {
            let edge = (1usize << prefix) - 1;
            for value in [
                0,
                edge - 1,
                edge,
                edge + 1,
                127 + edge,
                128 + edge,
                u32::MAX as usize,
            ] {
                let mut out = Vec::new();
                encode_int(value, prefix, 0, &mut out);
                let mut pos = 0;
                assert_eq!(decode_int(&out, &mut pos, prefix), Ok(value as u32));
                assert_eq!(pos, out.len());
                // Every prefix of the encoding is truncated.
                for cut in 0..out.len() {
                    let mut pos = 0;
                    assert_eq!(
                        decode_int(&out[..cut], &mut pos, prefix),
                        Err(Error::Truncated)
                    );
                }
            }
        }
    }

    #[test]
    fn integer_overflow_one_past_the_edge() {
        // u32::MAX with a 1-bit prefix: 1 + 4294967294 in 5 continuation bytes.
        let mut max = Vec::new();
        encode_int(u32::MAX as usize, 1, 0, &mut max);
        assert_eq!(max.len(), 6);
        let mut pos = 0;
        assert_eq!(decode_int(&max, &mut pos, 1), Ok(u32::MAX));
        let mut over = Vec::new();
        encode_int(u32::MAX as usize + 1, 1, 0, &mut over);
        let mut pos = 0;
        assert_eq!(decode_int(&over, &mut pos, 1), Err(Error::IntegerOverflow));
        // Six continuation bytes, even of zeros, are refused.
        let mut pos = 0;
        assert_eq!(
            decode_int(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos, 8),
            Err(Error::IntegerOverflow)
        );
        let mut pos = 0;
        assert_eq!(
            decode_int(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos, 8),
            Ok(255)
        );
    }
}
