//! Throughput of the frame codecs on in-memory buffers, no sockets: how fast the protocol
//! layer can cut a stream into frames (decode) and build one (encode), for small messages
//! (64 B, counted in frames per second) and large ones (64 KiB, counted in bytes per second).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evserve::protocol::frame::{Decoder, Encoder, LengthCodec, LineCodec};

/// (payload size, frames per buffer, group name): about 64 KiB and 1 MiB of payload.
const CASES: [(usize, usize, &str); 2] = [(64, 1024, "64B"), (64 * 1024, 16, "64KiB")];

/// A payload with no `\n`, so it frames as a line too.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn throughput(len: usize, count: usize) -> Throughput {
    if len < 1024 {
        Throughput::Elements(count as u64)
    } else {
        Throughput::Bytes((len * count) as u64)
    }
}

/// Decodes every frame in `buf`, as a session's input loop does; returns the payload bytes.
macro_rules! decode_all {
    ($codec:expr, $buf:expr) => {{
        let (mut codec, mut rest, mut bytes) = ($codec, &$buf[..], 0);
        while let Ok(Some(frame)) = codec.decode(rest) {
            bytes += black_box(frame.payload).len();
            rest = &rest[frame.consumed..];
        }
        bytes
    }};
}

fn decode(c: &mut Criterion) {
    for (len, count, name) in CASES {
        let data = payload(len);
        let (mut length, mut line) = (Vec::new(), Vec::new());
        for _ in 0..count {
            LengthCodec::default().encode(&data, &mut length).unwrap();
            LineCodec::default().encode(&data, &mut line).unwrap();
        }
        let mut group = c.benchmark_group(format!("decode/{name}"));
        group.throughput(throughput(len, count));
        group.bench_function("length", |b| {
            b.iter(|| decode_all!(LengthCodec::default(), black_box(&length)))
        });
        group.bench_function("line", |b| {
            b.iter(|| decode_all!(LineCodec::default(), black_box(&line)))
        });
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    for (len, count, name) in CASES {
        let data = payload(len);
        // One output buffer, reused: steady state, as with a connection's output buffer.
        let mut out = Vec::with_capacity((len + 4) * count);
        let mut group = c.benchmark_group(format!("encode/{name}"));
        group.throughput(throughput(len, count));
        group.bench_function("length", |b| {
            let codec = LengthCodec::default();
            b.iter(|| {
                out.clear();
                for _ in 0..count {
                    codec.encode(black_box(&data), &mut out).unwrap();
                }
                out.len()
            })
        });
        group.bench_function("line", |b| {
            let codec = LineCodec::default();
            b.iter(|| {
                out.clear();
                for _ in 0..count {
                    codec.encode(black_box(&data), &mut out).unwrap();
                }
                out.len()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
