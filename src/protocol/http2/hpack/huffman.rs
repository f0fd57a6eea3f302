//! The HPACK Huffman code (RFC 7541 §5.2, Appendix B): a static code over bytes, 5 to 30
//! bits per symbol, short for the characters of typical field values.
//!
//! The code is *canonical*: codes of one length are consecutive numbers in symbol order, and
//! the first code of length `n + 1` is `(last code of length n + 1) << 1`. So a decoder needs
//! no tree: it looks at the next `n` bits for `n = 5, 6, …`, and the first `n` for which those
//! bits are below the limit for `n` gives the length; the symbol is then an offset
//! into the symbols sorted by code. Three small arrays built at compile time from the
//! Appendix B table, and a 64-bit window refilled a byte at a time.
//!
//! Decoding refuses what RFC 7541 §5.2 calls a decoding error: the EOS symbol in the
//! string, padding longer than 7 bits, or padding that is not the most significant bits of
//! EOS (all ones).

use super::Error;
use crate::session::Append;

/// `(code, bits)` per symbol: bytes 0..=255, then EOS (256). RFC 7541 Appendix B.
#[rustfmt::skip]
const CODES: [(u32, u8); 257] = [
    (0x1ff8, 13),
    (0x7fffd8, 23),
    (0xfffffe2, 28),
    (0xfffffe3, 28),
    (0xfffffe4, 28),
    (0xfffffe5, 28),
    (0xfffffe6, 28),
    (0xfffffe7, 28),
    (0xfffffe8, 28),
    (0xffffea, 24),
    (0x3ffffffc, 30),
    (0xfffffe9, 28),
    (0xfffffea, 28),
    (0x3ffffffd, 30),
    (0xfffffeb, 28),
    (0xfffffec, 28),
    (0xfffffed, 28),
    (0xfffffee, 28),
    (0xfffffef, 28),
    (0xffffff0, 28),
    (0xffffff1, 28),
    (0xffffff2, 28),
    (0x3ffffffe, 30),
    (0xffffff3, 28),
    (0xffffff4, 28),
    (0xffffff5, 28),
    (0xffffff6, 28),
    (0xffffff7, 28),
    (0xffffff8, 28),
    (0xffffff9, 28),
    (0xffffffa, 28),
    (0xffffffb, 28),
    (0x14, 6),
    (0x3f8, 10),
    (0x3f9, 10),
    (0xffa, 12),
    (0x1ff9, 13),
    (0x15, 6),
    (0xf8, 8),
    (0x7fa, 11),
    (0x3fa, 10),
    (0x3fb, 10),
    (0xf9, 8),
    (0x7fb, 11),
    (0xfa, 8),
    (0x16, 6),
    (0x17, 6),
    (0x18, 6),
    (0x0, 5),
    (0x1, 5),
    (0x2, 5),
    (0x19, 6),
    (0x1a, 6),
    (0x1b, 6),
    (0x1c, 6),
    (0x1d, 6),
    (0x1e, 6),
    (0x1f, 6),
    (0x5c, 7),
    (0xfb, 8),
    (0x7ffc, 15),
    (0x20, 6),
    (0xffb, 12),
    (0x3fc, 10),
    (0x1ffa, 13),
    (0x21, 6),
    (0x5d, 7),
    (0x5e, 7),
    (0x5f, 7),
    (0x60, 7),
    (0x61, 7),
    (0x62, 7),
    (0x63, 7),
    (0x64, 7),
    (0x65, 7),
    (0x66, 7),
    (0x67, 7),
    (0x68, 7),
    (0x69, 7),
    (0x6a, 7),
    (0x6b, 7),
    (0x6c, 7),
    (0x6d, 7),
    (0x6e, 7),
    (0x6f, 7),
    (0x70, 7),
    (0x71, 7),
    (0x72, 7),
    (0xfc, 8),
    (0x73, 7),
    (0xfd, 8),
    (0x1ffb, 13),
    (0x7fff0, 19),
    (0x1ffc, 13),
    (0x3ffc, 14),
    (0x22, 6),
    (0x7ffd, 15),
    (0x3, 5),
    (0x23, 6),
    (0x4, 5),
    (0x24, 6),
    (0x5, 5),
    (0x25, 6),
    (0x26, 6),
    (0x27, 6),
    (0x6, 5),
    (0x74, 7),
    (0x75, 7),
    (0x28, 6),
    (0x29, 6),
    (0x2a, 6),
    (0x7, 5),
    (0x2b, 6),
    (0x76, 7),
    (0x2c, 6),
    (0x8, 5),
    (0x9, 5),
    (0x2d, 6),
    (0x77, 7),
    (0x78, 7),
    (0x79, 7),
    (0x7a, 7),
    (0x7b, 7),
    (0x7ffe, 15),
    (0x7fc, 11),
    (0x3ffd, 14),
    (0x1ffd, 13),
    (0xffffffc, 28),
    (0xfffe6, 20),
    (0x3fffd2, 22),
    (0xfffe7, 20),
    (0xfffe8, 20),
    (0x3fffd3, 22),
    (0x3fffd4, 22),
    (0x3fffd5, 22),
    (0x7fffd9, 23),
    (0x3fffd6, 22),
    (0x7fffda, 23),
    (0x7fffdb, 23),
    (0x7fffdc, 23),
    (0x7fffdd, 23),
    (0x7fffde, 23),
    (0xffffeb, 24),
    (0x7fffdf, 23),
    (0xffffec, 24),
    (0xffffed, 24),
    (0x3fffd7, 22),
    (0x7fffe0, 23),
    (0xffffee, 24),
    (0x7fffe1, 23),
    (0x7fffe2, 23),
    (0x7fffe3, 23),
    (0x7fffe4, 23),
    (0x1fffdc, 21),
    (0x3fffd8, 22),
    (0x7fffe5, 23),
    (0x3fffd9, 22),
    (0x7fffe6, 23),
    (0x7fffe7, 23),
    (0xffffef, 24),
    (0x3fffda, 22),
    (0x1fffdd, 21),
    (0xfffe9, 20),
    (0x3fffdb, 22),
    (0x3fffdc, 22),
    (0x7fffe8, 23),
    (0x7fffe9, 23),
    (0x1fffde, 21),
    (0x7fffea, 23),
    (0x3fffdd, 22),
    (0x3fffde, 22),
    (0xfffff0, 24),
    (0x1fffdf, 21),
    (0x3fffdf, 22),
    (0x7fffeb, 23),
    (0x7fffec, 23),
    (0x1fffe0, 21),
    (0x1fffe1, 21),
    (0x3fffe0, 22),
    (0x1fffe2, 21),
    (0x7fffed, 23),
    (0x3fffe1, 22),
    (0x7fffee, 23),
    (0x7fffef, 23),
    (0xfffea, 20),
    (0x3fffe2, 22),
    (0x3fffe3, 22),
    (0x3fffe4, 22),
    (0x7ffff0, 23),
    (0x3fffe5, 22),
    (0x3fffe6, 22),
    (0x7ffff1, 23),
    (0x3ffffe0, 26),
    (0x3ffffe1, 26),
    (0xfffeb, 20),
    (0x7fff1, 19),
    (0x3fffe7, 22),
    (0x7ffff2, 23),
    (0x3fffe8, 22),
    (0x1ffffec, 25),
    (0x3ffffe2, 26),
    (0x3ffffe3, 26),
    (0x3ffffe4, 26),
    (0x7ffffde, 27),
    (0x7ffffdf, 27),
    (0x3ffffe5, 26),
    (0xfffff1, 24),
    (0x1ffffed, 25),
    (0x7fff2, 19),
    (0x1fffe3, 21),
    (0x3ffffe6, 26),
    (0x7ffffe0, 27),
    (0x7ffffe1, 27),
    (0x3ffffe7, 26),
    (0x7ffffe2, 27),
    (0xfffff2, 24),
    (0x1fffe4, 21),
    (0x1fffe5, 21),
    (0x3ffffe8, 26),
    (0x3ffffe9, 26),
    (0xffffffd, 28),
    (0x7ffffe3, 27),
    (0x7ffffe4, 27),
    (0x7ffffe5, 27),
    (0xfffec, 20),
    (0xfffff3, 24),
    (0xfffed, 20),
    (0x1fffe6, 21),
    (0x3fffe9, 22),
    (0x1fffe7, 21),
    (0x1fffe8, 21),
    (0x7ffff3, 23),
    (0x3fffea, 22),
    (0x3fffeb, 22),
    (0x1ffffee, 25),
    (0x1ffffef, 25),
    (0xfffff4, 24),
    (0xfffff5, 24),
    (0x3ffffea, 26),
    (0x7ffff4, 23),
    (0x3ffffeb, 26),
    (0x7ffffe6, 27),
    (0x3ffffec, 26),
    (0x3ffffed, 26),
    (0x7ffffe7, 27),
    (0x7ffffe8, 27),
    (0x7ffffe9, 27),
    (0x7ffffea, 27),
    (0x7ffffeb, 27),
    (0xffffffe, 28),
    (0x7ffffec, 27),
    (0x7ffffed, 27),
    (0x7ffffee, 27),
    (0x7ffffef, 27),
    (0x7fffff0, 27),
    (0x3ffffee, 26),
    (0x3fffffff, 30),];

