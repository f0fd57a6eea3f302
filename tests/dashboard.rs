//! `/dashboard` and `/events` over real sockets: the page and its policy, the event stream's
//! format, and a stalled event-stream client that gets no backlog.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::Server;
use util::http::{connect, get, read_head, stats};

#[test]
fn the_page_is_served_with_its_policy() {
    let server = Server::start(&["--http", "127.0.0.1:0"], 1);
    let answer = get(server.tcp("http"), "/dashboard");
    assert_eq!(
        answer.status_line,
        "HTTP/1.1 200 OK",
        "{:.200}",
        answer.text()
    );
    assert_eq!(answer.must("content-type"), "text/html; charset=utf-8");
    assert!(
        answer
            .must("content-security-policy")
            .starts_with("default-src 'none'; script-src 'sha256-")
    );
    assert!(answer.text().contains("new EventSource(\"/events\")"));
    let off = Server::start(&["--http", "127.0.0.1:0", "--no-dashboard"], 1);
    for path in ["/dashboard", "/events"] {
        let answer = get(off.tcp("http"), path);
        assert_eq!(answer.status, 404, "{path}: {}", answer.status_line);
    }
}

#[test]
fn events_stream_a_snapshot_a_second() {
    let server = Server::start(&["--http", "127.0.0.1:0"], 1);
    let mut stream = connect(server.tcp("http"));
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut lines = BufReader::new(stream);
    let head = read_head(&mut lines).expect("a response head");
    assert_eq!(head.status_line, "HTTP/1.1 200 OK", "{head:?}");
    assert_eq!(head.must("content-type"), "text/event-stream", "{head:?}");
    assert_eq!(head.header("content-length"), None, "{head:?}");
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
