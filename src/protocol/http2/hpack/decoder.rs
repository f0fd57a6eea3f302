//! The HPACK decoder: one per connection, fed each whole field block in order.

use super::table::{DynamicTable, entry_size, lookup};
use super::{Error, decode_int, huffman};

/// The default bound on a decoded header list (name + value + 32 per field), and what
/// evserve advertises as `SETTINGS_MAX_HEADER_LIST_SIZE` unless configured otherwise.
pub(crate) const DEFAULT_MAX_HEADER_LIST_SIZE: usize = 16 * 1024;

/// Where a decoded string is: in the block itself (a plain literal) or in the scratch
/// buffer (a Huffman literal, decoded).
#[derive(Clone, Copy)]
enum Str {
    Block(usize, usize),
    Scratch(usize, usize),
}

impl Str {
    fn get<'a>(self, block: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        match self {
            Str::Block(start, end) => &block[start..end],
            Str::Scratch(start, end) => &scratch[start..end],
        }
    }
}

/// What a literal representation does with the dynamic table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Indexing {
    /// `01`: add the field to the table.
    Incremental,
    /// `0000` and `0001`: leave the table alone.
    None,
}

/// An HPACK decoder and its dynamic table.
///
/// Limits, each checked before anything is copied: the dynamic table's size (what the
/// peer's encoder may use, at most the `SETTINGS_HEADER_TABLE_SIZE` we advertise), and the
/// decoded header list size ([`Decoder::set_max_header_list_size`]). An HPACK bomb (a small
/// block referring to one large entry many times) costs a table lookup and an addition per
/// reference once the list is over its limit: nothing is copied or passed on.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// The largest table size the peer may switch to: our SETTINGS_HEADER_TABLE_SIZE.
    max_table_size: usize,
    /// The bound on name + value + 32 summed over a block's fields.
    max_list_size: usize,
    /// Set when we lowered `max_table_size` below the table's size: the next block must
    /// start with a size update.
    update_required: bool,
    /// Huffman-decoded strings of the current field, reused across fields and blocks.
    scratch: Vec<u8>,
    /// A field being added to the table (its name may come from the table itself).
    pending: Vec<u8>,
}

impl Decoder {
    /// A decoder whose peer may use a dynamic table of up to `max_table_size` octets: the
    /// `SETTINGS_HEADER_TABLE_SIZE` we advertise (4096 unless we say otherwise). The header
    /// list limit starts at `DEFAULT_MAX_HEADER_LIST_SIZE`.
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_table_size,
            max_list_size: DEFAULT_MAX_HEADER_LIST_SIZE,
            update_required: false,
            scratch: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Sets the bound on a block's decoded size (the sum over its fields of name + value +
    /// 32 octets, RFC 9113's `SETTINGS_MAX_HEADER_LIST_SIZE` rule). A block over it yields
    /// [`Error::HeaderListTooLarge`].
    pub fn set_max_header_list_size(&mut self, max: usize) {
        self.max_list_size = max;
    }

    /// Changes the largest table size the peer may use: call it when the peer acknowledges
    /// a SETTINGS frame with a new `SETTINGS_HEADER_TABLE_SIZE`. When it is lower than the
    /// table's current maximum, the table shrinks now and the peer's next block must start
    /// with a size update no larger (else [`Error::MissingSizeUpdate`]).
    #[cfg(test)]
    pub(crate) fn set_max_table_size(&mut self, max: usize) {
        if max < self.table.max_size() {
            self.table.set_max_size(max);
            self.update_required = true;
        }
        self.max_table_size = max;
    }

