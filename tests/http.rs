//! HTTP/1.1 over real sockets: every status code, pipelining, keep-alive, bodies, files,
//! traversal attempts, and answers that must survive a client still sending.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use util::{Server, aged_file, names_in, pattern};

const TIMEOUT: Duration = Duration::from_secs(10);

fn http_server(root: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--http", "127.0.0.1:0", "--root", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(&args, 1)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// One parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Reads one response (Content-Length framed; `head_only` for HEAD and 304).
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> Response {
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = s.read(&mut chunk).expect("read response head");
        assert!(
            n > 0,
            "EOF before a response head: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head[9..12].parse().expect("status code");
    let mut resp = Response {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = if head_only || status == 304 || status == 204 {
        0
    } else {
        resp.header("content-length")
            .map_or(0, |v| v.parse().unwrap())
    };
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).expect("read response body");
        assert!(n > 0, "EOF in a response body");
        buf.extend_from_slice(&chunk[..n]);
    }
    resp.body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    resp
}

/// Sends `request` on a new connection and reads one response.
fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let head_only = request.starts_with(b"HEAD ");
    read_response(&mut s, &mut Vec::new(), head_only)
}

fn get(addr: SocketAddr, path: &str) -> Response {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Reads until the peer closes; true if it closed (EOF or reset) within the timeout.
fn closes(s: &mut TcpStream) -> bool {
    let mut sink = [0u8; 65536];
    loop {
        match s.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}

#[test]
fn plain_echo_stats_and_static_files() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), b"static text").unwrap();
    let server = http_server(root.path(), &[]);
    let addr = server.tcp("http");

    let r = get(addr, "/plain");
    assert_eq!((r.status, &r.body[..]), (200, &b"Hello, World!"[..]));
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    assert!(r.header("date").is_some() && r.header("server").is_some());

    let r = get(addr, "/echo?a=1&b=x%20y");
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json, serde_json::json!({"a": "1", "b": "x y"}));

    let r = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/x-test\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!((r.status, &r.body[..]), (200, &b"hello"[..]));
    assert_eq!(r.header("content-type").as_deref(), Some("text/x-test"));

    let r = get(addr, "/a.txt");
    assert_eq!((r.status, &r.body[..]), (200, &b"static text"[..]));
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));

    let r = get(addr, "/stats");
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(json["accepted"].as_u64().unwrap() >= 4, "{json}");
    assert!(json["requests"]["2xx"].as_u64().unwrap() >= 4, "{json}");

    assert_eq!(get(addr, "/missing").status, 404);
}

#[test]
fn stats_sum_every_worker_whichever_answers() {
    let root = tempfile::tempdir().unwrap();
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--root",
            root.path().to_str().unwrap(),
            "--workers",
            "2",
        ],
        2,
    );
    let addr = server.tcp("http");
    // Forty connections, one request each: the kernel spreads them over both workers (all
    // forty landing on one has odds of 2^-39), so a per-worker answer would fall short.
    for _ in 0..40 {
        assert_eq!(get(addr, "/plain").status, 200);
    }
    for asked in 1..=4u64 {
        let r = get(addr, "/stats");
        let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
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
    std::fs::create_dir(&files).unwrap();
    let hours = Duration::from_secs(2 * 3600);
    aged_file(&files, ".a.txt.41-0.part", hours);
    aged_file(&files, ".b.txt.41-1.part", Duration::ZERO);
    aged_file(&files, "kept.txt", hours);
    let _server = http_server(root.path(), &["--writable"]);
    assert_eq!(names_in(&files), [".b.txt.41-1.part", "kept.txt"]);
}

