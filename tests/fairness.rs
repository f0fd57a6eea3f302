//! Bounds across connections: what one client does must not cost the others, nor make the
//! server give a stale or wrong answer. (Per-connection limits are tested with each service.)

mod util;

use std::io::{ErrorKind, Write};
use std::thread;
use std::time::{Duration, Instant};

use util::http::{self, Conn, stats};

/// With two workers, each keeps its own file cache; a write through either must be seen by
/// the next read through either (the kernel deals new connections to both).
#[test]
fn every_worker_sees_a_write_at_once() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(
        root.path(),
        &["--writable", "--writable-without-auth", "--workers", "2"],
    );
    let addr = server.tcp("http");
    let put = |body: &str| {
        let request = format!(
            "PUT /files/v.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        http::once(addr, request.as_bytes()).status
    };
    for round in 0..40 {
        let body = format!("version {round}");
        assert!(matches!(put(&body), 201 | 204), "round {round}");
        // Warm both workers' caches, then check every read of several connections.
        for _ in 0..4 {
            let r = http::get(addr, "/files/v.txt");
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), body, "round {round}: a stale cached file");
        }
    }
    let delete = b"DELETE /files/v.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_eq!(http::once(addr, delete).status, 204);
    for _ in 0..8 {
        assert_eq!(
            http::get(addr, "/files/v.txt").status,
            404,
            "served after DELETE"
        );
    }
}

/// Polls `/stats` until `ok` holds, for at most 10 s.
fn wait_stats(
    addr: std::net::SocketAddr,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats(addr);
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < until, "{what}: {s}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Opens a connection that sends a request head and the first bytes of a body it never
/// finishes (slowhttptest's slow body).
fn slow_body(addr: std::net::SocketAddr) -> Conn {
    let mut c = Conn::open(addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nab");
    c
}

/// The lockout: every connection slot is held by a client trickling a body. A well-behaved
/// client must still be answered, at the first attempt: the server keeps it in the accept
/// queue until the attackers have stalled long enough to rank (250 ms), then closes the one
/// stalling longest for it. (Each attacker's head is in the kernel before the next one
/// connects, so the server has read it, and started its clock, by the time it accepts the
/// newcomer.)
#[test]
fn a_full_server_makes_room_for_a_new_client() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--max-connections", "20"]);
    let addr = server.tcp("http");
    let attackers: Vec<Conn> = (0..20).map(|_| slow_body(addr)).collect();
    let answered = http::get(addr, "/plain");
    assert_eq!(answered.status, 200, "{answered:?}");
    assert_eq!(answered.body, b"Hello, World!");
    let s = stats(addr);
    assert!(s["evicted"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(
        s["rejected"].as_u64().unwrap(),
        0,
        "no one was refused: {s}"
    );
    drop(attackers);
}

/// At the limit, an idle keep-alive connection makes room, as nginx reuses its idle ones.
#[test]
fn an_idle_keep_alive_connection_makes_room() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--max-connections", "1"]);
    let addr = server.tcp("http");
    let mut idle = Conn::open(addr);
    let r = idle.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(http::get(addr, "/plain").status, 200);
    idle.expect_eof();
}

/// A body trickled a few bytes a second gets 408 at the end of the rate window, however
/// often a byte arrives (each one would restart an idle timeout).
#[test]
fn a_trickled_body_gets_408_despite_steady_bytes() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(
        root.path(),
        &[
            "--writable",
            "--writable-without-auth",
            "--rate-window",
            "1s",
            "--min-rate",
            "200",
            "--idle-timeout",
            "60s",
        ],
    );
    let addr = server.tcp("http");
    let mut c = Conn::open(addr);
    c.send(b"PUT /files/slow.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nab");
    c.stream()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // A byte every 100 ms, at most 100 of them (10 s): the answer comes long before.
    for _ in 0..100 {
        match c.read(false) {
            Ok(r) => {
                assert_eq!(r.status, 408, "{r:?}");
                let s = stats(addr);
                assert!(s["too_slow"].as_u64().unwrap() >= 1, "{s}");
                let files = root.path().join("files");
                assert!(
                    util::names_in(&files).is_empty(),
                    "the partial upload is gone"
                );
                return;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("no 408: {e}"),
        }
        if c.stream().write_all(b"x").is_err() {
            break;
        }
    }
    panic!("the trickled body was never cut off");
}

/// A client that asks for a large file and never reads holds output; it is closed once it
/// falls below the minimum rate, and the memory it held is released.
#[test]
fn a_reader_that_never_reads_is_closed() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("big.bin"), vec![7u8; 16 << 20]).unwrap();
    let server = http::start(
        root.path(),
        &["--rate-window", "1s", "--min-rate", "100000"],
    );
    let addr = server.tcp("http");
    let mut c = Conn::open(addr);
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let s = wait_stats(addr, "the stalled reader is closed", |s| {
        s["too_slow"].as_u64() >= Some(1)
    });
    assert_eq!(s["buffered_out"], 0, "{s}");
    drop(c);
}

