//! The HPACK encoder: one per connection, for the fields we send.

use super::table::{DynamicTable, entry_size, static_find};
use super::{encode_int, encode_string};
use crate::session::Append;

/// The largest dynamic table the encoder uses by default (and the RFC's initial size): a
/// few KiB per connection buys one-byte repeats of every response field worth repeating.
pub(crate) const DEFAULT_ENCODER_TABLE_SIZE: usize = 4_096;

/// Fields whose values must never enter a compression table (RFC 7541 §7.1.3): a guessable
/// secret in a shared table can be recovered by an attacker who can add fields beside it
/// (CRIME). They are sent as "never indexed" literals, which also tells any intermediary
/// not to index them.
const SENSITIVE: [&[u8]; 4] = [
    b"authorization",
    b"proxy-authorization",
    b"cookie",
    b"set-cookie",
];

/// Fields not worth a table entry: their values are different in almost every message.
const UNIQUE: [&[u8]; 1] = [b"content-range"];

/// An HPACK encoder and its dynamic table.
///
/// What it chooses, per field: a whole match in the static or dynamic table is one indexed
/// byte (or a few); otherwise a literal whose name is an index where possible, with
/// *incremental indexing* so that the next identical field is one byte (content-type,
/// server, cache-control, a non-static `:status`…), except for sensitive fields (sent
/// *never indexed*), values unique per message, and fields larger than half the table
/// (which would evict everything else). Strings are Huffman-coded unless that is longer.
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
    /// The most we are willing to use, whatever the peer allows.
    cap: usize,
    /// Size updates owed to the peer at the start of the next block: the smallest size
    /// since the last block and the final one (RFC 7541 §4.2).
    pending: Option<(usize, usize)>,
    /// Whether to Huffman-code strings (unless longer) (off only to read the bytes or to
    /// reproduce RFC 7541's plain examples).
    huffman: bool,
    /// Counts every change to what a block would encode to: an insertion, a table size or
    /// a size update owed, the Huffman switch.
    generation: u64,
    /// The last block remembered ([`Encoder::remember`]) and what it was encoded from.
    memo: Memo,
}

/// A block and the source it was encoded from, at a generation of the encoder.
#[derive(Debug, Default)]
struct Memo {
    key: Vec<u8>,
    block: Vec<u8>,
    generation: Option<u64>,
}

/// The longest source [`Encoder::remember`] keeps: a response head of ours is 150 to 300
/// bytes.
pub(super) const MEMO_MAX: usize = 512;

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new(DEFAULT_ENCODER_TABLE_SIZE)
    }
}

impl Encoder {
    /// An encoder that uses a dynamic table of at most `cap` octets. The peer's decoder
    /// starts at 4096 octets (the RFC's initial `SETTINGS_HEADER_TABLE_SIZE`); a smaller
    /// `cap` is announced with a size update at the start of the first block.
    pub(crate) fn new(cap: usize) -> Encoder {
        let size = cap.min(DEFAULT_ENCODER_TABLE_SIZE);
        Encoder {
            table: DynamicTable::new(size),
            cap,
            pending: (size != DEFAULT_ENCODER_TABLE_SIZE).then_some((size, size)),
            huffman: true,
            generation: 0,
            memo: Memo::default(),
        }
    }

    /// Applies the peer's `SETTINGS_HEADER_TABLE_SIZE`: the table becomes the smaller of
    /// that and our cap, evicting now, and the change is announced at the start of the next
    /// block (its smallest value first if it went down and back up since the last block).
    pub fn set_max_table_size(&mut self, peer_setting: u32) {
        let size = (peer_setting as usize).min(self.cap);
        if size == self.table.max_size() && self.pending.is_none() {
            return;
        }
        self.table.set_max_size(size);
        self.generation += 1;
        let smallest = self.pending.map_or(size, |(low, _)| low.min(size));
        self.pending = Some((smallest, size));
    }

