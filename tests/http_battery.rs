//! HTTP/1.1 end to end: the real `evserve` binary, real sockets on 127.0.0.1.
//!
//! Every status code the server produces is provoked at least once and checked by its exact
//! status line and the field that goes with it; then pipelining, keep-alive, HTTP/1.0,
//! uploads (chunked and cut off), a large download, ranges, conditionals, path safety and the
//! built-in endpoints. Requests are written by hand, byte for byte, because the point is
//! often a request no well-behaved client library would send.
//!
//! Each test starts its own server on port 0 with its own temporary document root, so tests
//! run in parallel and leave nothing behind.

mod util;

use std::fs;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::fs::symlink;
use std::thread;
use std::time::{Duration, Instant};

use util::http::{self, Conn, Response, get, once};
use util::{names_in, pattern};

/// Asserts the exact status line, showing the whole response if it differs.
fn status(r: &Response, line: &str) {
    assert_eq!(r.status_line, line, "{:?} {:?}", r.headers, r.text());
}

/// Asserts an answer that ends the connection: the status line, `Connection: close`, and
/// then an orderly EOF.
fn fatal(addr: SocketAddr, request: &[u8], line: &str) -> Response {
    let mut c = Conn::open(addr);
    let r = c.exchange(request);
    status(&r, line);
    assert_eq!(r.header("connection"), Some("close"), "{line}");
    c.expect_eof();
    r
}

/// Asserts a refusal the connection survives: the status line, then a working `/plain` on
/// the same connection.
fn survivable(addr: SocketAddr, request: &[u8], line: &str) -> Response {
    let mut c = Conn::open(addr);
    let r = c.exchange(request);
    status(&r, line);
    assert_eq!(r.header("connection"), None, "{line}");
    let next = c.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&next, "HTTP/1.1 200 OK");
    r
}

/// Polls `done` every 20 ms for up to `within`.
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `head` then `extra` body bytes from a writer thread while this thread reads the
/// answer. Returns the answer (or the error that replaced it) and how much the writer got
/// out before it stopped.
fn answer_while_sending(addr: SocketAddr, head: Vec<u8>, extra: usize) -> (Response, usize) {
    let mut c = Conn::open(addr);
    let mut writer = c.stream().try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut sent = 0;
        let piece = pattern(64 * 1024, 5);
        // The server may stop reading and close at any point after its answer; a failed
        // write is expected then and simply ends the upload.
        let mut go = || -> io::Result<()> {
            for part in head.chunks(4096) {
                writer.write_all(part)?;
                sent += part.len();
            }
            while sent < head.len() + extra {
                writer.write_all(&piece)?;
                sent += piece.len();
            }
            Ok(())
        };
        let _ = go();
        let _ = writer.shutdown(Shutdown::Write);
        sent
    });
    let answer = c.read(false);
    let r = answer.unwrap_or_else(|e| panic!("no complete answer while sending: {e}"));
    // After the answer the server shuts its side down: an orderly EOF, not a reset.
    c.expect_eof();
    let sent = sender.join().unwrap();
    (r, sent)
}

// ---------------------------------------------------------------------------------------
// 2xx
// ---------------------------------------------------------------------------------------

#[test]
fn plain_is_200_with_every_field() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let r = get(server.tcp("http"), "/plain");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("content-type"), "text/plain");
    assert_eq!(r.must("content-length"), "13");
    assert_eq!(r.must("server"), "evserve");
    assert_eq!(r.must("connection"), "close");
    assert!(httpdate::parse_http_date(r.must("date")).is_ok());
    assert_eq!(r.body, b"Hello, World!");
}

#[test]
fn put_is_201_then_204_and_delete_is_204_then_404() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--writable", "--writable-without-auth"]);
    let mut c = Conn::open(server.tcp("http"));

    let r = c.exchange(b"PUT /files/a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    status(&r, "HTTP/1.1 201 Created");
    assert_eq!(r.must("location"), "/files/a.txt");
    assert_eq!(fs::read(root.path().join("files/a.txt")).unwrap(), b"hello");

    // Replacing an existing file has nothing new to point at: 204, and no Content-Length.
    let r = c.exchange(b"PUT /files/a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nbye");
    status(&r, "HTTP/1.1 204 No Content");
    assert_eq!(r.header("content-length"), None);
    let r = c.exchange(b"GET /files/a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.body, b"bye");

    let r = c.exchange(b"DELETE /files/a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 204 No Content");
    let r = c.exchange(b"GET /files/a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 404 Not Found");
    assert_eq!(r.text(), "404 Not Found\n");
    let r = c.exchange(b"DELETE /files/a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 404 Not Found");
    assert!(names_in(&root.path().join("files")).is_empty());
}

#[test]
fn expect_100_continue_gets_the_interim_answer_before_the_body() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--writable", "--writable-without-auth"]);
    let mut c = Conn::open(server.tcp("http"));
    c.send(b"PUT /files/c.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    // The client holds its body back until told to go on.
    let interim = c.response();
    status(&interim, "HTTP/1.1 100 Continue");
    c.send(b"abc");
    let r = c.response();
    status(&r, "HTTP/1.1 201 Created");
    assert_eq!(fs::read(root.path().join("files/c.txt")).unwrap(), b"abc");
}

#[test]
fn a_directory_without_its_slash_is_301_and_with_it_a_listing_if_asked() {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir(root.path().join("dir")).unwrap();
    fs::write(root.path().join("dir/a b.txt"), b"x").unwrap();
    let closed = http::start(root.path(), &[]);
    let r = get(closed.tcp("http"), "/dir/");
    status(&r, "HTTP/1.1 403 Forbidden");
    assert!(!r.text().contains("a b.txt"), "listings are opt-in");
    let server = http::start(root.path(), &["--listings"]);
    let addr = server.tcp("http");
    let r = survivable(
        addr,
        b"GET /dir?q=1 HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 301 Moved Permanently",
    );
    assert_eq!(r.must("location"), "/dir/?q=1");
    let r = get(addr, "/dir/");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("content-type"), "text/html; charset=utf-8");
    assert!(
        r.text().contains("<a href=\"a%20b.txt\">a b.txt</a>"),
        "{}",
        r.text()
    );
}

