//! `/dashboard` and `/events` over real sockets: the page and its policy, the event stream's
//! format, and a stalled event-stream client that gets no backlog.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use util::Server;

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn stats(addr: SocketAddr) -> serde_json::Value {
    let answer = get(addr, "/stats");
    let body = answer.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).expect("JSON")
}

#[test]
fn the_page_is_served_with_its_policy() {
    let server = Server::start(&["--http", "127.0.0.1:0"], 1);
    let answer = get(server.tcp("http"), "/dashboard");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:.200}");
    assert!(answer.contains("Content-Type: text/html; charset=utf-8\r\n"));
    assert!(answer.contains("Content-Security-Policy: default-src 'none'; script-src 'sha256-"));
    assert!(answer.contains("new EventSource(\"/events\")"));
    let off = Server::start(&["--http", "127.0.0.1:0", "--no-dashboard"], 1);
    for path in ["/dashboard", "/events"] {
        let answer = get(off.tcp("http"), path);
        assert!(answer.starts_with("HTTP/1.1 404 "), "{path}: {answer:.100}");
    }
}

#[test]
fn events_stream_a_snapshot_a_second() {
    let server = Server::start(&["--http", "127.0.0.1:0"], 1);
    let mut stream = TcpStream::connect(server.tcp("http")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut lines = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(lines.read_line(&mut head).unwrap() > 0, "{head}");
    }
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(!head.contains("Content-Length"), "{head}");
    let mut events = Vec::new();
    let mut retry = false;
    while events.len() < 2 {
        let mut line = String::new();
        assert!(lines.read_line(&mut line).unwrap() > 0);
        retry |= line == "retry: 2000\n";
        if let Some(data) = line.strip_prefix("data: ") {
            events.push(serde_json::from_str::<serde_json::Value>(data).unwrap());
        }
    }
    assert!(retry, "retry: comes first");
    for key in [
        "polls",
        "events",
        "reads",
        "events_per_poll_1",
        "sse_open",
        "time_ms",
    ] {
        assert!(events[1].get(key).is_some(), "{key} in {}", events[1]);
    }
    assert_eq!(events[1]["sse_open"], 1);
    assert_eq!(events[1]["active_http"], 1, "the stream's own connection");
    assert_eq!(events[1]["active_chat"], 0);
    assert!(events[1]["polls"].as_u64() > events[0]["polls"].as_u64());
    assert!(events[1]["time_ms"].as_u64() > events[0]["time_ms"].as_u64());
}

#[test]
fn a_stalled_event_stream_client_gets_no_backlog() {
    let server = Server::start(&["--http", "127.0.0.1:0", "--send-buffer", "4096"], 1);
    let http = server.tcp("http");
    // A client with a tiny receive window that never reads.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    socket.connect(&http.into()).unwrap();
    let mut stalled: TcpStream = socket.into();
    stalled
        .write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    // Wait (bounded) for the server to notice, by its own counter, that the client is behind.
    let deadline = Instant::now() + Duration::from_secs(120);
    let skipped = loop {
        let s = stats(http);
        if s["sse_skipped"].as_u64() > Some(0) {
            break s;
        }
        assert!(Instant::now() < deadline, "no tick was ever skipped: {s}");
        std::thread::sleep(Duration::from_millis(500));
    };
    // What waits for the client is bounded by MAX_PENDING (8 KiB) plus one snapshot, however
    // long it stalls: snapshots are dropped, not queued.
    let first = skipped["buffered_out"].as_u64().unwrap();
    assert!(first < 16 * 1024, "{first} bytes pending");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = stats(http);
        if s["sse_skipped"].as_u64() >= Some(skipped["sse_skipped"].as_u64().unwrap() + 3) {
            assert!(s["buffered_out"].as_u64() < Some(16 * 1024), "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "ticks stopped: {s}");
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(stalled);
}