/// The EOS symbol, which must never appear in a string.
const EOS: u16 = 256;

/// The decoding tables, indexed by code length (1..=30; 0 unused).
struct Canonical {
    /// The first code of each length.
    first: [u32; 31],
    /// One past the last code of each length: the bits read are a whole code of this
    /// length exactly when they are below it.
    limit: [u32; 31],
    /// Where the codes of each length start in `symbols`.
    offset: [u16; 31],
    /// The symbols, sorted by (length, symbol): the order of their codes.
    symbols: [u16; 257],
}

const fn build() -> Canonical {
    let mut count = [0u32; 31];
    let mut i = 0;
    while i < 257 {
        count[CODES[i].1 as usize] += 1;
        i += 1;
    }
    let mut table = Canonical {
        first: [0; 31],
        limit: [0; 31],
        offset: [0; 31],
        symbols: [0; 257],
    };
    let mut next_offset = 0u16;
    let mut len = 1;
    while len <= 30 {
        table.offset[len] = next_offset;
        let mut fill = next_offset as usize;
        let mut first = u32::MAX;
        let mut sym = 0;
        while sym < 257 {
            if CODES[sym].1 as usize == len {
                if first == u32::MAX {
                    first = CODES[sym].0;
                }
                table.symbols[fill] = sym as u16;
                fill += 1;
            }
            sym += 1;
        }
        table.first[len] = if first == u32::MAX { 0 } else { first };
        table.limit[len] = table.first[len] + count[len];
        next_offset += count[len] as u16;
        len += 1;
    }
    table
}