// ---------------------------------------------------------------------------------------
// Ranges and conditionals: 206, 416, 304
// ---------------------------------------------------------------------------------------

#[test]
fn ranges_are_206_with_exact_bytes_and_416_past_the_end() {
    let root = tempfile::tempdir().unwrap();
    let data = pattern(1000, 7);
    fs::write(root.path().join("data.bin"), &data).unwrap();
    let server = http::start(root.path(), &[]);
    let mut c = Conn::open(server.tcp("http"));
    for (range, first, last) in [
        ("bytes=100-199", 100, 199),
        ("bytes=-10", 990, 999),
        ("bytes=5-", 5, 999),
    ] {
        let r = c.exchange(
            format!("GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: {range}\r\n\r\n").as_bytes(),
        );
        status(&r, "HTTP/1.1 206 Partial Content");
        assert_eq!(
            r.must("content-range"),
            format!("bytes {first}-{last}/1000"),
            "{range}"
        );
        assert_eq!(
            r.content_length(),
            Some((last - first + 1) as u64),
            "{range}"
        );
        assert!(r.body == data[first..=last], "{range}: wrong bytes");
    }

    let r = c.exchange(b"GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-\r\n\r\n");
    status(&r, "HTTP/1.1 416 Range Not Satisfiable");
    assert_eq!(r.must("content-range"), "bytes */1000");

    // The connection survives the 416; without a Range the whole file comes back.
    let r = c.exchange(b"GET /data.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("accept-ranges"), "bytes");
    assert!(r.body == data);
}

#[test]
fn conditional_gets_are_304_for_the_current_etag_or_date() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("page.html"), b"<p>hi</p>").unwrap();
    let server = http::start(root.path(), &[]);
    let mut c = Conn::open(server.tcp("http"));
    let get = |c: &mut Conn, extra: &str| {
        c.exchange(format!("GET /page.html HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes())
    };

    let first = get(&mut c, "");
    status(&first, "HTTP/1.1 200 OK");
    assert_eq!(first.must("content-type"), "text/html");
    let etag = first.must("etag").to_owned();
    let modified = first.must("last-modified").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let r = get(&mut c, &format!("If-None-Match: {etag}\r\n"));
    status(&r, "HTTP/1.1 304 Not Modified");
    assert_eq!(r.must("etag"), etag);
    assert_eq!(r.must("last-modified"), modified);
    assert_eq!(r.header("content-length"), None);

    // Weak comparison, and a list.
    let r = get(&mut c, &format!("If-None-Match: \"nope\", W/{etag}\r\n"));
    status(&r, "HTTP/1.1 304 Not Modified");

    let r = get(&mut c, &format!("If-Modified-Since: {modified}\r\n"));
    status(&r, "HTTP/1.1 304 Not Modified");
    assert_eq!(r.must("etag"), etag);

    let r = get(&mut c, "If-None-Match: \"other\"\r\n");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.body, b"<p>hi</p>");

    let r = get(
        &mut c,
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
    );
    status(&r, "HTTP/1.1 200 OK");

    // If-None-Match decides when present, so a matching date does not rescue a stale tag.
    let r = get(
        &mut c,
        &format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n"),
    );
    status(&r, "HTTP/1.1 200 OK");
}

// ---------------------------------------------------------------------------------------
// 4xx from the request head
// ---------------------------------------------------------------------------------------

#[test]
fn malformed_and_ambiguous_requests_are_400() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let addr = server.tcp("http");
    let cases: &[(&str, &[u8])] = &[
        ("no version", b"GET /plain\r\nHost: t\r\n\r\n"),
        ("bad method byte", b"G@T /plain HTTP/1.1\r\nHost: t\r\n\r\n"),
        (
            "trailing junk",
            b"GET /plain HTTP/1.1 junk\r\nHost: t\r\n\r\n",
        ),
        ("no Host on 1.1", b"GET /plain HTTP/1.1\r\n\r\n"),
        (
            "two Hosts",
            b"GET /plain HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ),
        (
            "Content-Length and Transfer-Encoding",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "differing Content-Lengths",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ),
        (
            "non-numeric Content-Length",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello",
        ),
        (
            "unknown transfer coding",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
        ),
        (
            "bad chunk size",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "chunk data without its CRLF",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        ),
    ];
    for (what, request) in cases {
        let r = fatal(addr, request, "HTTP/1.1 400 Bad Request");
        assert_eq!(r.text(), "400 Bad Request\n", "{what}");
    }
}

#[test]
fn writes_without_credentials_are_401_with_a_challenge() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--writable", "--auth", "user:secret"]);
    let mut c = Conn::open(server.tcp("http"));
    let put = |auth: &str| {
        format!("PUT /files/s.txt HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 5\r\n\r\nhello")
    };

    let r = c.exchange(put("").as_bytes());
    status(&r, "HTTP/1.1 401 Unauthorized");
    assert_eq!(r.must("www-authenticate"), "Basic realm=\"evserve\"");
    // "user:wrong"
    let r = c.exchange(put("Authorization: Basic dXNlcjp3cm9uZw==\r\n").as_bytes());
    status(&r, "HTTP/1.1 401 Unauthorized");
    let r = c.exchange(b"DELETE /files/s.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 401 Unauthorized");
    assert!(!root.path().join("files/s.txt").exists());

    // "user:secret". The refused bodies were skipped, so this request parses cleanly.
    let r = c.exchange(put("Authorization: Basic dXNlcjpzZWNyZXQ=\r\n").as_bytes());
    status(&r, "HTTP/1.1 201 Created");
    assert_eq!(fs::read(root.path().join("files/s.txt")).unwrap(), b"hello");
    // Reading needs no credentials.
    let r = c.exchange(b"GET /files/s.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 200 OK");
}