    /// Turns Huffman coding of strings on (the default) or off.
    #[cfg(test)]
    pub(crate) fn set_huffman(&mut self, on: bool) {
        self.huffman = on;
        self.generation += 1;
    }

    /// The dynamic table (for inspection).
    #[cfg(test)]
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Starts a field block written to `out`, with any size update owed to the peer. Every
    /// block the encoder writes must be sent, and in the order written: the peer's table
    /// follows ours block by block.
    pub fn block<'a, A: Append>(&'a mut self, out: &'a mut A) -> FieldBlock<'a, A> {
        if let Some((smallest, size)) = self.pending.take() {
            self.generation += 1;
            if smallest < size {
                encode_int(smallest, 5, 0x20, out);
            }
            encode_int(size, 5, 0x20, out);
        }
        FieldBlock { encoder: self, out }
    }

    /// Writes a whole field block of `fields` to `out` (see [`Encoder::block`]).
    pub fn encode<'f>(
        &mut self,
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>,
        out: &mut impl Append,
    ) {
        let mut block = self.block(out);
        for (name, value) in fields {
            block.field(name, value);
        }
    }

    /// The encoder's generation: it changes whenever the same fields would encode
    /// differently (see [`Encoder::remember`]).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Remembers `block`, encoded from `key` (any bytes the fields are a function of, such
    /// as a response head) starting at generation `before`, if encoding it changed nothing:
    /// the same key then encodes to the same block for as long as nothing else changes the
    /// table ([`Encoder::repeat`]). A key over [`MEMO_MAX`] bytes is not kept.
    pub(crate) fn remember(&mut self, key: &[u8], before: u64, block: &[u8]) {
        if before != self.generation || key.len() > MEMO_MAX {
            return;
        }
        self.memo.key.clear();
        self.memo.key.extend_from_slice(key);
        self.memo.block.clear();
        self.memo.block.extend_from_slice(block);
        self.memo.generation = Some(before);
    }

    /// The block remembered for `key`, if the table is as it was then: sending it again is
    /// what encoding the same fields again would send, and leaves both tables unchanged.
    /// A server answering the same small file to every request of a connection encodes its
    /// head once and compares it from then on.
    pub(crate) fn repeat(&self, key: &[u8]) -> Option<&[u8]> {
        (self.memo.generation == Some(self.generation) && self.memo.key == key)
            .then_some(self.memo.block.as_slice())
    }

    /// The length of the key last remembered, 0 if none: a caller whose keys end
    /// themselves (a response head ends at its first blank line) may look for it at the
    /// start of longer input.
    pub(crate) fn remembered_len(&self) -> usize {
        self.memo.key.len()
    }

    fn string(&self, value: &[u8], out: &mut impl Append) {
        match self.huffman {
            true => encode_string(value, out),
            false => {
                encode_int(value.len(), 7, 0, out);
                out.append(value);
            }
        }
    }
}

/// One field block being written: created by [`Encoder::block`], fields appended in order.
/// Names must be lowercase (HTTP/2 requires it; the encoder does not check).
pub struct FieldBlock<'a, A: Append> {
    encoder: &'a mut Encoder,
    out: &'a mut A,
}