/// A lingering connection goes as soon as the peer closes, not at the linger timeout.
#[test]
fn a_lingering_connection_goes_when_the_peer_closes() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--linger-timeout", "60s"]);
    let addr = server.tcp("http");
    let mut c = Conn::open(addr);
    let r = c.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    c.expect_eof();
    drop(c);
    // Only the /stats connection of the probe itself may remain.
    wait_stats(addr, "the closed connection is gone", |s| {
        s["closed"].as_u64() >= Some(1) && s["active"] == 1
    });
}

/// The memory budget is the server's, not a connection's: echo clients that send and never
/// read would each hold `--max-output` (1 MiB) of answers; together they stop at the budget.
/// Meanwhile a well-behaved client is served, and once the others read, every byte they sent
/// comes back: holding a connection back loses nothing.
#[test]
fn non_readers_together_stay_within_the_memory_budget() {
    use std::io::Read;
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let server = util::Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--root",
            root,
            "--echo",
            "127.0.0.1:0",
            "--max-memory",
            "1M",
            "--min-rate",
            "0",
        ],
        2,
    );
    let web = server.tcp("http");
    let echo = server.tcp("echo");
    const CLIENTS: usize = 6;
    const CHUNK: usize = 64 * 1024;
    let data = util::pattern(16 * 1024 * 1024, 7);
    // Each sends until the server stops reading (its writes time out) or 16 MiB are out.
    let senders: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let data = data.clone();
            thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(echo).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut sent = 0;
                while sent < data.len() {
                    match s.write(&data[sent..(sent + CHUNK).min(data.len())]) {
                        Ok(n) => sent += n,
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            break;
                        }
                        Err(e) => panic!("send: {e}"),
                    }
                }
                (s, sent)
            })
        })
        .collect();
    let mut clients: Vec<_> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    let held = stats(web);
    let bytes = held["buffered_out"].as_u64().unwrap() + held["buffered_in"].as_u64().unwrap();
    // The budget, plus at most one read (64 KiB) per connection taken as it was crossed.
    let bound = 1024 * 1024 + CLIENTS as u64 * 64 * 1024;
    assert!(bytes <= bound, "held {bytes} > {bound}: {held}");
    assert!(held["memory_waits"].as_u64().unwrap() > 0, "{held}");
    let sent_total: usize = clients.iter().map(|(_, n)| n).sum();
    assert!(
        sent_total as u64 > bound,
        "the clients sent only {sent_total} bytes: the budget was never tested"
    );

    // A newcomer holding nothing is still served.
    let mut polite = std::net::TcpStream::connect(echo).unwrap();
    polite
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    polite.write_all(b"hello\n").unwrap();
    let mut got = [0u8; 6];
    polite.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello\n");
    // A body that would be held in memory until it ends is refused while over the budget.
    let chunked = http::once(
        web,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(chunked.status, 503, "{}", chunked.text());
    assert_eq!(chunked.header("Retry-After"), Some("1"));

    // Now the others read: each gets back exactly what it sent.
    let readers: Vec<_> = clients
        .drain(..)
        .map(|(mut s, sent)| {
            let expect = data[..sent].to_vec();
            thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
                let mut back = Vec::with_capacity(sent);
                s.read_to_end(&mut back).expect("echo back");
                assert_eq!(back.len(), expect.len(), "bytes lost or added");
                assert!(back == expect, "echo differs");
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
}
