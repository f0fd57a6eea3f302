//! Servers inside the test process: a [`Reactor`] on its own thread serving sessions written
//! for the test, and the server's own services ([`every_service`]) for the load generator.
//!
//! The integration tests include this file as `util::inproc`; the binary's unit tests of the
//! load generator (`src/load/live_tests.rs`) include the same file with `#[path]`, so it
//! names the library only as `evserve::` and nothing of `util`. Every address is
//! 127.0.0.1:0, so tests run in parallel without colliding.

#![allow(dead_code)] // each test file uses a different part of this module

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use evserve::config::{Limits, SocketOptions};
use evserve::protocol::framed::FramedConfig;
use evserve::protocol::http::HttpConfig;
use evserve::reactor::{Handle, Reactor};
use evserve::server::{self, ServerConfig, ServiceSpec};
use evserve::session::Service;
use evserve::stats::Stats;

/// Read and write timeout of the sockets [`InProcess::connect`] opens: a stalled server fails
/// the test instead of hanging it.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A reactor on its own thread, serving listeners on 127.0.0.1:0; stopped and joined on drop.
pub struct InProcess {
    /// The bound addresses, one per service, in the order given.
    pub addrs: Vec<SocketAddr>,
    /// Stops the reactor (gracefully: see `Handle::stop`).
    pub handle: Handle,
    /// The reactor's counters: what a test waits on instead of a sleep.
    pub stats: Arc<Stats>,
    thread: Option<JoinHandle<()>>,
}

impl InProcess {
    /// Serves what `service` makes (called on the reactor's thread) with `limits`.
    pub fn start(
        limits: Limits,
        service: impl FnOnce() -> Box<dyn Service> + Send + 'static,
    ) -> InProcess {
        InProcess::start_all(limits, move || vec![service()])
    }

    /// Serves each service `services` makes on a listener of its own, in one reactor.
    pub fn start_all(
        limits: Limits,
        services: impl FnOnce() -> Vec<Box<dyn Service>> + Send + 'static,
    ) -> InProcess {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut reactor = Reactor::new(limits, SocketOptions::default()).expect("a reactor");
            let addrs = services()
                .into_iter()
                .map(|service| {
                    reactor
                        .listen(SocketAddr::from(([127, 0, 0, 1], 0)), service)
                        .expect("listen on 127.0.0.1:0")
                })
                .collect();
            tx.send((addrs, reactor.handle(), reactor.stats()))
                .expect("the test waits for the addresses");
            reactor.run().expect("the reactor runs");
        });
        let (addrs, handle, stats) = rx.recv().expect("the reactor started");
        InProcess {
            addrs,
            handle,
            stats,
            thread: Some(thread),
        }
    }

    /// The first listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// A connection to the first listener, with both timeouts set to [`TIMEOUT`].
    pub fn connect(&self) -> TcpStream {
        connect(self.addr())
    }

    /// Waits until `ok` holds of the counters (see [`wait_until`]).
    pub fn wait(&self, what: &str, ok: impl Fn(&Stats) -> bool) {
        wait_until(what, || ok(&self.stats));
    }

    /// Stops the reactor and waits for its thread, failing the test if it panicked.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.handle.stop();
        if let Some(thread) = self.thread.take() {
            let joined = thread.join();
            // A second panic while the test unwinds would abort and hide the first.
            if !thread::panicking() {
                joined.expect("the reactor thread panicked");
            }
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits until `ok` holds, checking every millisecond, and fails the test (saying it waited
/// for `what`) if it does not within 10 s: the wait for an event (a counter moving, a
/// socket's state) that a test would otherwise guess at with a sleep.
pub fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + TIMEOUT;
    while !ok() {
        assert!(Instant::now() < until, "waited {TIMEOUT:?} for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A TCP connection to `addr` with both timeouts set to [`TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(TIMEOUT))
        .expect("set a read timeout");
    s.set_write_timeout(Some(TIMEOUT))
        .expect("set a write timeout");
    s
}

/// The server's own echo, UDP echo, length-framed, line-framed and HTTP services, in that
/// order (`Running::addrs`), on one reactor: what the load generator is tested against.
pub fn every_service() -> server::Running {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    server::spawn(ServerConfig {
        services: vec![
            ServiceSpec::Echo(any),
            ServiceSpec::UdpEcho(any),
            ServiceSpec::Framed(any, FramedConfig::length()),
            ServiceSpec::Framed(any, FramedConfig::line()),
            ServiceSpec::Http(
                any,
                Box::new(HttpConfig {
                    root: std::env::temp_dir(),
                    access_log: false,
                    ..HttpConfig::default()
                }),
            ),
        ],
        ..ServerConfig::default()
    })
    .expect("start the server")
}

/// A stand-in server on 127.0.0.1:0 that serves every connection on a thread of its own with
/// `serve`: one that misbehaves on purpose, as no real server would.
pub fn tiny_server(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    let addr = listener.local_addr().expect("the bound address");
    let serve = Arc::new(serve);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let serve = Arc::clone(&serve);
            thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// Answers every request head found in the stream, pipelined ones included, with what
/// `answer` returns for it; closes after answering one that asked for it. Bodies are not
/// read: the requests it serves have none.
pub fn answer_heads(mut s: TcpStream, mut answer: impl FnMut() -> &'static [u8]) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut out = Vec::new();
        let mut close = false;
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = pending.drain(..end + 4).collect();
            out.extend_from_slice(answer());
            if head.windows(17).any(|w| w == b"Connection: close") {
                close = true;
                break;
            }
        }
        if s.write_all(&out).is_err() || close {
            return;
        }
    }
}
