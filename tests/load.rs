//! `evserve load` against real servers on 127.0.0.1: evserve in-process, and tiny std-thread
//! servers that misbehave on purpose. Counts must be exact, and wrong replies never count.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use evserve::load::{self, Framing, HttpRequest, LoadConfig, Protocol, Report};
use evserve::protocol::framed::FramedConfig;
use evserve::protocol::http::HttpConfig;
use evserve::server::{self, ServerConfig, ServiceSpec};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// evserve with echo, UDP echo, both framings and HTTP, in that order.
fn evserve() -> server::Running {
    server::spawn(ServerConfig {
        services: vec![
            ServiceSpec::Echo(any()),
            ServiceSpec::UdpEcho(any()),
            ServiceSpec::Framed(any(), FramedConfig::length()),
            ServiceSpec::Framed(any(), FramedConfig::line()),
            ServiceSpec::Http(
                any(),
                Box::new(HttpConfig {
                    root: std::env::temp_dir(),
                    access_log: false,
                    ..HttpConfig::default()
                }),
            ),
        ],
        ..ServerConfig::default()
    })
    .unwrap()
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
    let running = evserve();
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
    let running = evserve();
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
    let running = evserve();
    let web = running.addrs[4];
    let request = HttpRequest {
        keep_alive: false,
        ..HttpRequest::get(&web.to_string(), "/plain")
    };
    let report = load::run(&counted(web, Protocol::Http(request), 300)).unwrap();
    assert_clean("http close", &report, 300);
    assert!(report.connects >= 300, "{}", report.connects);
}

/// Serves every connection on its own thread with `serve`.
fn tiny_server(serve: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || serve(stream));
        }
    });
    addr
}