#[test]
fn missing_files_are_404_and_unsupported_methods_405_with_allow() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let addr = server.tcp("http");
    survivable(
        addr,
        b"GET /nothing.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 404 Not Found",
    );
    // Hidden files are answered as if absent.
    fs::write(root.path().join(".env"), b"SECRET=1").unwrap();
    survivable(
        addr,
        b"GET /.env HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 404 Not Found",
    );

    let r = survivable(
        addr,
        b"DELETE /plain HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 405 Method Not Allowed",
    );
    assert_eq!(r.must("allow"), "GET, HEAD, OPTIONS");
    let r = survivable(
        addr,
        b"POST /plain HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 405 Method Not Allowed",
    );
    assert_eq!(r.must("allow"), "GET, HEAD, OPTIONS");
    // Uploads are off without --writable.
    let r = survivable(
        addr,
        b"PUT /files/x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 405 Method Not Allowed",
    );
    assert_eq!(r.must("allow"), "GET, HEAD, OPTIONS");
    // PATCH is a known method, so 405 rather than 501.
    let r = survivable(
        addr,
        b"PATCH /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 405 Method Not Allowed",
    );
    assert_eq!(r.must("allow"), "GET, HEAD, POST, OPTIONS");
}

#[test]
fn a_head_that_stalls_is_408_then_closed() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--header-timeout", "300ms"]);
    let mut c = Conn::open(server.tcp("http"));
    let started = Instant::now();
    c.send(b"GET /plain HTTP/1.1\r\nHo");
    let r = c.response();
    let waited = started.elapsed();
    status(&r, "HTTP/1.1 408 Request Timeout");
    assert_eq!(r.must("connection"), "close");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );
    c.expect_eof();
}

#[test]
fn a_head_dribbled_a_byte_at_a_time_is_still_408() {
    // The deadline runs from the first byte of the head, so a client that keeps the
    // connection busy (and so never idle) still cannot hold it open for long.
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--header-timeout", "300ms"]);
    let mut c = Conn::open(server.tcp("http"));
    let mut writer = c.stream().try_clone().unwrap();
    let started = Instant::now();
    let dribbler = thread::spawn(move || {
        let head = format!(
            "GET /plain HTTP/1.1\r\nHost: t\r\nX-Slow: {}",
            "a".repeat(200)
        );
        for b in head.bytes() {
            if writer.write_all(&[b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    let r = c.response();
    let waited = started.elapsed();
    status(&r, "HTTP/1.1 408 Request Timeout");
    // 200 bytes at 20 ms each would take over 4 s: the answer came from the deadline.
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    c.expect_eof();
    dribbler.join().unwrap();
}

#[test]
fn a_stalled_upload_body_is_408_and_its_partial_file_removed() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(
        root.path(),
        &[
            "--writable",
            "--writable-without-auth",
            "--idle-timeout",
            "400ms",
        ],
    );
    let mut c = Conn::open(server.tcp("http"));
    let r = c.exchange(b"PUT /files/s.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    status(&r, "HTTP/1.1 408 Request Timeout");
    assert_eq!(r.must("connection"), "close");
    c.expect_eof();
    let files = root.path().join("files");
    assert!(
        eventually(Duration::from_secs(5), || names_in(&files).is_empty()),
        "left behind: {:?}",
        names_in(&files)
    );
}

#[test]
fn an_idle_connection_is_closed_without_an_answer() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(
        root.path(),
        &["--header-timeout", "300ms", "--idle-timeout", "300ms"],
    );
    let mut c = Conn::open(server.tcp("http"));
    // Between requests there is nothing to time out but the connection itself: no 408.
    let r = c.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 200 OK");
    c.expect_eof();
}

#[test]
fn posts_without_a_length_are_411() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    fatal(
        server.tcp("http"),
        b"POST /echo HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 411 Length Required",
    );
}

#[test]
fn bodies_over_max_body_are_413_announced_or_chunked() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--max-body", "1000"]);
    let addr = server.tcp("http");
    fatal(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n",
        "HTTP/1.1 413 Content Too Large",
    );
    // A chunk size is checked when announced, before its bytes arrive.
    fatal(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n",
        "HTTP/1.1 413 Content Too Large",
    );
    let ok = once(
        addr,
        &[
            &b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"[..],
            &[b'x'; 1000],
        ]
        .concat(),
    );
    status(&ok, "HTTP/1.1 200 OK");
    assert_eq!(ok.body.len(), 1000);
}

#[test]
fn a_413_reaches_a_client_still_uploading_50_mb() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 52428800\r\n\r\n".to_vec();
    let (r, sent) = answer_while_sending(server.tcp("http"), head, 8 << 20);
    status(&r, "HTTP/1.1 413 Content Too Large");
    assert_eq!(r.must("connection"), "close");
    assert_eq!(r.text(), "413 Content Too Large\n");
    eprintln!("the writer got {sent} bytes out");
}

#[test]
fn uris_over_max_uri_are_414() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let long = "a".repeat(5000);
    fatal(
        server.tcp("http"),
        format!("GET /{long} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        "HTTP/1.1 414 URI Too Long",
    );
}

#[test]
fn a_70_kb_header_is_431_even_while_still_being_sent() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let mut head = b"GET /plain HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 70_000));
    head.extend_from_slice(b"\r\n\r\n");
    let (r, _) = answer_while_sending(server.tcp("http"), head, 0);
    status(&r, "HTTP/1.1 431 Request Header Fields Too Large");
    assert_eq!(r.must("connection"), "close");
}

