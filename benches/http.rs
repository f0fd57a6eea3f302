//! HTTP requests per second over loopback: evserve's `GET /plain` against a hyper 1.x server
//! on a tokio `current_thread` runtime answering the same 13-byte body.
//!
//! Each group has two functions, `evserve` and `hyper`, driven by the same client code:
//!
//! * `http_plain_1conn` — keep-alive, one request in flight on one connection.
//! * `http_plain_50conn` — 50 keep-alive connections with one request in flight each, driven
//!   from one mio loop.
//! * `http_plain_pipelined16` — one connection, batches of 16 pipelined requests.
//!
//! A reply counts only as a complete `200` with the body `Hello, World!`. For the comparison
//! with nginx and the C ceiling under wrk, see `benches/compare.sh`.

#[path = "peers/hyper_plain.rs"]
mod hyper_plain;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evserve::protocol::http::HttpConfig;
use evserve::server::{ServerConfig, ServiceSpec};
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

const REQUEST: &[u8] = b"GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const BODY: &[u8] = b"Hello, World!";

/// Counts complete `200 ... Hello, World!` responses in a byte stream, across reads.
#[derive(Default)]
struct Counter {
    buf: Vec<u8>,
}

impl Counter {
    /// Adds bytes; returns how many more responses completed.
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        self.buf.extend_from_slice(bytes);
        let mut done = 0;
        loop {
            let Some(end) = self.buf.windows(BODY.len()).position(|w| w == BODY) else {
                return done;
            };
            assert!(self.buf.starts_with(b"HTTP/1.1 200 "), "not a 200 response");
            self.buf.drain(..end + BODY.len());
            done += 1;
        }
    }
}

fn servers() -> Vec<(&'static str, SocketAddr)> {
    let config = ServerConfig {
        services: vec![ServiceSpec::Http(
            "127.0.0.1:0".parse().unwrap(),
            Box::new(HttpConfig {
                access_log: false,
                ..HttpConfig::default()
            }),
        )],
        ..ServerConfig::default()
    };
    let running = evserve::server::spawn(config).expect("start evserve");
    let addr = running.addrs[0];
    std::mem::forget(running); // serves until the benchmark process exits
    vec![("evserve", addr), ("hyper", hyper_plain::spawn())]
}

/// `conns` connections, `depth` requests in flight on each, until `total` responses.
fn drive(addr: SocketAddr, conns: usize, depth: usize, total: u64) -> Duration {
    let mut poll = Poll::new().unwrap();
    let batch: Vec<u8> = REQUEST.repeat(depth);
    let mut streams: Vec<(MioStream, Counter, u64)> = (0..conns)
        .map(|i| {
            let std = TcpStream::connect(addr).unwrap();
            std.set_nodelay(true).unwrap();
            std.set_nonblocking(true).unwrap();
            let mut s = MioStream::from_std(std);
            poll.registry()
                .register(&mut s, Token(i), Interest::READABLE)
                .unwrap();
            (s, Counter::default(), 0)
        })
        .collect();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 65536];
    let start = Instant::now();
    for (s, _, _) in &mut streams {
        s.write_all(&batch).unwrap();
    }
    let mut done = 0u64;
    while done < total {
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert!(!events.is_empty(), "no response within 5 s");
        for ev in events.iter() {
            let (s, counter, owed) = &mut streams[ev.token().0];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => panic!("server closed"),
                    Ok(n) => {
                        let got = counter.feed(&buf[..n]);
                        done += got;
                        *owed += got;
                        // Refill a whole batch once it has been answered.
                        if *owed >= depth as u64 {
                            *owed -= depth as u64;
                            s.write_all(&batch).unwrap();
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
    let servers = servers();
    for (group, conns, depth) in [
        ("http_plain_1conn", 1, 1),
        ("http_plain_50conn", 50, 1),
        ("http_plain_pipelined16", 1, 16),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(1000));
        for (name, addr) in &servers {
            g.bench_function(*name, |b| {
                b.iter_custom(|iters| drive(*addr, conns, depth, iters * 1000))
            });
        }
        g.finish();
    }
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