/// Answers every request head found in the stream (pipelining included) with `answer`;
/// closes after answering a request that asked for it.
fn http_server(mut s: TcpStream, answer: &[u8]) {
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
            out.extend_from_slice(answer);
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

fn hello(s: TcpStream) {
    http_server(
        s,
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!",
    );
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
        http_server(
            s,
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops",
        );
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

#[test]
fn the_cli_prints_one_json_object() {
    let running = evserve();
    let evserve = env!("CARGO_BIN_EXE_evserve");
    let echo = running.addrs[0].to_string();
    let out = Command::new(evserve)
        .args(["load", "echo", &echo, "-n", "500", "-c", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(doc["requests"], 500);
    assert_eq!(
        (doc["errors"].as_u64(), doc["timeouts"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(doc["reconnects"], 0);
    assert_eq!(doc["failures"], serde_json::json!([]));
    assert_eq!(doc["error_rate"], 0.0);
    assert_eq!(doc["interrupted"], false);
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(
            doc["latency_us"][key].as_u64().unwrap() > 0,
            "{key} in {doc}"
        );
    }
    for key in ["mean", "stdev", "min"] {
        assert!(
            doc["latency_us"][key].as_f64().unwrap() > 0.0,
            "{key} in {doc}"
        );
    }
    let buckets = doc["latency_histogram_us"].as_array().unwrap();
    let counted: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 500, "{doc}");
    for key in [
        "requests_per_sec",
        "received_bytes_per_sec",
        "sent_bytes_per_sec",
        "duration_secs",
    ] {
        assert!(doc[key].as_f64().unwrap() > 0.0, "{key} in {doc}");
    }

    let run = |args: &[&str]| Command::new(evserve).args(args).output().unwrap();
    let web = format!("http://{}/plain", running.addrs[4]);
    let text = run(&["load", &web, "-d", "300ms", "-c", "2", "--pipeline", "4"]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("requests/s"));

    let dead = TcpListener::bind(any())
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    // A value the command line got wrong: clap's usage error, exit status 2.
    for bad in [
        &["load", "gopher", "127.0.0.1:1"][..],
        &["load", "echo"],
        &["load", "echo", &echo, "--size", "0"],
        &["load", "echo", &echo, "-c", "0"],
        &["load", "echo", &echo, "-n", "0"],
        &["load", "echo", &echo, "--pipeline", "0"],
        &["load", "echo", &echo, "--rate", "0"],
        &["load", "echo", &echo, "--error-status", "4x"],
        &["load", "echo", &echo, "--percentiles", "101"],
    ] {
        let out = run(bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{bad:?}: {stderr}");
        assert!(
            stderr.contains("For more information, try '--help'."),
            "{stderr}"
        );
    }
    // What goes wrong on the way is one line and exit status 1.
    for bad in [
        &["load", "https://127.0.0.1:1/"][..],
        &["load", "echo", &dead, "-n", "5"],
    ] {
        let out = run(bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{bad:?}: {stderr}");
    }
}

/// An HTTP server answering one request in ten, counted across its connections, with a 404.
fn one_in_ten_not_found() -> SocketAddr {
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let served = Arc::clone(&served);
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                let mut buf = [0u8; 16384];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    pending.extend_from_slice(&buf[..n]);
                    let mut out = Vec::new();
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if served.fetch_add(1, Ordering::Relaxed) % 10 == 9 {
                            out.extend_from_slice(
                                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                            );
                        } else {
                            out.extend_from_slice(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                            );
                        }
                    }
                    if s.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn evserve_load(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_evserve"))
        .arg("load")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_response_counts_in_a_status_table_unless_named_an_error() {
    let url = format!("http://{}/", one_in_ten_not_found());
    let out = evserve_load(&[&url, "-n", "1000", "-c", "4", "--pipeline", "2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("1000 requests in "), "{text}");
    assert!(text.contains("\n  [200] 900 responses\n"), "{text}");
    assert!(text.contains("\n  [404] 100 responses\n"), "{text}");
    assert!(text.contains("latency µs: mean "), "{text}");
    assert!(text.contains("stdev "), "{text}");
    assert!(text.contains("Transfer/sec: "), "{text}");
    assert!(
        text.contains("latency histogram, µs (at most):\n"),
        "{text}"
    );
    let bars = text.lines().filter(|l| l.contains("] |")).count();
    assert!((1..=10).contains(&bars), "{text}");

    // --error-status 4xx: the 404s are errors, still in the table, out of the latency.
    let out = evserve_load(&[
        &url,
        "-n",
        "1000",
        "-c",
        "4",
        "--error-status",
        "4xx",
        "--max-error-rate",
        "5%",
        "--percentiles",
        "50,99.99",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (doc["requests"].as_u64(), doc["errors"].as_u64()),
        (Some(900), Some(100)),
        "{doc}"
    );
    assert_eq!(doc["statuses"], serde_json::json!({"200": 900, "404": 100}));
    assert_eq!(doc["latency_us"]["samples"], 900, "{doc}");
    assert!(doc["latency_us"]["p9999"].as_u64().unwrap() > 0, "{doc}");
    assert!(
        doc["latency_us"].get("p90").is_none(),
        "only the percentiles asked for: {doc}"
    );
}

#[test]
fn more_connections_than_open_files_allow_are_refused_before_starting() {
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" load echo 127.0.0.1:1 -c 1000")
        .arg(env!("CARGO_BIN_EXE_evserve"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the limit (ulimit -n) is 256"), "{stderr}");
    assert!(stderr.contains("ulimit -n 1066"), "{stderr}");
}

#[test]
fn ctrl_c_while_connections_are_still_opening_prints_the_partial_report() {
    // A listener that accepts one connection (the load's first, which checks the server is
    // up) and then no more, with a backlog of one: the load's connections stay in SYN_SENT.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&any().into()).unwrap();
    socket.listen(1).unwrap();
    let listener: TcpListener = socket.into();
    let addr = listener.local_addr().unwrap().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args([
            "load",
            "echo",
            &addr,
            "-c",
            "2000",
            "-d",
            "10m",
            "--timeout",
            "10m",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first connection comes once the handler for Ctrl-C is in place.
    let (_first, _) = listener.accept().unwrap();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("load still running 30 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(
        stdout.starts_with("interrupted: partial results\n"),
        "{stdout}"
    );
    assert!(stdout.contains(" requests in "), "{stdout}");
}