#[test]
fn too_many_header_fields_are_431() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--max-headers", "8"]);
    let fields: String = (0..9).map(|i| format!("X-{i}: v\r\n")).collect();
    fatal(
        server.tcp("http"),
        format!("GET /plain HTTP/1.1\r\nHost: t\r\n{fields}\r\n").as_bytes(),
        "HTTP/1.1 431 Request Header Fields Too Large",
    );
}

#[test]
fn an_expectation_other_than_100_continue_is_417() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    fatal(
        server.tcp("http"),
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 417 Expectation Failed",
    );
}

// ---------------------------------------------------------------------------------------
// 5xx
// ---------------------------------------------------------------------------------------

#[test]
fn a_symlink_loop_in_the_root_is_500() {
    // Tests run as root, so permissions cannot make a file unreadable; a symlink loop is a
    // filesystem failure no client can cause, which is what 500 is for.
    let root = tempfile::tempdir().unwrap();
    symlink("loop", root.path().join("loop")).unwrap();
    let server = http::start(root.path(), &[]);
    fatal(
        server.tcp("http"),
        b"GET /loop HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 500 Internal Server Error",
    );
}

#[test]
fn a_file_name_over_255_bytes_is_404_not_500() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let name = "a".repeat(300);
    survivable(
        server.tcp("http"),
        format!("GET /{name} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        "HTTP/1.1 404 Not Found",
    );
}

#[test]
fn unknown_methods_are_501() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    survivable(
        server.tcp("http"),
        b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 501 Not Implemented",
    );
}

#[test]
fn past_max_connections_the_next_client_gets_503_with_retry_after() {
    let root = tempfile::tempdir().unwrap();
    // No minimum rate: a connection in the middle of an upload is then never closed to make
    // room (an idle one would be: see tests/fairness.rs).
    let server = http::start(
        root.path(),
        &[
            "--max-connections",
            "1",
            "--min-rate",
            "0",
            "--writable",
            "--writable-without-auth",
        ],
    );
    let addr = server.tcp("http");
    let mut held = Conn::open(addr);
    // The 100 Continue proves the first connection is accepted, counted and mid-upload.
    status(
        &held.exchange(
            b"PUT /files/h.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        ),
        "HTTP/1.1 100 Continue",
    );

    let mut second = Conn::open(addr);
    let r = second.response();
    status(&r, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(r.must("retry-after"), "1");
    assert_eq!(r.must("connection"), "close");
    second.expect_eof();

    // The held connection is unharmed; once it goes, there is room again.
    status(&held.exchange(b"hi"), "HTTP/1.1 201 Created");
    status(
        &held.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        "HTTP/1.1 200 OK",
    );
    held.expect_eof();
    drop(held);
    let room = eventually(Duration::from_secs(5), || {
        let mut c = Conn::open(addr);
        c.send(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
        c.read(false).is_ok_and(|r| r.status == 200)
    });
    assert!(room, "no room after the held connection closed");
}

#[test]
fn versions_other_than_1_0_and_1_1_are_505() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    fatal(
        server.tcp("http"),
        b"GET /plain HTTP/2.0\r\nHost: t\r\n\r\n",
        "HTTP/1.1 505 HTTP Version Not Supported",
    );
}

// ---------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------

#[test]
fn a_hundred_pipelined_requests_in_one_write_are_answered_in_order() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--access-log", "false"]);
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend_from_slice(b"GET /plain HTTP/1.1\r\nHost: t\r\n");
        // The last one closes, so the count can be checked exactly: EOF follows answer 100.
        if i == 99 {
            batch.extend_from_slice(b"Connection: close\r\n");
        }
        batch.extend_from_slice(b"\r\n");
    }
    let mut c = Conn::open(server.tcp("http"));
    c.send(&batch);
    for i in 0..100 {
        let r = c.response();
        status(&r, "HTTP/1.1 200 OK");
        assert_eq!(r.body, b"Hello, World!", "answer {i}");
    }
    c.expect_eof();
}

#[test]
fn five_hundred_requests_share_one_keep_alive_connection() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--access-log", "false"]);
    let mut c = Conn::open(server.tcp("http"));
    for i in 0..500 {
        // Alternating resources, one carrying the request number, so an answer out of order
        // or to the wrong request shows.
        if i % 2 == 0 {
            let r = c.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
            status(&r, "HTTP/1.1 200 OK");
            assert_eq!(r.body, b"Hello, World!");
        } else {
            let r = c.exchange(format!("GET /echo?n={i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
            status(&r, "HTTP/1.1 200 OK");
            assert_eq!(r.text(), format!("{{\"n\":\"{i}\"}}"));
        }
    }
}

#[test]
fn pipelined_bodies_heads_and_gets_are_answered_in_order() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let mut c = Conn::open(server.tcp("http"));
    // Each request's body must be consumed exactly, or the next head would be misread.
    c.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
          HEAD /plain HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\nX-Trailer: 1\r\n\r\n\
          GET /plain HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
          GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /echo?last=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(c.response().body, b"abc");
    let h = c.head_response();
    status(&h, "HTTP/1.1 200 OK");
    assert_eq!(h.content_length(), Some(13));
    assert_eq!(c.response().body, b"z");
    assert_eq!(c.response().body, b"Hello, World!");
    status(&c.response(), "HTTP/1.1 404 Not Found");
    assert_eq!(c.response().text(), "{\"last\":\"1\"}");
}

