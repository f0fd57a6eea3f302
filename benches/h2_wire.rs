//! The HTTP/2 wire layer without sockets: HPACK-decoding a browser's request block (the
//! first on a connection, and a repeat once the table is warm), HPACK-encoding a static
//! file's response, and decoding frames.
//!
//! Run with `cargo bench --bench h2_wire`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use evserve::protocol::http2::frame;
use evserve::protocol::http2::hpack::{Decoder, Encoder};

/// What a desktop browser sends for a page, as HTTP/2 fields.
const REQUEST: [(&[u8], &[u8]); 14] = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"www.example.com"),
    (b":path", b"/articles/2024/event-loops.html?ref=front"),
    (
        b"user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ),
    (
        b"accept",
        b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ),
    (b"accept-language", b"en-US,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"),
    (b"referer", b"https://www.example.com/"),
    (
        b"cookie",
        b"session=4f2a9c0e8b7d6a5f4e3d2c1b0a998877; theme=dark",
    ),
    (b"upgrade-insecure-requests", b"1"),
    (b"sec-fetch-dest", b"document"),
    (b"if-none-match", b"\"17f3a2b4c5d6e7f8-1a2b\""),
    (b"priority", b"u=0, i"),
];

/// What evserve answers for a small static file.
const RESPONSE: [(&[u8], &[u8]); 6] = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", b"4096"),
    (b"last-modified", b"Mon, 07 Dec 2026 09:00:00 GMT"),
    (b"etag", b"\"17f3a2b4c5d6e7f8-1000\""),
    (b"accept-ranges", b"bytes"),
    (b"date", b"Mon, 07 Dec 2026 17:00:00 GMT"),
];

fn hpack(c: &mut Criterion) {
    let mut encoder = Encoder::default();
    let mut first = Vec::new();
    encoder.encode(REQUEST, &mut first);
    let mut repeat = Vec::new();
    encoder.encode(REQUEST, &mut repeat);

    let mut group = c.benchmark_group("hpack");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_request_first_block", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new(4096);
            let mut n = 0;
            decoder
                .decode(black_box(&first), |name, value| {
                    n += name.len() + value.len()
                })
                .unwrap();
            n
        })
    });
    let mut warm = Decoder::new(4096);
    warm.decode(&first, |_, _| {}).unwrap();
    group.bench_function("decode_request_warm_table", |b| {
        b.iter(|| {
            let mut n = 0;
            warm.decode(black_box(&repeat), |name, value| {
                n += name.len() + value.len()
            })
            .unwrap();
            n
        })
    });
    let mut encoder = Encoder::default();
    let mut out = Vec::with_capacity(256);
    group.bench_function("encode_response_warm_table", |b| {
        b.iter(|| {
            out.clear();
            let mut block = encoder.block(&mut out);
            block.status(200);
            for (name, value) in RESPONSE {
                block.field(name, value);
            }
            out.len()
        })
    });
    group.finish();
}

fn frames(c: &mut Criterion) {
    let mut encoder = Encoder::default();
    let mut block = Vec::new();
    encoder.encode(REQUEST, &mut block);
    let mut input = Vec::new();
    frame::encode_headers(&mut input, 1, &block, false, 16_384);
    frame::encode_data(&mut input, 1, &[b'x'; 1024], true);
    frame::encode_window_update(&mut input, 0, 1024);

    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("decode_headers_data_window_update", |b| {
        b.iter(|| {
            let mut rest = black_box(&input[..]);
            let mut n = 0;
            while let Ok(Some((_, used))) = frame::decode(rest, 16_384) {
                rest = &rest[used..];
                n += 1;
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, hpack, frames);
criterion_main!(benches);
