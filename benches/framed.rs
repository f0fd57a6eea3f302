//! Framed echo over loopback: frames per second with 1 and 50 connections, length framing,
//! 64-byte payloads. Each echoed frame is checked byte for byte (header and payload).
//!
//! Run: `cargo bench --bench framed`. File transfer throughput is measured with
//! `evserve send` (see docs/benchmarks.md).

#[path = "peers/client.rs"]
mod client;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evserve::protocol::framed::FramedConfig;
use evserve::server::{ServerConfig, ServiceSpec};

/// One encoded frame: a 4-byte big-endian length, then 64 payload bytes.
fn frame() -> Vec<u8> {
    let mut f = 64u32.to_be_bytes().to_vec();
    f.extend((0..64u8).map(|i| b'a' + i % 26));
    f
}

/// Takes complete echoed frames, each checked against the one sent.
fn take_frames(received: &mut Vec<u8>) -> u64 {
    let frame = frame();
    let whole = received.len() / frame.len();
    for reply in received.chunks_exact(frame.len()) {
        assert_eq!(reply, &frame[..], "wrong frame");
    }
    received.drain(..whole * frame.len());
    whole as u64
}

fn bench(c: &mut Criterion) {
    let running = evserve::server::spawn(ServerConfig {
        services: vec![ServiceSpec::Framed(
            "127.0.0.1:0".parse().unwrap(),
            FramedConfig::length(),
        )],
        ..ServerConfig::default()
    })
    .expect("start evserve");
    let addr = running.addrs[0];
    let mut g = c.benchmark_group("framed_echo_64B");
    g.throughput(Throughput::Elements(1000));
    for conns in [1usize, 50] {
        g.bench_function(format!("{conns}conn"), |b| {
            b.iter_custom(|iters| {
                client::closed_loop(addr, conns, &frame(), 1, iters * 1000, take_frames)
            })
        });
    }
    g.finish();
    drop(running);
}

criterion_group! {
    name = benches;
    config = client::criterion();
    targets = bench
}
criterion_main!(benches);
