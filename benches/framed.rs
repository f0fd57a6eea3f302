//! Framed echo over loopback: frames per second with 1 and 50 connections, length framing,
//! 64-byte payloads. Each echoed frame is checked byte for byte (header and payload).
//!
//! Run: `cargo bench --bench framed`. File transfer throughput is measured with
//! `evserve send` (see docs/benchmarks.md).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evserve::protocol::framed::FramedConfig;
use evserve::server::{ServerConfig, ServiceSpec};
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

/// One encoded frame: a 4-byte big-endian length, then 64 payload bytes.
fn frame() -> Vec<u8> {
    let mut f = 64u32.to_be_bytes().to_vec();
    f.extend((0..64u8).map(|i| b'a' + i % 26));
    f
}

/// `conns` connections, one frame in flight on each, until `total` frames came back.
fn drive(addr: SocketAddr, conns: usize, total: u64) -> Duration {
    let frame = frame();
    let mut poll = Poll::new().unwrap();
    let mut streams: Vec<(MioStream, Vec<u8>)> = (0..conns)
        .map(|i| {
            let std = TcpStream::connect(addr).unwrap();
            std.set_nodelay(true).unwrap();
            std.set_nonblocking(true).unwrap();
            let mut s = MioStream::from_std(std);
            poll.registry()
                .register(&mut s, Token(i), Interest::READABLE)
                .unwrap();
            (s, Vec::with_capacity(256))
        })
        .collect();
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    for (s, _) in &mut streams {
        s.write_all(&frame).unwrap();
    }
    let (mut done, mut sent) = (0u64, conns as u64);
    while done < total {
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert!(!events.is_empty(), "no frame within 5 s");
        for ev in events.iter() {
            let (s, pending) = &mut streams[ev.token().0];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => panic!("server closed"),
                    Ok(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        while pending.len() >= frame.len() {
                            assert_eq!(&pending[..frame.len()], &frame[..], "wrong frame");
                            pending.drain(..frame.len());
                            done += 1;
                            if sent < total {
                                s.write_all(&frame).unwrap();
                                sent += 1;
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
        }
    }
    start.elapsed()
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
            b.iter_custom(|iters| drive(addr, conns, iters * 1000))
        });
    }
    g.finish();
    drop(running);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