    /// The dynamic table (for inspection: sizes in `/stats` and tests).
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one whole field block (the HEADERS fragment and its CONTINUATIONs joined),
    /// passing each field to `emit` as `(name, value)`, in order.
    ///
    /// The names and values are raw bytes as the peer sent them: checking them (lowercase
    /// names, pseudo-fields first, no connection-specific fields) is the caller's job, and
    /// the caller lets the block be decoded to its end even when it will refuse the
    /// request, since only decoding every block keeps the table in sync. On
    /// [`Error::HeaderListTooLarge`] the block was decoded to its end (the fields past the
    /// limit were not emitted); on any other error the connection is lost. Never panics.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut emit: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), Error> {
        let mut pos = 0;
        let mut list_size = 0usize;
        let mut at_start = true;
        while let Some(&first) = block.get(pos) {
            if first & 0xe0 == 0x20 {
                self.size_update(block, &mut pos, at_start)?;
                continue;
            }
            if at_start && self.update_required {
                return Err(Error::MissingSizeUpdate);
            }
            at_start = false;
            if first & 0x80 != 0 {
                let index = decode_int(block, &mut pos, 7)? as usize;
                let (name, value) = lookup(&self.table, index).ok_or(Error::InvalidIndex)?;
                // The whole bomb defence: an addition, and no emit once over the limit.
                list_size = list_size.saturating_add(entry_size(name, value));
                if list_size <= self.max_list_size {
                    emit(name, value);
                }
            } else {
                let (prefix, indexing) = match first & 0x40 {
                    0 => (4, Indexing::None),
                    _ => (6, Indexing::Incremental),
                };
                let field = Field { prefix, indexing };
                self.literal(block, &mut pos, field, &mut list_size, &mut emit)?;
            }
        }
        match list_size > self.max_list_size {
            true => Err(Error::HeaderListTooLarge),
            false => Ok(()),
        }
    }

    /// A dynamic table size update (`001xxxxx`): only before the block's first field, and
    /// never above what we advertise.
    fn size_update(&mut self, block: &[u8], pos: &mut usize, at_start: bool) -> Result<(), Error> {
        let size = decode_int(block, pos, 5)? as usize;
        if !at_start {
            return Err(Error::LateSizeUpdate);
        }
        if size > self.max_table_size {
            return Err(Error::SizeUpdateTooLarge);
        }
        self.table.set_max_size(size);
        self.update_required = false;
        Ok(())
    }

    /// A literal field: name by index or as a string, then the value string.
    fn literal(
        &mut self,
        block: &[u8],
        pos: &mut usize,
        field: Field,
        list_size: &mut usize,
        emit: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<(), Error> {
        let name_index = decode_int(block, pos, field.prefix)? as usize;
        self.scratch.clear();
        let name = match name_index {
            0 => Some(self.read_string(block, pos)?),
            _ => None,
        };
        let value = self.read_string(block, pos)?;
        let name = match name {
            Some(name) => name.get(block, &self.scratch),
            None => {
                lookup(&self.table, name_index)
                    .ok_or(Error::InvalidIndex)?
                    .0
            }
        };
        let value = value.get(block, &self.scratch);
        *list_size = list_size.saturating_add(entry_size(name, value));
        if *list_size <= self.max_list_size {
            emit(name, value);
        }
        if field.indexing == Indexing::Incremental {
            // Copied first: the name may be an entry that this insertion evicts.
            self.pending.clear();
            self.pending.extend_from_slice(name);
            self.pending.extend_from_slice(value);
            let (name, value) = self.pending.split_at(name.len());
            self.table.insert(name, value);
        }
        Ok(())
    }

    /// A string literal at `*pos`: a length no longer than what is left of the block, then
    /// the bytes, Huffman-decoded into the scratch buffer if the H bit is set.
    fn read_string(&mut self, block: &[u8], pos: &mut usize) -> Result<Str, Error> {
        let huffman = block.get(*pos).is_some_and(|b| b & 0x80 != 0);
        let len = decode_int(block, pos, 7)? as usize;
        let start = *pos;
        let end = match start.checked_add(len) {
            Some(end) if end <= block.len() => end,
            _ => return Err(Error::Truncated),
        };
        *pos = end;
        if !huffman {
            return Ok(Str::Block(start, end));
        }
        let from = self.scratch.len();
        huffman::decode(&block[start..end], &mut self.scratch)?;
        Ok(Str::Scratch(from, self.scratch.len()))
    }
}

/// How a literal representation is laid out.
#[derive(Clone, Copy)]
struct Field {
    /// Bits of the name index's prefix: 6 with incremental indexing, else 4.
    prefix: u8,
    indexing: Indexing,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Bytes from the RFC's hex dumps ("8286 8441 …").
    pub(crate) fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    pub(crate) type Fields = Vec<(String, String)>;

    pub(crate) fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn decode_all(d: &mut Decoder, block: &[u8]) -> Result<Fields, Error> {
        let mut out = Vec::new();
        d.decode(block, |n, v| {
            out.push((
                String::from_utf8_lossy(n).into(),
                String::from_utf8_lossy(v).into(),
            ))
        })
        .map(|()| out)
    }

    fn table_of(d: &Decoder) -> Fields {
        let t = d.table();
        (0..t.len())
            .map(|i| {
                let (n, v) = t.get(i).unwrap();
                (
                    String::from_utf8_lossy(n).into(),
                    String::from_utf8_lossy(v).into(),
                )
            })
            .collect()
    }

    #[test]
    fn rfc_7541_c2_literal_and_indexed_fields() {
        let cases = [
            (
                "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                ("custom-key", "custom-header"),
                55,
            ),
            (
                "040c 2f73 616d 706c 652f 7061 7468",
                (":path", "/sample/path"),
                0,
            ),
            (
                "1008 7061 7373 776f 7264 0673 6563 7265 74",
                ("password", "secret"),
                0,
            ),
            ("82", (":method", "GET"), 0),
        ];
        for (block, field, size) in cases {
            let mut d = Decoder::new(4096);
            assert_eq!(decode_all(&mut d, &hex(block)).unwrap(), fields(&[field]));
            assert_eq!(d.table().size(), size);
        }
    }

