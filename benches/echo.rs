//! Echo throughput over loopback: evserve against a tokio `current_thread` echo server.
//!
//! Each group measures one case with two functions, `evserve` and `tokio`, driven by the same
//! client code, so the ratio evserve/tokio reads straight off one report. Servers run
//! in-process on their own threads; every reply is checked, so a wrong answer cannot pass
//! for throughput.
//!
//! * `tcp_echo_64B_1conn` — round trips per second, one connection, closed loop.
//! * `tcp_echo_64B_50conn` — 50 connections with one message each in flight, driven from one
//!   mio loop so the client does not serialize them.
//! * `tcp_bulk_64KiB` — bytes per second of 64 KiB writes streamed through echo.
//! * `udp_echo_64B` — datagrams per second with 16 in flight.
//!
//! Run: `cargo bench --bench echo`; HTML reports land in `target/criterion/`.

#[path = "peers/client.rs"]
mod client;
#[path = "peers/tokio_echo.rs"]
mod tokio_echo;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evserve::server::{ServerConfig, ServiceSpec};

const MSG: [u8; 64] = *b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn servers() -> Vec<(&'static str, SocketAddr, SocketAddr)> {
    let any = "127.0.0.1:0".parse().unwrap();
    let running = evserve::server::spawn(ServerConfig {
        services: vec![ServiceSpec::Echo(any), ServiceSpec::UdpEcho(any)],
        ..ServerConfig::default()
    })
    .expect("start evserve");
    let (tcp, udp) = (running.addrs[0], running.addrs[1]);
    std::mem::forget(running); // serves until the benchmark process exits
    let (ttcp, tudp) = tokio_echo::spawn();
    vec![("evserve", tcp, udp), ("tokio", ttcp, tudp)]
}

fn round_trips(addr: SocketAddr, iters: u64) -> Duration {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut got = [0u8; 64];
    let start = Instant::now();
    for _ in 0..iters {
        s.write_all(&MSG).unwrap();
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, MSG);
    }
    start.elapsed()
}

/// Takes complete 64-byte echoes of `MSG`.
fn take_echoes(received: &mut Vec<u8>) -> u64 {
    let whole = received.len() / MSG.len();
    for reply in received.chunks_exact(MSG.len()) {
        assert_eq!(reply, MSG, "wrong echo");
    }
    received.drain(..whole * MSG.len());
    whole as u64
}

fn bulk(addr: SocketAddr, iters: u64, chunk: &'static [u8]) -> Duration {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut writer = s.try_clone().unwrap();
    let start = Instant::now();
    let w = std::thread::spawn(move || {
        for _ in 0..iters {
            writer.write_all(chunk).unwrap();
        }
    });
    let mut left = iters as usize * chunk.len();
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let n = s.read(&mut buf[..left.min(1 << 16)]).unwrap();
        assert!(n > 0, "server closed");
        left -= n;
    }
    w.join().unwrap();
    start.elapsed()
}

fn udp_round_trips(addr: SocketAddr, total: u64) -> Duration {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let window = 16u64.min(total);
    let mut buf = [0u8; 128];
    let start = Instant::now();
    for _ in 0..window {
        s.send(&MSG).unwrap();
    }
    let (mut done, mut sent) = (0u64, window);
    while done < total {
        match s.recv(&mut buf) {
            Ok(n) => {
                assert_eq!(&buf[..n], &MSG[..]);
                done += 1;
                if sent < total {
                    s.send(&MSG).unwrap();
                    sent += 1;
                }
            }
            // A lost datagram: refill its slot. Only replies count.
            Err(_) => {
                s.send(&MSG).unwrap();
            }
        }
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let servers = servers();
    static CHUNK: [u8; 65536] = [0x5a; 65536];

    let mut g = c.benchmark_group("tcp_echo_64B_1conn");
    g.throughput(Throughput::Elements(1));
    for (name, tcp, _) in &servers {
        g.bench_function(*name, |b| b.iter_custom(|iters| round_trips(*tcp, iters)));
    }
    g.finish();

    let mut g = c.benchmark_group("tcp_echo_64B_50conn");
    g.throughput(Throughput::Elements(1000));
    for (name, tcp, _) in &servers {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| client::closed_loop(*tcp, 50, &MSG, 1, iters * 1000, take_echoes))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("tcp_bulk_64KiB");
    g.throughput(Throughput::Bytes(CHUNK.len() as u64));
    for (name, tcp, _) in &servers {
        g.bench_function(*name, |b| b.iter_custom(|iters| bulk(*tcp, iters, &CHUNK)));
    }
    g.finish();

    let mut g = c.benchmark_group("udp_echo_64B");
    g.throughput(Throughput::Elements(1));
    for (name, _, udp) in &servers {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| udp_round_trips(*udp, iters))
        });
    }
    g.finish();
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
