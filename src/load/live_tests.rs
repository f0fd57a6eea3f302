//! `evserve load` against real servers on 127.0.0.1: evserve in-process, and tiny std-thread
//! servers that misbehave on purpose. Counts must be exact, and wrong replies never count.
//! `tests/load.rs` runs the binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use crate::load::{self, Framing, HttpRequest, LoadConfig, Protocol, Report};

// The servers the integration tests use too (`tests/util/inproc.rs`), not a copy of them.
#[path = "../../tests/util/inproc.rs"]
mod inproc;
use inproc::{answer_heads, every_service, tiny_server};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// `n` requests over 4 connections, bounded by 20 s should anything hang.
fn counted(addr: SocketAddr, protocol: Protocol, n: u64) -> LoadConfig {
    LoadConfig {
        connections: 4,
        requests: Some(n),
        duration: Duration::from_secs(20),
        ..LoadConfig::new(addr, protocol)
    }
}

fn http(addr: SocketAddr, path: &str) -> Protocol {
    Protocol::Http(HttpRequest::get(&addr.to_string(), path))
}

fn assert_clean(name: &str, report: &Report, n: u64) {
    assert_eq!(report.requests, n, "{name}: {}", report.to_text());
    assert_eq!(
        (report.errors, report.timeouts, report.reconnects),
        (0, 0, 0),
        "{name}: {}",
        report.to_text()
    );
    assert_eq!(report.latency.len(), n, "{name}");
    assert!(report.received_per_sec() > 0.0, "{name}");
}

#[test]
fn every_protocol_counts_exactly_against_evserve() {
    let running = every_service();
    let [echo, udp, length, line, web] = running.addrs[..] else {
        panic!("five services")
    };
    let pipelined = |mut c: LoadConfig, p| {
        c.pipeline = p;
        c
    };
    let cases = [
        ("echo", counted(echo, Protocol::Echo, 2000)),
        ("echo x4", pipelined(counted(echo, Protocol::Echo, 2000), 4)),
        ("udp", counted(udp, Protocol::Udp, 2000)),
        ("udp x4", pipelined(counted(udp, Protocol::Udp, 2000), 4)),
        (
            "length",
            counted(length, Protocol::Framed(Framing::Length), 2000),
        ),
        (
            "line x2",
            pipelined(
                counted(line, Protocol::Framed(Framing::Line(b'\n')), 2000),
                2,
            ),
        ),
        ("http", counted(web, http(web, "/plain"), 2000)),
        (
            "http x8",
            pipelined(counted(web, http(web, "/plain"), 2000), 8),
        ),
    ];
    for (name, cfg) in cases {
        let report = load::run(&cfg).unwrap();
        assert_clean(name, &report, 2000);
    }
}

#[test]
fn threads_share_the_connections_and_the_count() {
    let running = every_service();
    let mut cfg = counted(running.addrs[0], Protocol::Echo, 2001);
    cfg.threads = 3;
    cfg.connections = 5;
    let report = load::run(&cfg).unwrap();
    assert_clean("echo, 3 threads", &report, 2001);
    assert_eq!(report.connects, 5);

    let mut cfg = counted(running.addrs[1], Protocol::Udp, 999);
    cfg.threads = 2;
    assert_clean("udp, 2 threads", &load::run(&cfg).unwrap(), 999);
}

#[test]
fn evserve_http_without_keep_alive_reconnects_per_request_as_planned() {
    let running = every_service();
    let web = running.addrs[4];
    let request = HttpRequest {
        keep_alive: false,
        ..HttpRequest::get(&web.to_string(), "/plain")
    };
    let report = load::run(&counted(web, Protocol::Http(request), 300)).unwrap();
    assert_clean("http close", &report, 300);
    assert!(report.connects >= 300, "{}", report.connects);
}

fn hello(s: TcpStream) {
    answer_heads(s, || {
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!"
    });
}

#[test]
fn http_counts_with_and_without_pipelining() {
    let addr = tiny_server(hello);
    for pipeline in [1, 8] {
        let mut cfg = counted(addr, http(addr, "/"), 2000);
        cfg.pipeline = pipeline;
        let report = load::run(&cfg).unwrap();
        assert_clean(&format!("pipeline {pipeline}"), &report, 2000);
        // A 39-byte head and 13 body bytes per reply.
        assert_eq!(report.bytes_received, 2000 * (39 + 13));
    }
    let request = HttpRequest {
        keep_alive: false,
        ..HttpRequest::get(&addr.to_string(), "/")
    };
    let report = load::run(&counted(addr, Protocol::Http(request), 200)).unwrap();
    assert_clean("keep-alive false", &report, 200);
}