static CANONICAL: Canonical = build();

/// For each value of the next 8 bits: the symbol and length of the code of at most 8 bits
/// they start with, or length 0 if the code is longer. Nearly every character of a typical
/// field value has a code of 5 to 8 bits, so most symbols take one lookup.
static SHORT: [(u8, u8); 256] = build_short();

const fn build_short() -> [(u8, u8); 256] {
    let mut short = [(0u8, 0u8); 256];
    let mut sym = 0;
    while sym < 256 {
        let (code, len) = CODES[sym];
        if len <= 8 {
            let first = (code << (8 - len)) as usize;
            let mut i = 0;
            while i < 1 << (8 - len) {
                short[first + i] = (sym as u8, len);
                i += 1;
            }
        }
        sym += 1;
    }
    short
}

/// Appends the decoded bytes of the Huffman string `src` to `dst`.
///
/// Errors ([`Error::Huffman`]): EOS inside the string, more than 7 bits of padding, or
/// padding bits that are not all ones. `dst` then holds a partial result. At most
/// `src.len() * 8 / 5` bytes are appended (5 bits is the shortest code).
pub(crate) fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), Error> {
    dst.reserve(src.len() * 8 / 5);
    let table = &CANONICAL;
    let mut bytes = src.iter();
    // The next `bits` bits of input, left-aligned: the next bit is bit 63, and the bits
    // below the `bits` are zero. Left-aligned, the next 8 bits are one shift away and a
    // symbol is consumed with one shift, whatever `bits` is.
    let mut window: u64 = 0;
    let mut bits: u32 = 0;
    loop {
        // Topped up only when a code of 30 bits might not fit: every few symbols.
        if bits < 30 {
            while bits <= 56 {
                match bytes.next() {
                    Some(&b) => {
                        window |= u64::from(b) << (56 - bits);
                        bits += 8;
                    }
                    None => break,
                }
            }
        }
        if bits == 0 {
            return Ok(());
        }
        // A code of at most 8 bits, all of them input (not the zeros below): one lookup.
        let (symbol, len) = SHORT[(window >> 56) as usize];
        let len = u32::from(len);
        if len != 0 && len <= bits {
            dst.push(symbol);
            window <<= len;
            bits -= len;
            continue;
        }
        let mut found = None;
        for len in 5..=bits.min(30) {
            let code = (window >> (64 - len)) as u32;
            if code < table.limit[len as usize] {
                found = Some((len, code));
                break;
            }
        }
        let Some((len, code)) = found else {
            // Fewer bits than any code they start: the end of the input, and padding, which
            // must be at most 7 bits, all ones (a prefix of EOS).
            let ones = !0u64 << (64 - bits);
            return match bits <= 7 && window == ones {
                true => Ok(()),
                false => Err(Error::Huffman),
            };
        };
        let index =
            usize::from(table.offset[len as usize]) + (code - table.first[len as usize]) as usize;
        let symbol = table.symbols.get(index).copied().unwrap_or(EOS);
        if symbol == EOS {
            return Err(Error::Huffman);
        }
        dst.push(symbol as u8);
        window <<= len;
        bits -= len;
    }
}