impl<A: Append> FieldBlock<'_, A> {
    /// Appends `:status` for `code` (100..=999): one byte for the seven codes of the static
    /// table (200, 204, 206, 304, 400, 404, 500), one byte for any other code sent before
    /// and still in the table, else a 3- or 4-byte literal that indexes it.
    pub fn status(&mut self, code: u16) {
        let index = match code {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => {
                let code = code.clamp(100, 999);
                let digits = [
                    b'0' + (code / 100) as u8,
                    b'0' + (code / 10 % 10) as u8,
                    b'0' + (code % 10) as u8,
                ];
                return self.field(b":status", &digits);
            }
        };
        self.out.append(&[0x80 | index]);
    }

    /// Appends one field.
    pub fn field(&mut self, name: &[u8], value: &[u8]) {
        let enc = &mut *self.encoder;
        let statik = static_find(name, value);
        if let Some((_, Some(index))) = statik {
            return encode_int(index, 7, 0x80, self.out);
        }
        let sensitive = SENSITIVE.contains(&name);
        let dynamic = match sensitive {
            true => None,
            false => enc.table.find(name, value),
        };
        if let Some((at, true)) = dynamic {
            return encode_int(62 + at, 7, 0x80, self.out);
        }
        let name_index = match (statik, dynamic) {
            (Some((first, _)), _) => first,
            (None, Some((at, _))) => 62 + at,
            (None, None) => 0,
        };
        let index = !sensitive
            && !UNIQUE.contains(&name)
            && entry_size(name, value) <= enc.table.max_size() / 2;
        let (prefix, flags) = match (sensitive, index) {
            (true, _) => (4, 0x10),
            (false, true) => (6, 0x40),
            (false, false) => (4, 0x00),
        };
        encode_int(name_index, prefix, flags, self.out);
        if name_index == 0 {
            enc.string(name, self.out);
        }
        enc.string(value, self.out);
        if index {
            enc.table.insert(name, value);
            enc.generation += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::super::decoder::tests::{Fields, hex, request_steps, response_steps};
    use super::*;

    fn encode_fields(enc: &mut Encoder, fields: &Fields) -> Vec<u8> {
        let mut out = Vec::new();
        let mut block = enc.block(&mut out);
        for (name, value) in fields {
            match (name.as_str(), value.parse::<u16>()) {
                (":status", Ok(code)) => block.status(code),
                _ => block.field(name.as_bytes(), value.as_bytes()),
            }
        }
        out
    }

    fn check_requests(huffman: bool) {
        let mut enc = Encoder::default();
        enc.set_huffman(huffman);
        for (i, (block, fields, _, size)) in request_steps(huffman).into_iter().enumerate() {
            assert_eq!(encode_fields(&mut enc, &fields), block, "request {i}");
            assert_eq!(enc.table().size(), size);
        }
    }

    #[test]
    fn rfc_7541_c3_requests_without_huffman() {
        check_requests(false);
    }

    #[test]
    fn rfc_7541_c4_requests_with_huffman() {
        check_requests(true);
    }

    /// C.5 and C.6 byte for byte, except the last field: RFC 7541 indexes `set-cookie`,
    /// evserve sends it never-indexed (the RFC's own §7.1.3 advice).
    fn check_responses(huffman: bool) {
        let mut enc = Encoder::new(256);
        // The examples assume both ends already agreed on 256 by SETTINGS.
        enc.pending = None;
        enc.set_huffman(huffman);
        let mut dec = Decoder::new(256);
        for (i, (block, fields, _, _)) in response_steps(huffman).into_iter().enumerate() {
            let out = encode_fields(&mut enc, &fields);
            if i < 2 {
                assert_eq!(out, block, "response {i}");
            } else {
                // Up to the set-cookie field (0x77 in the RFC), the same bytes.
                let cut = block.iter().rposition(|&b| b == 0x77).unwrap();
                assert_eq!(out[..cut], block[..cut], "response {i}");
                assert_eq!(out[cut..cut + 2], [0x1f, 0x28], "set-cookie never indexed");
            }
            let mut got = Vec::new();
            dec.decode(&out, |n, v| {
                got.push((
                    String::from_utf8_lossy(n).into(),
                    String::from_utf8_lossy(v).into(),
                ))
            })
            .unwrap();
            assert_eq!(got, fields);
        }
    }

    #[test]
    fn rfc_7541_c5_responses_without_huffman() {
        check_responses(false);
    }

    #[test]
    fn rfc_7541_c6_responses_with_huffman() {
        check_responses(true);
    }

    #[test]
    fn rfc_7541_c2_where_the_choices_match() {
        // C.2.1: a new name, indexed.
        let mut enc = Encoder::default();
        enc.set_huffman(false);
        let mut out = Vec::new();
        enc.encode([(&b"custom-key"[..], &b"custom-header"[..])], &mut out);
        assert_eq!(
            out,
            hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")
        );
        assert_eq!(enc.table().size(), 55);
        // C.2.4: a static match.
        out.clear();
        enc.encode([(&b":method"[..], &b"GET"[..])], &mut out);
        assert_eq!(out, [0x82]);
        // C.2.3 is never indexed (as evserve sends authorization): same layout, name 23.
        out.clear();
        enc.encode([(&b"authorization"[..], &b"secret"[..])], &mut out);
        assert_eq!(out, hex("1f08 0673 6563 7265 74"));
    }

    #[test]
    fn status_fast_path() {
        let mut enc = Encoder::default();
        let mut out = Vec::new();
        let mut block = enc.block(&mut out);
        for code in [200, 204, 206, 304, 400, 404, 500] {
            block.status(code);
        }
        assert_eq!(out, [0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e]);
        out.clear();
        let mut block = enc.block(&mut out);
        block.status(302);
        block.status(302);
        assert_eq!(out, hex("4882 6402 be"));
    }

    #[test]
    fn repeated_response_fields_become_one_byte() {
        let mut enc = Encoder::default();
        let fields: [(&[u8], &[u8]); 3] = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"server", b"evserve"),
            (b"set-cookie", b"id=42"),
        ];
        let mut first = Vec::new();
        enc.encode(fields, &mut first);
        let mut second = Vec::new();
        enc.encode(fields, &mut second);
        // content-type and server are indexed; set-cookie goes again as a literal, never
        // indexed (0x1f 0x28: index 55 in a 4-bit prefix).
        assert_eq!(second[..2], [0x80 | 63, 0x80 | 62]);
        assert_eq!(second[2..4], [0x1f, 0x28]);
        assert_eq!(enc.table().len(), 2);
        let mut dec = Decoder::new(4096);
        for block in [first, second] {
            let mut n = 0;
            dec.decode(&block, |_, _| n += 1).unwrap();
            assert_eq!(n, 3);
        }
    }

    #[test]
    fn table_size_changes_are_announced_at_the_next_block() {
        let mut enc = Encoder::default();
        let mut out = Vec::new();
        enc.encode([(&b"server"[..], &b"evserve"[..])], &mut out);
        enc.set_max_table_size(0);
        enc.set_max_table_size(1024);
        assert!(enc.table().is_empty());
        out.clear();
        enc.encode([(&b"server"[..], &b"evserve"[..])], &mut out);
        // Size 0, then 1024 (31 + 993 = 0x3f 0xe1 0x07), then the field again as new.
        assert_eq!(out[..4], [0x20, 0x3f, 0xe1, 0x07]);
        assert_eq!(out[4], 0x40 | 54);
        out.clear();
        enc.encode([], &mut out);
        assert!(out.is_empty(), "announced once");
        // A cap below the RFC's initial 4096 is announced in the first block.
        let mut small = Encoder::new(100);
        out.clear();
        small.encode([], &mut out);
        assert_eq!(out, [0x3f, 0x45]);
        // The peer allowing more than our cap does not raise the table past it.
        small.set_max_table_size(65_536);
        assert_eq!(small.table().max_size(), 100);
    }

    #[test]
    fn oversized_and_unique_fields_are_not_indexed() {
        let mut enc = Encoder::default();
        let big = vec![b'x'; 2048];
        let mut out = Vec::new();
        enc.encode(
            [
                (&b"x-big"[..], &big[..]),
                (&b"content-range"[..], &b"bytes 0-1/2"[..]),
            ],
            &mut out,
        );
        assert!(enc.table().is_empty());
        assert_eq!(out[0], 0x00, "literal without indexing, new name");
    }

    #[test]
    fn a_block_is_repeated_only_while_the_table_is_as_it_was() {
        let fields = [(&b"server"[..], &b"evserve"[..]), (b"x-a", b"1")];
        let mut enc = Encoder::default();
        let mut dec = Decoder::new(4096);
        let send = |enc: &mut Encoder, dec: &mut Decoder, fields: &[(&[u8], &[u8])]| {
            let key: Vec<u8> = fields.iter().flat_map(|(n, v)| [*n, *v].concat()).collect();
            let mut out = Vec::new();
            let reused = match enc.repeat(&key) {
                Some(block) => {
                    out.extend_from_slice(block);
                    true
                }
                None => {
                    let before = enc.generation();
                    enc.encode(fields.iter().copied(), &mut out);
                    enc.remember(&key, before, &out);
                    false
                }
            };
            let mut got = Vec::new();
            dec.decode(&out, |n, v| got.push((n.to_vec(), v.to_vec())))
                .unwrap();
            let want: Vec<_> = fields
                .iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect();
            assert_eq!(got, want);
            (reused, out)
        };
        let (reused, _) = send(&mut enc, &mut dec, &fields);
        assert!(!reused, "nothing remembered yet");
        // The first block indexed both fields: it is not remembered (the same fields
        // encode differently now).
        let (reused, second) = send(&mut enc, &mut dec, &fields);
        assert!(!reused);
        assert_eq!(
            second,
            [0x80 | 63, 0x80 | 62],
            "both indexed, nothing changed"
        );
        let (reused, third) = send(&mut enc, &mut dec, &fields);
        assert!(reused);
        assert_eq!(third, second);
        // Another block that inserts something: the memo is stale.
        send(&mut enc, &mut dec, &[(b"x-b", b"2")]);
        let (reused, fourth) = send(&mut enc, &mut dec, &fields);
        assert!(!reused);
        assert_eq!(fourth, [0x80 | 64, 0x80 | 63], "the entries moved down one");
        // A size update owed goes at the start of the next block: not a repeat.
        assert!(send(&mut enc, &mut dec, &fields).0);
        enc.set_max_table_size(4096);
        enc.set_max_table_size(2048);
        dec.set_max_table_size(2048);
        assert!(!send(&mut enc, &mut dec, &fields).0);
    }

    fn name_strategy() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(b":status".to_vec()),
            Just(b"content-type".to_vec()),
            Just(b"set-cookie".to_vec()),
            Just(b"server".to_vec()),
            proptest::collection::vec(b'a'..=b'z', 1..12),
        ]
    }

    proptest::proptest! {
        #[test]
        fn encoder_to_decoder_round_trips(
            blocks in proptest::collection::vec(
                (
                    proptest::collection::vec(
                        (name_strategy(), proptest::collection::vec(proptest::num::u8::ANY, 0..40)),
                        0..8,
                    ),
                    proptest::option::of(0u32..600),
                ),
                1..6,
            ),
            cap in 0usize..5000,
        ) {
            let mut enc = Encoder::new(cap);
            let mut dec = Decoder::new(4096);
            dec.set_max_header_list_size(usize::MAX);
            for (fields, new_size) in blocks {
                if let Some(size) = new_size {
                    // Our SETTINGS_HEADER_TABLE_SIZE changes, and the peer acknowledges.
                    dec.set_max_table_size(size as usize);
                    enc.set_max_table_size(size);
                }
                let mut out = Vec::new();
                enc.encode(fields.iter().map(|(n, v)| (&n[..], &v[..])), &mut out);
                let mut got = Vec::new();
                dec.decode(&out, |n, v| got.push((n.to_vec(), v.to_vec()))).unwrap();
                proptest::prop_assert_eq!(got, fields);
                proptest::prop_assert_eq!(dec.table().size(), enc.table().size());
            }
        }
    }
}
