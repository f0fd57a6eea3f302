//! Static files sent with `sendfile(2)`: the real `evserve` binary, real sockets on 127.0.0.1.
//!
//! The same bytes as the copying path, in request order with the answers around them, counted
//! in `/stats`; off with `--sendfile false`; and a file that shrinks while it is being sent
//! ends its connection instead of hanging it.

mod util;

use std::fs;
use std::io::Read;
use std::time::{Duration, Instant};

use util::http::{self, Conn, stats};
use util::inproc::wait_until;
use util::pattern;

/// Pipelines a large download, a small cached answer, a range of the large file and a small
/// answer again, reads nothing until a write has come up short (the socket is full and the
/// file waits for WRITABLE), and checks every body; returns the server's `sendfiles` counter.
fn pipelined_downloads(extra: &[&str]) -> u64 {
    let root = tempfile::tempdir().unwrap();
    let big = pattern(6 << 20, 21);
    fs::write(root.path().join("big.bin"), &big).unwrap();
    fs::write(root.path().join("small.txt"), b"small and cached\n").unwrap();
    let server = http::start(root.path(), extra);
    let addr = server.tcp("http");
    let mut c = Conn::open(addr);
    c.send(
        b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000000-4000010\r\n\r\n\
          GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    wait_until("a write to come up short", || {
        stats(addr)["short_writes"].as_u64() > Some(0)
    });
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.body == big, "the whole file differs");
    let r = c.response();
    assert_eq!((r.status, &r.body[..]), (200, &b"small and cached\n"[..]));
    let r = c.response();
    assert_eq!(r.status, 206);
    assert_eq!(r.must("content-range"), "bytes 1000000-4000010/6291456");
    assert!(r.body == big[1_000_000..=4_000_010], "the range differs");
    let r = c.response();
    assert_eq!((r.status, &r.body[..]), (200, &b"small and cached\n"[..]));
    stats(addr)["sendfiles"].as_u64().unwrap()
}

#[test]
fn large_files_go_out_by_sendfile_in_order_with_the_answers_around_them() {
    let sendfiles = pipelined_downloads(&[]);
    assert!(
        sendfiles >= 2,
        "two bodies, at least one sendfile each: {sendfiles}"
    );
}

#[test]
fn with_sendfile_off_the_same_bytes_are_copied() {
    assert_eq!(pipelined_downloads(&["--sendfile", "false"]), 0);
}

#[test]
fn a_file_that_shrinks_while_sent_closes_its_connection() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("big.bin");
    fs::write(&path, pattern(64 << 20, 5)).unwrap();
    let server = http::start(root.path(), &[]);
    let addr = server.tcp("http");
    let mut c = http::connect(addr);
    std::io::Write::write_all(&mut c, b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = c.read(&mut buf).unwrap();
    assert!(got > 0);
    // Cut the file short while most of it is still to be sent (the client has not read it).
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        assert!(Instant::now() < deadline, "the connection was never closed");
    }
    assert!(
        got < 64 << 20,
        "the connection ends short of the promised length: {got}"
    );
    // The server goes on serving.
    fs::write(root.path().join("small.txt"), b"still here\n").unwrap();
    assert_eq!(http::get(addr, "/small.txt").body, b"still here\n");
}