#[test]
fn a_hundred_pipelined_requests_are_answered_in_order() {
    let root = tempfile::tempdir().unwrap();
    let server = http_server(root.path(), &[]);
    let mut s = connect(server.tcp("http"));
    let mut batch = Vec::new();
    for i in 0..100 {
        let path = if i % 2 == 0 {
            "/plain".to_string()
        } else {
            format!("/echo?i={i}")
        };
        batch.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    s.write_all(&batch).unwrap(); // all hundred in one write
    let mut buf = Vec::new();
    for i in 0..100 {
        let r = read_response(&mut s, &mut buf, false);
        assert_eq!(r.status, 200);
        if i % 2 == 0 {
            assert_eq!(r.body, b"Hello, World!");
        } else {
            assert_eq!(
                r.body,
                format!("{{\"i\":\"{i}\"}}").as_bytes(),
                "response {i}"
            );
        }
    }
}

#[test]
fn keep_alive_and_http_1_0_semantics() {
    let root = tempfile::tempdir().unwrap();
    let server = http_server(root.path(), &[]);
    let addr = server.tcp("http");
    let mut s = connect(addr);
    let mut buf = Vec::new();
    for _ in 0..500 {
        s.write_all(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).status, 200);
    }
    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut s = connect(addr);
    s.write_all(b"GET /plain HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, &mut Vec::new(), false).status, 200);
    assert!(closes(&mut s));
    // HTTP/1.0 with keep-alive: the connection serves a second request.
    let mut s = connect(addr);
    let mut buf = Vec::new();
    for _ in 0..2 {
        s.write_all(b"GET /plain HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, &mut buf, false);
        assert_eq!(r.header("connection").as_deref(), Some("keep-alive"));
    }
    // Connection: close on 1.1 is honoured.
    let mut s = connect(addr);
    s.write_all(b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, &mut Vec::new(), false).status, 200);
    assert!(closes(&mut s));
}

#[test]
fn malformed_and_refused_requests_get_their_status() {
    let root = tempfile::tempdir().unwrap();
    let server = http_server(root.path(), &["--max-body", "1KiB", "--max-uri", "256"]);
    let addr = server.tcp("http");
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(300));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage request line", b"HELLO\r\n\r\n".to_vec(), 400),
        ("CL and TE", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        ("differing CLs", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(), 400),
        ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(), 400),
        ("no length", b"POST /echo HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 411),
        ("body too large", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n".to_vec(), 413),
        ("uri too long", long_uri.into_bytes(), 414),
        ("unknown method", b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 501),
        ("version", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), 505),
        ("method not allowed", b"DELETE /plain HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 405),
        ("put without --writable", b"PUT /files/x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx".to_vec(), 405),
        ("trace by default", b"TRACE / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 405),
        ("connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec(), 405),
    ];
    for (what, request, status) in cases {
        let r = exchange(addr, &request);
        assert_eq!(r.status, status, "{what}: {}", r.head);
        if status == 405 {
            assert!(r.header("allow").is_some(), "{what}: 405 without Allow");
        }
    }
    let r = exchange(addr, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 204);
    assert!(r.header("allow").unwrap().contains("GET"));
}

#[test]
fn answers_arrive_while_the_client_is_still_sending() {
    let root = tempfile::tempdir().unwrap();
    let server = http_server(root.path(), &["--max-body", "1MiB"]);
    let addr = server.tcp("http");
    // 413: a 50 MB body declared and being sent. A reset would destroy the answer.
    let mut s = connect(addr);
    let mut writer = s.try_clone().unwrap();
    let w = thread::spawn(move || {
        let _ =
            writer.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 50000000\r\n\r\n");
        let chunk = vec![b'x'; 65536];
        for _ in 0..64 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(r.status, 413);
    w.join().unwrap();
    // 431: a 70 KB header section.
    let mut s = connect(addr);
    let mut writer = s.try_clone().unwrap();
    let w = thread::spawn(move || {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
            "y".repeat(70_000)
        );
        let _ = writer.write_all(big.as_bytes());
    });
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(r.status, 431);
    w.join().unwrap();
}

#[test]
fn a_slow_head_gets_408() {
    let root = tempfile::tempdir().unwrap();
    let server = http_server(root.path(), &["--header-timeout", "300ms"]);
    let mut s = connect(server.tcp("http"));
    s.write_all(b"GET /plain HTTP/1.1\r\nHo").unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(r.status, 408);
    assert!(closes(&mut s));
}

#[test]
fn over_max_connections_gets_503_with_retry_after() {
    let root = tempfile::tempdir().unwrap();
    // No minimum rate: a connection mid-upload is then never closed to make room. The
    // 100 Continue proves the server holds it in that state before the next client comes.
    let server = http_server(
        root.path(),
        &["--max-connections", "1", "--min-rate", "0", "--writable"],
    );
    let addr = server.tcp("http");
    let mut held = connect(addr);
    held.write_all(
        b"PUT /files/h.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut held, &mut Vec::new(), false).status, 100);
    let mut extra = connect(addr);
    let r = read_response(&mut extra, &mut Vec::new(), false);
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
}

#[test]
fn uploads_auth_downloads_ranges_and_conditionals() {
    let root = tempfile::tempdir().unwrap();
    let server = http_server(
        root.path(),
        &["--writable", "--auth", "u:p", "--max-body", "32MiB"],
    );
    let addr = server.tcp("http");
    let auth = "Authorization: Basic dTpw\r\n"; // u:p
    let r = exchange(
        addr,
        b"PUT /files/a.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));

    // A chunked upload of 20 MiB, then a byte-identical download.
    let data = pattern(20 << 20, 11);
    let mut s = connect(addr);
    let head = format!(
        "PUT /files/big.bin HTTP/1.1\r\nHost: t\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
    );
    let mut writer = s.try_clone().unwrap();
    let body = data.clone();
    let w = thread::spawn(move || {
        writer.write_all(head.as_bytes()).unwrap();
        for chunk in body.chunks(1 << 20) {
            writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .unwrap();
            writer.write_all(chunk).unwrap();
            writer.write_all(b"\r\n").unwrap();
        }
        writer.write_all(b"0\r\n\r\n").unwrap();
    });
    assert_eq!(read_response(&mut s, &mut Vec::new(), false).status, 201);
    w.join().unwrap();
    let r = get(addr, "/files/big.bin");
    assert_eq!(r.status, 200);
    assert!(r.body == data, "download differs from upload");
    let etag = r.header("etag").unwrap();
    let modified = r.header("last-modified").unwrap();

    let r = exchange(
        addr,
        b"HEAD /files/big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.header("content-length").unwrap(), (20 << 20).to_string());

    let range = |spec: &str| {
        exchange(
            addr,
            format!("GET /files/big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes={spec}\r\n\r\n")
                .as_bytes(),
        )
    };
    let r = range("100-199");
    assert_eq!((r.status, &r.body[..]), (206, &data[100..200]));
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes 100-199/{}", data.len())
    );
    assert_eq!(range("-10").body, &data[data.len() - 10..]);
    let r = range(&format!("{}-", data.len()));
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes */{}", data.len())
    );

    let cond = |h: String| {
        exchange(
            addr,
            format!("GET /files/big.bin HTTP/1.1\r\nHost: t\r\n{h}\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(cond(format!("If-None-Match: {etag}")).status, 304);
    assert_eq!(cond(format!("If-Modified-Since: {modified}")).status, 304);

    let r = exchange(
        addr,
        format!("PUT /files/big.bin HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 3\r\n\r\nnew")
            .as_bytes(),
    );
    assert_eq!(r.status, 204, "replacing answers 204");
    assert_eq!(get(addr, "/files/big.bin").body, b"new");
    let del = format!("DELETE /files/big.bin HTTP/1.1\r\nHost: t\r\n{auth}\r\n");
    assert_eq!(exchange(addr, del.as_bytes()).status, 204);
    assert_eq!(get(addr, "/files/big.bin").status, 404);
    assert_eq!(exchange(addr, del.as_bytes()).status, 404);
}

#[test]
fn a_cut_off_upload_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let server = http_server(root.path(), &["--writable"]);
    let mut s = connect(server.tcp("http"));
    s.write_all(b"PUT /files/cut.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    s.write_all(&[b'z'; 40_000]).unwrap();
    drop(s);
    let files = root.path().join("files");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = names_in(&files);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn traversal_never_escapes_the_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"TOP SECRET").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("a")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link")).unwrap();
    let server = http_server(root.path(), &[]);
    let addr = server.tcp("http");
    assert_eq!(
        get(addr, "/%2e%2e/secret").status,
        403,
        "a `..` segment is forbidden"
    );
    assert_eq!(
        get(addr, "/link").status,
        403,
        "a symlink out of the root is forbidden"
    );
    let secret_rel = format!("{}/secret", outside.path().display());
    for path in [
        "/../secret".to_string(),
        "/%2e%2e/secret".to_string(),
        "/a/..%2f..%2fsecret".to_string(),
        format!("/%2f{}", secret_rel.trim_start_matches('/')),
        "/a\\..\\..\\secret".to_string(),
        "/%00".to_string(),
        "/link".to_string(),
        format!("/../../../../../..{secret_rel}"),
    ] {
        let r = get(addr, &path);
        assert!(matches!(r.status, 400 | 403 | 404), "{path}: {}", r.status);
        assert!(
            !r.body.windows(10).any(|w| w == b"TOP SECRET"),
            "{path} leaked"
        );
    }
}

#[test]
fn trace_when_allowed() {
    let root = tempfile::tempdir().unwrap();
    let server = http_server(root.path(), &["--allow-trace"]);
    let r = exchange(
        server.tcp("http"),
        b"TRACE /x HTTP/1.1\r\nHost: t\r\nX-Probe: 42\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("message/http"));
    assert!(String::from_utf8_lossy(&r.body).contains("X-Probe: 42"));
}