/// The length in bytes of `src` Huffman-encoded (padding included).
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends `src` Huffman-encoded, padded with ones to a whole byte: exactly
/// [`encoded_len`]`(src)` bytes.
pub(crate) fn encode(src: &[u8], out: &mut impl Append) {
    let mut chunk = [0u8; 64];
    let mut filled = 0;
    let mut window: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        window = (window << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            chunk[filled] = (window >> bits) as u8;
            filled += 1;
            if filled == chunk.len() {
                out.append(&chunk);
                filled = 0;
            }
        }
        window &= (1u64 << bits) - 1;
    }
    if bits > 0 {
        let pad = 8 - bits;
        chunk[filled] = ((window << pad) | ((1 << pad) - 1)) as u8;
        filled += 1;
    }
    out.append(&chunk[..filled]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(src: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        decode(src, &mut out).map(|()| out)
    }

    #[test]
    fn rfc_7541_c4_strings() {
        let cases: [(&[u8], &[u8]); 4] = [
            (
                b"www.example.com",
                &[
                    0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
                ],
            ),
            (b"no-cache", &[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]),
            (
                b"custom-key",
                &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f],
            ),
            (
                b"custom-value",
                &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf],
            ),
        ];
        for (text, code) in cases {
            assert_eq!(decoded(code).unwrap(), text);
            let mut out = Vec::new();
            encode(text, &mut out);
            assert_eq!(out, code);
            assert_eq!(encoded_len(text), code.len());
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).chain((0..=255).rev()).collect();
        let mut out = Vec::new();
        encode(&all, &mut out);
        assert_eq!(out.len(), encoded_len(&all));
        assert_eq!(decoded(&out).unwrap(), all);
    }

    #[test]
    fn padding_rules() {
        // 'a' is 00011 (5 bits): padded with 111 is right.
        assert_eq!(decoded(&[0b0001_1111]).unwrap(), b"a");
        // Padding bits not all ones.
        assert_eq!(decoded(&[0b0001_1110]), Err(Error::Huffman));
        // 'a' then a whole byte of ones: 11 bits of padding, over 7.
        assert_eq!(decoded(&[0b0001_1111, 0xff]), Err(Error::Huffman));
        // A byte of ones alone: 8 bits of padding.
        assert_eq!(decoded(&[0xff]), Err(Error::Huffman));
        // '0' (00000), '1' (00001), then 6 ones of padding: fine.
        assert_eq!(decoded(&[0b0000_0000, 0b0111_1111]).unwrap(), b"01");
        // '0', '1', 'a' (00011), then 1 bit of padding that is a zero.
        assert_eq!(decoded(&[0b0000_0000, 0b0100_0110]), Err(Error::Huffman));
        assert_eq!(decoded(&[]).unwrap(), b"");
    }

    #[test]
    fn eos_is_refused() {
        // EOS is 30 ones; padded with two ones it fills 4 bytes.
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), Err(Error::Huffman));
        // 'a' (00011) then EOS (30 ones) then one padding one: 36 bits, 5 bytes.
        assert_eq!(
            decoded(&[0b0001_1111, 0xff, 0xff, 0xff, 0xff]),
            Err(Error::Huffman)
        );
    }

    proptest::proptest! {
        #[test]
        fn round_trip_and_no_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let mut code = Vec::new();
            encode(&bytes, &mut code);
            proptest::prop_assert_eq!(decoded(&code).unwrap(), bytes.clone());
            // The same bytes taken as a Huffman string: an error or a string, never a panic,
            // never more than 8/5 of the input.
            if let Ok(text) = decoded(&bytes) {
                proptest::prop_assert!(text.len() <= bytes.len() * 8 / 5);
            }
        }
    }
}
