//! Arbitrary bytes as a connection's input after the preface: frames are decoded one after
//! another (skipping stream errors, stopping at a connection error) without a panic, never
//! using more bytes than given.
#![no_main]

use evserve::protocol::http2::frame::{self, Scope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&config, mut rest)) = data.split_first() else {
        return;
    };
    let max_frame_size = 16_384 + u32::from(config) * 64;
    loop {
        match frame::decode(rest, max_frame_size) {
            Ok(Some((_, used))) => {
                assert!(used >= frame::HEADER_LEN && used <= rest.len());
                rest = &rest[used..];
            }
            Ok(None) => return,
            Err(e) => match e.scope {
                Scope::Connection => return,
                Scope::Stream(_) => {
                    assert!(e.frame_len() <= rest.len());
                    rest = &rest[e.frame_len()..];
                }
            },
        }
    }
});