#[test]
fn requests_sent_before_a_half_close_are_all_answered() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("small.txt"), b"small file").unwrap();
    let server = http::start(root.path(), &[]);
    let mut c = Conn::open(server.tcp("http"));
    c.send(
        b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /echo?n=3 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    c.stream().shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.response().body, b"Hello, World!");
    assert_eq!(c.response().body, b"small file");
    assert_eq!(c.response().text(), "{\"n\":\"3\"}");
    c.expect_eof();
}

#[test]
fn a_request_behind_a_streamed_file_is_answered_after_a_half_close() {
    // The reactor hands the unconsumed input to `on_eof` and forgets it; the HTTP session
    // returns Continue while streaming, expecting that input to be offered again once the
    // file is out. It never is: the connection then idles until --idle-timeout, unanswered.
    let root = tempfile::tempdir().unwrap();
    let data = pattern(8 << 20, 12);
    fs::write(root.path().join("f.bin"), &data).unwrap();
    // Small buffers on both sides and little pending output: far less than the 8 MiB file
    // can be in flight, so the stream is still under way whenever the EOF below arrives.
    let server = http::start(
        root.path(),
        &[
            "--idle-timeout",
            "2s",
            "--send-buffer",
            "64KiB",
            "--max-output",
            "64KiB",
        ],
    );
    let mut c = Conn::open(server.tcp("http"));
    socket2::SockRef::from(c.stream())
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    c.send(b"GET /f.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    // The answer has begun (a peek consumes nothing): the EOF now reaches the server
    // mid-stream, the path under test, without waiting on a clock.
    c.stream().peek(&mut [0u8; 1]).unwrap();
    c.stream().shutdown(Shutdown::Write).unwrap();
    let r = c.response();
    status(&r, "HTTP/1.1 200 OK");
    assert!(r.body == data, "file bytes differ");
    let next = c.read(false);
    assert!(
        next.as_ref().is_ok_and(|r| r.body == b"Hello, World!"),
        "the pipelined /plain was not answered: {next:?}"
    );
    c.expect_eof();
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let addr = server.tcp("http");

    let mut c = Conn::open(addr);
    let r = c.exchange(b"GET /plain HTTP/1.0\r\n\r\n");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("connection"), "close");
    c.expect_eof();

    let mut c = Conn::open(addr);
    for _ in 0..2 {
        let r = c.exchange(b"GET /plain HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        status(&r, "HTTP/1.1 200 OK");
        assert_eq!(r.must("connection"), "keep-alive");
        assert_eq!(r.body, b"Hello, World!");
    }
    // Without the field, the same connection now ends after its answer.
    let r = c.exchange(b"GET /plain HTTP/1.0\r\n\r\n");
    assert_eq!(r.must("connection"), "close");
    c.expect_eof();
}

// ---------------------------------------------------------------------------------------
// Uploads and downloads
// ---------------------------------------------------------------------------------------

#[test]
fn a_chunked_put_stores_identical_bytes_and_delete_removes_them() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--writable", "--writable-without-auth"]);
    let mut c = Conn::open(server.tcp("http"));
    let data = pattern(300_000, 3);

    let mut request =
        b"PUT /files/up.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut at = 0;
    // Sizes from 1 byte to more than one server read; one size line in upper case and one
    // with an extension, both of which RFC 9112 allows.
    for (i, size) in [1, 10, 4095, 65_536, 100_000, 7].into_iter().enumerate() {
        let line = match i {
            2 => format!("{size:X}\r\n"),
            3 => format!("{size:x};name=value\r\n"),
            _ => format!("{size:x}\r\n"),
        };
        request.extend_from_slice(line.as_bytes());
        request.extend_from_slice(&data[at..at + size]);
        request.extend_from_slice(b"\r\n");
        at += size;
    }
    let rest = data.len() - at;
    request.extend_from_slice(format!("{rest:x}\r\n").as_bytes());
    request.extend_from_slice(&data[at..]);
    request.extend_from_slice(b"\r\n0\r\n\r\n");

    let r = c.exchange(&request);
    status(&r, "HTTP/1.1 201 Created");
    assert_eq!(r.must("location"), "/files/up.bin");

    let r = c.exchange(b"GET /files/up.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("content-type"), "application/octet-stream");
    assert_eq!(r.content_length(), Some(data.len() as u64));
    assert!(r.body == data, "downloaded bytes differ");
    assert!(fs::read(root.path().join("files/up.bin")).unwrap() == data);

    let r = c.exchange(b"DELETE /files/up.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 204 No Content");
    let r = c.exchange(b"GET /files/up.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 404 Not Found");
    assert!(names_in(&root.path().join("files")).is_empty());
}

/// Starts an upload with `head`, sends half of its 1 MB body, closes, and checks nothing is
/// left under `ROOT/files/`.
fn cut_off_upload_leaves_nothing(head: &[u8], half_body: &[u8]) {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--writable", "--writable-without-auth"]);
    let files = root.path().join("files");
    let mut c = Conn::open(server.tcp("http"));
    c.send(head);
    c.send(half_body);
    // Wait until the server holds a partial upload, so the test checks a real clean-up.
    assert!(
        eventually(Duration::from_secs(5), || !names_in(&files).is_empty()),
        "no temporary file appeared"
    );
    drop(c);
    assert!(
        eventually(Duration::from_secs(5), || names_in(&files).is_empty()),
        "left behind: {:?}",
        names_in(&files)
    );
    status(
        &get(server.tcp("http"), "/files/cut.bin"),
        "HTTP/1.1 404 Not Found",
    );
}

#[test]
fn a_cut_off_put_leaves_nothing_behind() {
    cut_off_upload_leaves_nothing(
        b"PUT /files/cut.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n",
        &pattern(500_000, 9),
    );
}

#[test]
fn a_cut_off_chunked_put_leaves_nothing_behind() {
    let mut body = format!("{:x}\r\n", 1_000_000).into_bytes();
    body.extend_from_slice(&pattern(500_000, 10));
    cut_off_upload_leaves_nothing(
        b"PUT /files/cut.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        &body,
    );
}

#[test]
fn a_20_mib_file_downloads_byte_identical_and_head_has_no_body() {
    let root = tempfile::tempdir().unwrap();
    let data = pattern(20 << 20, 11);
    fs::write(root.path().join("big.bin"), &data).unwrap();
    let server = http::start(root.path(), &[]);
    let mut c = Conn::open(server.tcp("http"));

    // All three at once: the HEAD and the GET wait in the server's input while the file
    // streams out, and must then be answered in order.
    c.send(
        b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n\
          HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /plain HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let r = c.response();
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.content_length(), Some(20 << 20));
    assert!(r.body == data, "downloaded bytes differ");

    let h = c.head_response();
    status(&h, "HTTP/1.1 200 OK");
    assert_eq!(h.content_length(), Some(20 << 20));
    assert_eq!(h.must("etag"), r.must("etag"));
    // Had the HEAD carried any body, these bytes would not start with the next status line.
    let next = c.response();
    status(&next, "HTTP/1.1 200 OK");
    assert_eq!(next.body, b"Hello, World!");
}

// ---------------------------------------------------------------------------------------
// Path safety
// ---------------------------------------------------------------------------------------

#[test]
fn no_path_leaves_the_root() {
    const SECRET: &[u8] = b"outside the root";
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    fs::create_dir_all(root.join("a")).unwrap();
    fs::write(base.path().join("x"), SECRET).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    fs::write(elsewhere.path().join("secret.txt"), SECRET).unwrap();
    symlink(elsewhere.path().join("secret.txt"), root.join("link.txt")).unwrap();
    symlink(elsewhere.path(), root.join("linkdir")).unwrap();
    let server = http::start(&root, &[]);
    let addr = server.tcp("http");

    let cases = [
        "/../x",
        "/a/../../x",
        "/%2e%2e/x",
        "/%2E%2E/x",
        "/a/%2e%2e/%2e%2e/x",
        "/a/..%2f..%2fetc/passwd",
        "/%2fetc/passwd",
        "/a\\..\\x",
        "/a%5c..%5c..%5cx",
        "/%00",
        "/a/%00/../../x",
        "http://t/../x",
        "/link.txt",
        "/linkdir/secret.txt",
    ];
    for path in cases {
        let r = once(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        status(&r, "HTTP/1.1 403 Forbidden");
        assert!(
            !r.body.windows(SECRET.len()).any(|w| w == SECRET) && !r.text().contains("root:"),
            "{path} leaked {:?}",
            r.text()
        );
    }
}

#[test]
fn uploads_never_write_outside_the_root() {
    const SECRET: &[u8] = b"outside the root";
    let root = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = elsewhere.path().join("secret.txt");
    fs::write(&secret, SECRET).unwrap();
    let files = root.path().join("files");
    fs::create_dir(&files).unwrap();
    symlink(&secret, files.join("link")).unwrap();
    let server = http::start(root.path(), &["--writable", "--writable-without-auth"]);
    let addr = server.tcp("http");
    let put = |name: &str| {
        format!("PUT /files/{name} HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nPWN")
    };

    for name in [
        "../x",
        "..%2fx",
        "a/b",
        "%2e%2e",
        ".hidden",
        &"n".repeat(256),
    ] {
        survivable(addr, put(name).as_bytes(), "HTTP/1.1 403 Forbidden");
    }
    // A symlink inside the upload area cannot be read through, and writing to its name
    // replaces the link itself, never the file it points at.
    status(&get(addr, "/files/link"), "HTTP/1.1 403 Forbidden");
    survivable(addr, put("link").as_bytes(), "HTTP/1.1 204 No Content");
    assert_eq!(fs::read(&secret).unwrap(), SECRET);
    assert_eq!(fs::read(files.join("link")).unwrap(), b"PWN");
    assert!(
        !fs::symlink_metadata(files.join("link"))
            .unwrap()
            .is_symlink()
    );

    // An upload area that is itself a symlink out of the root is refused for every method.
    fs::remove_dir_all(&files).unwrap();
    symlink(elsewhere.path(), &files).unwrap();
    survivable(addr, put("new.txt").as_bytes(), "HTTP/1.1 403 Forbidden");
    survivable(
        addr,
        b"DELETE /files/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 403 Forbidden",
    );
    status(&get(addr, "/files/secret.txt"), "HTTP/1.1 403 Forbidden");
    assert_eq!(fs::read(&secret).unwrap(), SECRET);
    assert_eq!(names_in(elsewhere.path()), ["secret.txt"]);
}

// ---------------------------------------------------------------------------------------
// Built-in endpoints and methods
// ---------------------------------------------------------------------------------------

#[test]
fn echo_and_stats_answer_json() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let mut c = Conn::open(server.tcp("http"));

    let r = c.exchange(b"GET /echo?a=1&b=x%20y HTTP/1.1\r\nHost: t\r\n\r\n");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("content-type"), "application/json");
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json, serde_json::json!({"a": "1", "b": "x y"}));

    let body = pattern(5000, 4);
    let mut post =
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-test\r\nContent-Length: 5000\r\n\r\n"
            .to_vec();
    post.extend_from_slice(&body);
    let r = c.exchange(&post);
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("content-type"), "application/x-test");
    assert!(r.body == body);

    // Chunked: collected, then sent back with its length.
    let r = c.exchange(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/x-c\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("content-type"), "text/x-c");
    assert_eq!(r.body, b"abcde");

    let r = c.exchange(b"GET /stats HTTP/1.1\r\nHost: localhost\r\n\r\n");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("content-type"), "application/json");
    let stats: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(stats["accepted"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["requests"]["2xx"].as_u64().unwrap() >= 3, "{stats}");
}

