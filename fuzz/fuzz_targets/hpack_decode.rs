//! Arbitrary bytes as a sequence of HPACK blocks into one decoder: no panic, the table
//! within its bounds, nothing emitted past the header list limit; and whatever decodes
//! re-encodes and decodes to the same fields.
#![no_main]

use evserve::protocol::http2::hpack::{Decoder, Encoder};
use libfuzzer_sys::fuzz_target;

const LIST_LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    // The table size we advertise (0..=8160) and the block length both come from the input.
    let mut decoder = Decoder::new(usize::from(config) * 32);
    decoder.set_max_header_list_size(LIST_LIMIT);
    let mut encoder = Encoder::default();
    let mut mirror = Decoder::new(4096);
    mirror.set_max_header_list_size(usize::MAX);
    let block_len = 1 + usize::from(config % 97);
    for block in rest.chunks(block_len) {
        let mut fields = Vec::new();
        let mut listed = 0;
        let result = decoder.decode(block, |name, value| {
            listed += name.len() + value.len() + 32;
            assert!(listed <= LIST_LIMIT);
            fields.push((name.to_vec(), value.to_vec()));
        });
        assert!(decoder.table().size() <= decoder.table().max_size());
        if result.is_err() {
            // A lost table (or a refused list) ends this connection's story.
            return;
        }
        let mut encoded = Vec::new();
        encoder.encode(fields.iter().map(|(n, v)| (&n[..], &v[..])), &mut encoded);
        let mut again = Vec::new();
        mirror
            .decode(&encoded, |n, v| again.push((n.to_vec(), v.to_vec())))
            .expect("our own encoding decodes");
        assert_eq!(again, fields);
    }
});
