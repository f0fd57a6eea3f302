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

#[path = "peers/client.rs"]
mod client;
#[path = "peers/hyper_plain.rs"]
mod hyper_plain;

use std::net::SocketAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evserve::protocol::http::HttpConfig;
use evserve::server::{ServerConfig, ServiceSpec};

const REQUEST: &[u8] = b"GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const BODY: &[u8] = b"Hello, World!";

/// Takes complete `200 ... Hello, World!` responses from the front of `received`.
fn take_responses(received: &mut Vec<u8>) -> u64 {
    let mut done = 0;
    while let Some(end) = received.windows(BODY.len()).position(|w| w == BODY) {
        assert!(received.starts_with(b"HTTP/1.1 200 "), "not a 200 response");
        received.drain(..end + BODY.len());
        done += 1;
    }
    done
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
                let batch = REQUEST.repeat(depth);
                b.iter_custom(|iters| {
                    client::closed_loop(
                        *addr,
                        conns,
                        &batch,
                        depth as u64,
                        iters * 1000,
                        take_responses,
                    )
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = client::criterion();
    targets = bench
}
criterion_main!(benches);