#[test]
fn options_trace_and_connect() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let addr = server.tcp("http");

    let r = survivable(
        addr,
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 204 No Content",
    );
    assert_eq!(r.must("allow"), "GET, HEAD, POST, OPTIONS");
    let r = survivable(
        addr,
        b"OPTIONS /plain HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 204 No Content",
    );
    assert_eq!(r.must("allow"), "GET, HEAD, OPTIONS");

    let r = survivable(
        addr,
        b"TRACE /plain HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 405 Method Not Allowed",
    );
    assert_eq!(r.must("allow"), "GET, HEAD, OPTIONS");

    // Not a proxy: no tunnels.
    let r = survivable(
        addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "HTTP/1.1 405 Method Not Allowed",
    );
    assert_eq!(r.must("allow"), "GET, HEAD, POST, OPTIONS");
}

#[test]
fn trace_echoes_the_request_when_allowed_minus_credentials() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(
        root.path(),
        &["--allow-trace", "--writable", "--writable-without-auth"],
    );
    let addr = server.tcp("http");
    let r = survivable(
        addr,
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
        "HTTP/1.1 204 No Content",
    );
    assert_eq!(
        r.must("allow"),
        "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE"
    );

    let r = survivable(
        addr,
        b"TRACE /x?y HTTP/1.1\r\nHost: t\r\nX-Probe: 1\r\nAuthorization: Basic c2VjcmV0\r\nCookie: k=v\r\n\r\n",
        "HTTP/1.1 200 OK",
    );
    assert_eq!(r.must("content-type"), "message/http");
    assert_eq!(
        r.text(),
        "TRACE /x?y HTTP/1.1\r\nHost: t\r\nX-Probe: 1\r\n\r\n"
    );
}

