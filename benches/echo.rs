//! Echo throughput over loopback: evserve against a tokio `current_thread` echo server.
//!
//! Each group measures one case with two functions, `evserve` and `tokio`, driven by the same
//! client code, so only the server differs. Servers run in-process on their own threads on
//! 127.0.0.1; every reply is checked, so a wrong answer cannot pass for throughput.
//!
//! * `tcp_echo_64B_1conn` — round trips per second, one connection, closed loop.
//! * `tcp_echo_64B_50conn` — 50 connections with one message each in flight, driven from one
//!   mio loop so the client does not serialize them.
//! * `tcp_bulk_64KiB` — bytes per second of 64 KiB writes streamed through echo.
//! * `udp_echo_64B` — datagrams per second with 16 in flight.
//!
//! Reading the ratio: divide evserve's `thrpt` by tokio's in the same group of the same run
//! (above 1, evserve is faster). Both servers share the machine with the client, and on a
//! busy 2-core box the run-to-run spread is 10 % or more, so compare within one run, never
//! across runs. Every load loop is bounded in time as well as count: a server that stops
//! answering fails the benchmark within seconds instead of hanging it.
//!
//! Run: `cargo bench --bench echo`; HTML reports land in `target/criterion/`.

#[path = "peers/client.rs"]
mod client;
#[path = "peers/tokio_echo.rs"]
mod tokio_echo;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use evserve::server::{Running, ServerConfig, ServiceSpec};

const MSG: [u8; 64] = *b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// How long any single socket operation may wait before the benchmark fails: far above a
/// loopback round trip, short enough that a stuck server ends the run instead of hanging it.
const STUCK: Duration = Duration::from_secs(5);

/// How long a UDP reply may take before its datagram counts as lost and is sent again.
const UDP_LOST: Duration = Duration::from_millis(200);

/// A TCP connection whose blocking reads and writes give up after `STUCK`.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(STUCK)).expect("read timeout");
    s.set_write_timeout(Some(STUCK)).expect("write timeout");
    s
}

/// Starts both servers; returns evserve's handle (stopped at the end, so a reactor error
/// surfaces) and `(name, tcp, udp)` for each. The tokio peer lives until the process exits.
fn servers() -> (Running, Vec<(&'static str, SocketAddr, SocketAddr)>) {
    let any = "127.0.0.1:0".parse().unwrap();
    let running = evserve::server::spawn(ServerConfig {
        services: vec![ServiceSpec::Echo(any), ServiceSpec::UdpEcho(any)],
        ..ServerConfig::default()
    })
    .expect("start evserve");
    let (tcp, udp) = (running.addrs[0], running.addrs[1]);
    let (ttcp, tudp) = tokio_echo::spawn();
    (running, vec![("evserve", tcp, udp), ("tokio", ttcp, tudp)])
}

fn round_trips(addr: SocketAddr, iters: u64) -> Duration {
    let mut s = connect(addr);
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
    // The echo check below relies on the chunk being one byte repeated.
    assert!(chunk.iter().all(|&b| b == chunk[0]));
    // The clone shares the socket, and with it the timeouts set by `connect`.
    let mut s = connect(addr);
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
        // Every byte sent is the same, so any run of the echo matches the chunk's start. A slice
        // comparison is a `memcmp`; a byte-by-byte `all` made the client the bottleneck.
        assert!(buf[..n] == chunk[..n], "wrong echo");
        left -= n;
    }
    w.join().unwrap();
    start.elapsed()
}

/// Keeps `WINDOW` datagrams in flight until `total` replies have come back. A reply is only
/// counted when it is the 64 bytes sent; a datagram whose reply is late by `UDP_LOST` is taken
/// as lost (loopback drops only on a full receive buffer) and the whole window is resent.
fn udp_round_trips(addr: SocketAddr, total: u64) -> Duration {
    const WINDOW: u64 = 16;
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(addr).unwrap();
    s.set_read_timeout(Some(UDP_LOST)).unwrap();
    let mut buf = [0u8; 128];
    let start = Instant::now();
    let (mut done, mut sent) = (0u64, 0u64);
    let mut last_reply = start;
    while done < total {
        // Sent but not answered; never more than the window, never past `total`.
        while sent < total && sent - done < WINDOW {
            s.send(&MSG).unwrap();
            sent += 1;
        }
        match s.recv(&mut buf) {
            Ok(n) => {
                assert_eq!(&buf[..n], &MSG[..], "wrong echo");
                // A late reply to a datagram already resent may push `done` past `sent`.
                done += 1;
                sent = sent.max(done);
                last_reply = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                assert!(
                    last_reply.elapsed() < STUCK,
                    "no UDP reply within {STUCK:?}"
                );
                // Whatever is outstanding is taken as lost: resend all of it.
                sent = done;
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let (evserve, servers) = servers();
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
    evserve.stop().expect("evserve reactor");
}

criterion_group! {
    name = benches;
    config = client::criterion();
    targets = bench
}
criterion_main!(benches);