#[test]
fn an_http_error_status_is_an_error_not_throughput() {
    let addr = tiny_server(|s| {
        answer_heads(s, || {
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops"
        });
    });
    let mut cfg = counted(addr, http(addr, "/"), 500);
    cfg.pipeline = 4;
    let report = load::run(&cfg).unwrap();
    assert_eq!(
        (report.requests, report.errors),
        (0, 500),
        "{}",
        report.to_text()
    );
    // The replies were whole, so the connections stayed in step.
    assert_eq!(report.reconnects, 0);
    assert!(report.latency.is_empty());
    assert_eq!(report.statuses.get(&500), Some(&500));

    // Told that no status is an error, every 500 is a response, timed, as hey and oha do.
    cfg.error_status = load::StatusSet::NONE;
    let report = load::run(&cfg).unwrap();
    assert_eq!((report.requests, report.errors), (500, 0));
    assert_eq!(report.latency.len(), 500);
}

#[test]
fn a_server_that_echoes_wrong_bytes_scores_errors_only() {
    let addr = tiny_server(|mut s| {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            buf[..n].iter_mut().for_each(|b| *b = b.wrapping_add(1));
            if s.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    let report = load::run(&counted(addr, Protocol::Echo, 300)).unwrap();
    assert_eq!(
        (report.requests, report.errors),
        (0, 300),
        "{}",
        report.to_text()
    );
    assert!(report.latency.is_empty());
}

#[test]
fn dropped_connections_are_errors_and_reconnects_and_the_run_goes_on() {
    // Echoes one 64-byte request per connection, then reads the next and hangs up.
    let addr = tiny_server(|mut s| {
        let mut buf = [0u8; 64];
        if s.read_exact(&mut buf).is_ok() && s.write_all(&buf).is_ok() {
            let _ = s.read_exact(&mut buf);
        }
    });
    let report = load::run(&counted(addr, Protocol::Echo, 200)).unwrap();
    assert!(report.requests >= 50, "{}", report.to_text());
    assert!(
        report.errors > 0 && report.reconnects > 0,
        "{}",
        report.to_text()
    );
    assert_eq!(report.completed(), 200, "every request ends once");
}

#[test]
fn silence_is_timeouts() {
    let addr = tiny_server(|mut s| {
        let mut buf = [0u8; 4096];
        while let Ok(1..) = s.read(&mut buf) {}
    });
    let mut cfg = counted(addr, Protocol::Echo, 8);
    cfg.connections = 2;
    cfg.timeout = Duration::from_millis(100);
    let report = load::run(&cfg).unwrap();
    assert_eq!(
        (report.requests, report.timeouts),
        (0, 8),
        "{}",
        report.to_text()
    );
    assert!(report.reconnects > 0);

    let udp = UdpSocket::bind(any()).unwrap();
    let mut cfg = counted(udp.local_addr().unwrap(), Protocol::Udp, 6);
    cfg.pipeline = 3;
    cfg.timeout = Duration::from_millis(100);
    let report = load::run(&cfg).unwrap();
    assert_eq!(
        (report.requests, report.timeouts),
        (0, 6),
        "{}",
        report.to_text()
    );
}

#[test]
fn an_open_loop_keeps_its_schedule_and_charges_stalls() {
    // Echoes, but stalls 300 ms before its first answer. (The stall is the behaviour under
    // test, not a wait: nothing below depends on how long anything else takes.)
    let addr = tiny_server(|mut s| {
        let mut buf = [0u8; 4096];
        std::thread::sleep(Duration::from_millis(300));
        while let Ok(n @ 1..) = s.read(&mut buf) {
            if s.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    let mut closed = counted(addr, Protocol::Echo, 500);
    closed.connections = 1;
    let closed = load::run(&closed).unwrap();
    let mut open = counted(addr, Protocol::Echo, 500);
    open.connections = 1;
    open.rate = Some(1000.0);
    let open = load::run(&open).unwrap();
    assert_eq!((closed.requests, open.requests), (500, 500));
    // 500 requests at 1000/s take half a second, however fast the server: a lower bound
    // the schedule guarantees, which a busy machine can only lengthen.
    assert!(
        open.elapsed >= Duration::from_millis(490),
        "{:?}",
        open.elapsed
    );
    // Open loop: the request scheduled k ms after the start cannot be answered before the
    // server wakes, 300 ms after the start at the earliest, so its latency is at least
    // 300 - k ms: the first 150 are charged at least 150 ms each. Again only lower bounds,
    // which contention cannot break; no percentile of a shared machine is asserted.
    let slow = open.latency.count_between(150_000, u64::MAX);
    assert!(slow >= 150, "{slow} slow: {}", open.to_text());
}

#[test]
fn no_server_no_run() {
    let addr = TcpListener::bind(any()).unwrap().local_addr().unwrap();
    let err = load::run(&counted(addr, Protocol::Echo, 10)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