// ---------------------------------------------------------------------------------------
// Folded in from tests/http.rs: what the battery above did not already cover
// ---------------------------------------------------------------------------------------

#[test]
fn a_static_file_is_served_with_its_guessed_type() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("a.txt"), b"static text").unwrap();
    let server = http::start(root.path(), &[]);
    let r = get(server.tcp("http"), "/a.txt");
    status(&r, "HTTP/1.1 200 OK");
    assert_eq!(r.must("content-type"), "text/plain");
    assert_eq!(r.body, b"static text");
}

#[test]
fn stats_sum_every_worker_whichever_answers() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let server = util::Server::start(
        &["--http", "127.0.0.1:0", "--root", root, "--workers", "2"],
        2,
    );
    let addr = server.tcp("http");
    // Forty connections, one request each: the kernel spreads them over both workers (all
    // forty landing on one has odds of 2^-39), so a per-worker answer would fall short.
    for _ in 0..40 {
        status(&get(addr, "/plain"), "HTTP/1.1 200 OK");
    }
    for asked in 1..=4u64 {
        let json = http::stats(addr);
        assert_eq!(json["workers"], 2, "{json}");
        // 40 requests, plus the earlier /stats answers; this one is counted once sent.
        assert_eq!(json["requests"]["2xx"], 40 + asked - 1, "{json}");
        assert_eq!(json["accepted"], 40 + asked, "{json}");
    }
}

#[test]
fn upload_temporaries_left_by_a_crash_are_swept_at_start() {
    let root = tempfile::tempdir().unwrap();
    let files = root.path().join("files");
    fs::create_dir(&files).unwrap();
    let hours = Duration::from_secs(2 * 3600);
    util::aged_file(&files, ".a.txt.41-0.part", hours);
    util::aged_file(&files, ".b.txt.41-1.part", Duration::ZERO);
    util::aged_file(&files, "kept.txt", hours);
    let _server = http::start(root.path(), &["--writable", "--writable-without-auth"]);
    assert_eq!(names_in(&files), [".b.txt.41-1.part", "kept.txt"]);
}

/// The access log escapes what a client chose as nginx does: a quote cannot forge fields,
/// and C1 CSI (U+009B) or a bidi override (U+202E) cannot reach the reader's terminal raw.
#[test]
fn the_access_log_escapes_the_target() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--access-log"]);
    let mut request = b"GET /a\"b\\".to_vec();
    request.extend_from_slice("\u{9b}2J\u{202e}gnp".as_bytes());
    request.extend_from_slice(b" HTTP/1.1\r\nHost: t\r\n\r\n");
    let answer = once(server.tcp("http"), &request);
    assert_eq!(answer.status, 403, "a backslash in a path is refused");
    let line = server
        .wait_log("\"GET /a", Duration::from_secs(10))
        .expect("an access log line");
    assert!(
        line.contains(r#""GET /a\x22b\x5C\xC2\x9B2J\xE2\x80\xAEgnp" 403"#),
        "{line}"
    );
}