    /// C.3 and C.4: three requests on one connection, one decoder.
    pub(crate) fn request_steps(huffman: bool) -> Vec<(Vec<u8>, Fields, Fields, usize)> {
        let blocks = match huffman {
            false => [
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "8286 84be 5808 6e6f 2d63 6163 6865",
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            ],
            true => [
                "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                "8286 84be 5886 a8eb 1064 9cbf",
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ],
        };
        let base = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ];
        let authority = (":authority", "www.example.com");
        let cache = ("cache-control", "no-cache");
        let custom = ("custom-key", "custom-value");
        let third = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            authority,
            custom,
        ];
        vec![
            (hex(blocks[0]), fields(&base), fields(&[authority]), 57),
            (
                hex(blocks[1]),
                fields(&[base[0], base[1], base[2], base[3], cache]),
                fields(&[cache, authority]),
                110,
            ),
            (
                hex(blocks[2]),
                fields(&third),
                fields(&[custom, cache, authority]),
                164,
            ),
        ]
    }

    /// C.5 and C.6: three responses with a 256-octet table, evicting.
    pub(crate) fn response_steps(huffman: bool) -> Vec<(Vec<u8>, Fields, Fields, usize)> {
        let blocks = match huffman {
            false => [
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                 6c65 2e63 6f6d",
                "4803 3330 37c1 c0bf",
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                 3d31",
            ],
            true => [
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                "4883 640e ffc1 c0bf",
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ],
        };
        let s302 = (":status", "302");
        let s307 = (":status", "307");
        let private = ("cache-control", "private");
        let date1 = ("date", "Mon, 21 Oct 2013 20:13:21 GMT");
        let date2 = ("date", "Mon, 21 Oct 2013 20:13:22 GMT");
        let location = ("location", "https://www.example.com");
        let gzip = ("content-encoding", "gzip");
        let cookie = (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        );
        vec![
            (
                hex(blocks[0]),
                fields(&[s302, private, date1, location]),
                fields(&[location, date1, private, s302]),
                222,
            ),
            (
                hex(blocks[1]),
                fields(&[s307, private, date1, location]),
                fields(&[s307, location, date1, private]),
                222,
            ),
            (
                hex(blocks[2]),
                fields(&[(":status", "200"), private, date2, location, gzip, cookie]),
                fields(&[cookie, gzip, date2]),
                215,
            ),
        ]
    }

    fn run_steps(table_size: usize, steps: Vec<(Vec<u8>, Fields, Fields, usize)>) {
        let mut d = Decoder::new(table_size);
        for (i, (block, want, want_table, want_size)) in steps.into_iter().enumerate() {
            assert_eq!(decode_all(&mut d, &block).unwrap(), want, "step {i}");
            assert_eq!(table_of(&d), want_table, "table after step {i}");
            assert_eq!(d.table().size(), want_size, "size after step {i}");
        }
    }

    #[test]
    fn rfc_7541_c3_requests_without_huffman() {
        run_steps(4096, request_steps(false));
    }

    #[test]
    fn rfc_7541_c4_requests_with_huffman() {
        run_steps(4096, request_steps(true));
    }

    #[test]
    fn rfc_7541_c5_responses_without_huffman() {
        run_steps(256, response_steps(false));
    }

    #[test]
    fn rfc_7541_c6_responses_with_huffman() {
        run_steps(256, response_steps(true));
    }

    #[test]
    fn every_cut_of_a_block_errs_or_decodes_a_prefix() {
        for (block, want, _, _) in request_steps(true).into_iter().take(1) {
            for cut in 0..block.len() {
                let mut d = Decoder::new(4096);
                match decode_all(&mut d, &block[..cut]) {
                    Ok(got) => assert_eq!(got[..], want[..got.len()], "cut {cut}"),
                    Err(e) => assert!(
                        matches!(e, Error::Truncated | Error::Huffman),
                        "cut {cut}: {e:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn index_errors() {
        let mut d = Decoder::new(4096);
        assert_eq!(decode_all(&mut d, &[0x80]), Err(Error::InvalidIndex));
        // 62 is the first dynamic entry; the table is empty.
        assert_eq!(decode_all(&mut d, &[0x80 | 62]), Err(Error::InvalidIndex));
        assert_eq!(
            decode_all(&mut d, &[0x80 | 61]).unwrap(),
            fields(&[("www-authenticate", "")])
        );
        // A literal whose name index is past the tables.
        assert_eq!(
            decode_all(&mut d, &[0x40 | 62, 0x00]),
            Err(Error::InvalidIndex)
        );
        // A string longer than what is left.
        assert_eq!(
            decode_all(&mut d, &[0x40, 0x03, b'a', b'b']),
            Err(Error::Truncated)
        );
        // [0x3f] (a size update with a truncated integer) is no panic.
        assert_eq!(decode_all(&mut d, &[0x3f]), Err(Error::Truncated));
        assert_eq!(decode_all(&mut d, &[0x40, 0x81, 0xff]), Err(Error::Huffman));
    }

    #[test]
    fn size_updates_at_start_only_and_bounded() {
        let mut d = Decoder::new(4096);
        // 0x3f 0xe1 0x1f = 31 + 0x61 + (0x1f << 7) = 4096: allowed; one more is not.
        assert_eq!(
            decode_all(&mut d, &[0x3f, 0xe1, 0x1f, 0x82]).unwrap().len(),
            1
        );
        assert_eq!(
            decode_all(&mut d, &[0x3f, 0xe2, 0x1f]),
            Err(Error::SizeUpdateTooLarge)
        );
        // Two updates at the start are fine; after a field is not.
        assert_eq!(
            decode_all(&mut d, &[0x20, 0x3f, 0x01, 0x82]).unwrap().len(),
            1
        );
        assert_eq!(d.table().max_size(), 32);
        assert_eq!(
            decode_all(&mut d, &[0x82, 0x20]),
            Err(Error::LateSizeUpdate)
        );
    }

    #[test]
    fn a_lowered_limit_requires_an_update() {
        let mut d = Decoder::new(4096);
        decode_all(
            &mut d,
            &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
        )
        .unwrap();
        d.set_max_table_size(0);
        assert!(d.table().is_empty());
        assert_eq!(decode_all(&mut d, &[0x82]), Err(Error::MissingSizeUpdate));
        assert_eq!(decode_all(&mut d, &[0x20, 0x82]).unwrap().len(), 1);
        assert_eq!(decode_all(&mut d, &[0x82]).unwrap().len(), 1);
    }

    #[test]
    fn header_list_limit_one_past_the_edge() {
        // ":method: GET" counts 7 + 3 + 32 = 42.
        let mut d = Decoder::new(4096);
        d.set_max_header_list_size(84);
        assert_eq!(decode_all(&mut d, &[0x82, 0x82]).unwrap().len(), 2);
        d.set_max_header_list_size(83);
        assert_eq!(
            decode_all(&mut d, &[0x82, 0x82]),
            Err(Error::HeaderListTooLarge)
        );
        // Each block counts from zero.
        assert_eq!(decode_all(&mut d, &[0x82]).unwrap().len(), 1);
    }

    #[test]
    fn a_list_too_large_still_keeps_the_table_in_sync() {
        let mut d = Decoder::new(4096);
        d.set_max_header_list_size(50);
        // Over the limit with the first field, then a field added to the table.
        let mut block = vec![0x82, 0x82];
        block.extend(hex(
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        ));
        let mut seen = 0;
        assert_eq!(
            d.decode(&block, |_, _| seen += 1),
            Err(Error::HeaderListTooLarge)
        );
        assert_eq!(seen, 1);
        assert_eq!(table_of(&d), fields(&[("custom-key", "custom-header")]));
        d.set_max_header_list_size(DEFAULT_MAX_HEADER_LIST_SIZE);
        assert_eq!(
            decode_all(&mut d, &[0x80 | 62]).unwrap(),
            fields(&[("custom-key", "custom-header")])
        );
    }

    #[test]
    fn an_hpack_bomb_hits_the_limit_and_copies_nothing_past_it() {
        // One 4 KiB - 32 entry (4064 = 32 + 10 name + 4022 value) filling the table, then
        // referenced 1000 times: 1007 bytes that would decode to about 4 MB.
        let value = vec![b'v'; 4022];
        let mut block = vec![0x40, 10];
        block.extend_from_slice(b"bomb-field");
        super::super::encode_int(value.len(), 7, 0, &mut block);
        block.extend_from_slice(&value);
        let mut d = Decoder::new(4096);
        assert_eq!(decode_all(&mut d, &block).unwrap().len(), 1);
        assert_eq!(d.table().size(), 4064);
        let bomb = vec![0x80 | 62; 1000];
        let mut emitted = 0usize;
        let result = d.decode(&bomb, |n, v| emitted += n.len() + v.len());
        assert_eq!(result, Err(Error::HeaderListTooLarge));
        // 16 KiB of list allows 4 copies of the 4064-octet field; nothing more was passed on.
        assert_eq!(emitted, 4 * 4032);
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(
            blocks in proptest::collection::vec(
                proptest::collection::vec(proptest::num::u8::ANY, 0..64), 1..4),
        ) {
            let mut d = Decoder::new(256);
            d.set_max_header_list_size(1024);
            for block in blocks {
                let _ = d.decode(&block, |_, _| {});
                proptest::prop_assert!(d.table().size() <= 256);
            }
        }
    }
}