/// DNS rebinding: a page whose name was rebound to 127.0.0.1 talks to the server from the
/// operator's own browser, but with its own name in `Host` (and `Origin`). The server's
/// insides and the WebSockets answer only the names it answers for.
#[test]
fn a_rebinding_host_gets_421_on_the_operator_views_and_websockets() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("hello.txt"), b"hi\n").unwrap();
    let server = http::start(root.path(), &["--server-name", "example.test"]);
    let addr = server.tcp("http");
    let port = addr.port();
    // The WebSocket fields on every request: only /ws/* asks for the upgrade.
    let ws = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let ask = |host: &str, path: &str| -> Response {
        let connection = if path.starts_with("/ws/") {
            "Upgrade"
        } else {
            "close"
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n{ws}\
             Connection: {connection}\r\n\r\n"
        );
        once(addr, request.as_bytes())
    };
    let rebind = format!("rebind.attacker.example:{port}");
    for path in [
        "/stats",
        "/connections",
        "/events",
        "/dashboard",
        "/ws/chat",
        "/ws/echo",
    ] {
        let r = ask(&rebind, path);
        assert_eq!(r.status, 421, "{path}: {}", r.text());
    }
    assert_eq!(ask(&rebind, "/hello.txt").status, 200, "files as before");
    assert_eq!(
        ask(&rebind, "/healthz").status,
        200,
        "balancers check by address"
    );
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "example.test".to_string(),
    ] {
        assert_eq!(ask(&host, "/stats").status, 200, "{host}");
        assert_eq!(ask(&host, "/dashboard").status, 200, "{host}");
        assert_eq!(ask(&host, "/ws/chat").status, 101, "{host}");
    }
    let strict = http::start(root.path(), &["--strict-host"]);
    let r = once(
        strict.tcp("http"),
        b"GET /hello.txt HTTP/1.1\r\nHost: rebind.attacker.example\r\n\r\n",
    );
    assert_eq!(r.status, 421, "--strict-host: every route");
}

/// `--stats-allow` keeps the server's insides for the networks named; everything else is
/// served to anyone as before.
#[test]
fn stats_allow_restricts_the_operator_views_to_its_networks() {
    let root = tempfile::tempdir().unwrap();
    let elsewhere = http::start(root.path(), &["--stats-allow", "10.0.0.0/8"]);
    let addr = elsewhere.tcp("http");
    for path in [
        "/stats",
        "/metrics",
        "/connections",
        "/events",
        "/dashboard",
        "/ws/chat",
        "/ws/echo",
    ] {
        let r = http::get(addr, path);
        assert_eq!(r.status, 403, "{path} from 127.0.0.1: {}", r.text());
    }
    assert_eq!(http::get(addr, "/plain").status, 200);
    assert_eq!(
        http::get(addr, "/healthz").status,
        200,
        "balancers still check health"
    );

    let here = http::start(
        root.path(),
        &["--stats-allow", "10.0.0.0/8", "--stats-allow", "127.0.0.1"],
    );
    let r = http::get(here.tcp("http"), "/stats");
    assert_eq!(r.status, 200, "{}", r.text());
    for flags in [&[][..], &["--stats-allow", "any"]] {
        let open = http::start(root.path(), flags);
        let r = http::get(open.tcp("http"), "/stats");
        assert_eq!(
            r.status,
            200,
            "{flags:?}: loopback may by default: {}",
            r.text()
        );
    }
}

/// Issue 24: a chunked `POST /echo` body is collected in memory until it ends, and that is
/// the server's memory too. 24 clients each start a 896 KiB chunked body (within the 1 MiB
/// `/echo` collects) and keep writing: under `--max-memory 4MiB` the server counts what it
/// collects as `session_buffered`, stops reading those connections once over the budget
/// (what it does not take waits in the kernel's socket buffers), and so holds at most the
/// budget plus one read (64 KiB) per connection; another client is still answered, and
/// everything is released once the connections close (at the end of a `--rate-window`: a
/// held-back connection is not read, so it does not see its peer leave, and moves nothing).
#[test]
fn chunked_echo_bodies_stay_within_the_memory_budget() {
    const CLIENTS: usize = 24;
    const BUDGET: u64 = 4 << 20;
    const READ: u64 = 64 << 10;
    const BODY: usize = 896 << 10;
    let root = tempfile::tempdir().unwrap();
    let server = http::start(
        root.path(),
        &[
            "--max-memory",
            "4MiB",
            "--workers",
            "1",
            "--rate-window",
            "3s",
            "--access-log",
            "false",
        ],
    );
    let addr = server.tcp("http");
    let stats = || http::stats(addr);
    let held = |s: &serde_json::Value| -> u64 {
        ["buffered_in", "buffered_out", "session_buffered"]
            .iter()
            .map(|k| s[k].as_u64().unwrap())
            .sum()
    };
    let mut sockets = Vec::new();
    let writers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut stream = http::connect(addr);
            sockets.push(stream.try_clone().unwrap());
            thread::spawn(move || {
                let mut body = format!(
                    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{BODY:x}\r\n"
                )
                .into_bytes();
                body.extend_from_slice(&pattern(BODY, 3));
                // Blocks once the server stops reading; ends when the test shuts the socket.
                for piece in body.chunks(16 << 10) {
                    if stream.write_all(piece).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();

    let until = Instant::now() + Duration::from_secs(10);
    let bound = BUDGET + CLIENTS as u64 * READ;
    let full = loop {
        let s = stats();
        assert!(held(&s) <= bound, "held {} > {bound}: {s}", held(&s));
        if s["memory_waits"].as_u64() > Some(0) && s["session_buffered"].as_u64() > Some(BUDGET / 2)
        {
            break s;
        }
        assert!(
            Instant::now() < until,
            "the collected bodies were never counted up to the budget: {s}"
        );
        thread::sleep(Duration::from_millis(50));
    };
    // Held there: the bodies do not grow while the budget is full.
    for _ in 0..10 {
        let s = stats();
        assert!(
            held(&s) <= bound,
            "held {} > {bound}: {s} (first full: {full})",
            held(&s)
        );
    }
    assert_eq!(get(addr, "/plain").status, 200, "others are still answered");

    for socket in &sockets {
        let _ = socket.shutdown(Shutdown::Both);
    }
    for writer in writers {
        writer.join().unwrap();
    }
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stats();
        if s["session_buffered"].as_u64() == Some(0) {
            break;
        }
        assert!(Instant::now() < until, "released on close: {s}");
        thread::sleep(Duration::from_millis(50));
    }
}
