//! HTTP/2 end to end, against peers evserve shares no code with: curl (h2c by prior knowledge,
//! and h2 over TLS chosen by ALPN), nghttp, h2load, and Python's `h2` for the hostile cases
//! (`tests/h2/hostile.py`: raw frames a well-behaved client library refuses to send). A
//! missing tool fails its test with the command that installs it (`.ci/run` installs all).

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use util::tls::{TlsServer, require};
use util::{Server, pattern};

fn run(program: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("60")
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn stdout_of(program: &str, args: &[&str]) -> Vec<u8> {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A server on a fresh document root holding `small.txt` and a 2 MB `big.bin` (past the
/// file cache: sent with sendfile between DATA frame headers on h2c).
fn serve(extra: &[&str]) -> (Server, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("small.txt"), b"small file\n").unwrap();
    std::fs::write(root.path().join("big.bin"), pattern(2_000_000, 7)).unwrap();
    let dir = root.path().to_str().unwrap().to_owned();
    let mut args = vec![
        "--http",
        "127.0.0.1:0",
        "--root",
        &dir,
        "--writable",
        "--writable-without-auth",
    ];
    args.extend_from_slice(extra);
    (Server::start(&args, 1), root)
}

fn curl_h2c(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["-sS", "--max-time", "20", "--http2-prior-knowledge"];
    all.extend_from_slice(args);
    stdout_of("curl", &all)
}

#[test]
fn curl_with_prior_knowledge_gets_heads_posts_and_404s() {
    require("curl", "curl");
    let (server, root) = serve(&[]);
    let base = format!("http://{}", server.tcp("http"));
    let version = curl_h2c(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &format!("{base}/plain"),
    ]);
    assert_eq!(version, b"2");
    assert_eq!(curl_h2c(&[&format!("{base}/plain")]), b"Hello, World!");
    assert_eq!(curl_h2c(&[&format!("{base}/small.txt")]), b"small file\n");
    let big = curl_h2c(&[&format!("{base}/big.bin")]);
    assert!(big == pattern(2_000_000, 7), "big.bin: {} bytes", big.len());
    // Its DATA frames carried file slices the kernel copied: no byte of it was read by us.
    let stats: serde_json::Value =
        serde_json::from_slice(&curl_h2c(&[&format!("{base}/stats")])).unwrap();
    assert!(
        stats["sendfiles"].as_u64() >= Some(2_000_000 / 16_384),
        "{stats}"
    );
    let head = String::from_utf8(curl_h2c(&["-I", &format!("{base}/big.bin")])).unwrap();
    assert!(head.starts_with("HTTP/2 200"), "{head}");
    assert!(head.contains("content-length: 2000000"), "{head}");
    let code = curl_h2c(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/nope"),
    ]);
    assert_eq!(code, b"404");
    let range = curl_h2c(&["-r", "0-4", &format!("{base}/small.txt")]);
    assert_eq!(range, b"small");
    let body = root.path().join("body.bin");
    std::fs::write(&body, pattern(300_000, 3)).unwrap();
    let at_body = format!("@{}", body.display());
    let echoed = curl_h2c(&["--data-binary", &at_body, &format!("{base}/echo")]);
    assert!(
        echoed == pattern(300_000, 3),
        "echo: {} bytes",
        echoed.len()
    );
    let put = curl_h2c(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-T",
        body.to_str().unwrap(),
        &format!("{base}/files/up.bin"),
    ]);
    assert_eq!(put, b"201");
    assert!(curl_h2c(&[&format!("{base}/files/up.bin")]) == pattern(300_000, 3));
}

#[test]
fn curl_over_tls_chooses_h2_by_alpn_and_http1_still_works() {
    require("curl", "curl");
    let server = TlsServer::self_signed(&["--https", "127.0.0.1:0"], 1);
    let port = server.tcp("https").port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/plain");
    let cert = server.cert();
    let common = [
        "-sS",
        "--max-time",
        "20",
        "--cacert",
        cert.to_str().unwrap(),
    ];
    let get = |version: &str| {
        let mut args = common.to_vec();
        args.extend_from_slice(&[
            version,
            "--resolve",
            &resolve,
            "-w",
            " %{http_version}",
            &url,
        ]);
        String::from_utf8(stdout_of("curl", &args)).unwrap()
    };
    assert_eq!(get("--http2"), "Hello, World! 2");
    assert_eq!(get("--http1.1"), "Hello, World! 1.1");
}

#[test]
fn no_http2_serves_http1_only_on_both_listeners() {
    require("curl", "curl");
    let server = TlsServer::self_signed(
        &[
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
            "--no-http2",
        ],
        2,
    );
    let plain = format!("http://{}/plain", server.tcp("http"));
    let out = run(
        "curl",
        &["-sS", "--max-time", "10", "--http2-prior-knowledge", &plain],
    );
    assert!(!out.status.success(), "h2c must be refused with --no-http2");
    let port = server.tcp("https").port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/plain");
    let cert = server.cert();
    let version = stdout_of(
        "curl",
        &[
            "-sS",
            "--http2",
            "--cacert",
            cert.to_str().unwrap(),
            "--resolve",
            &resolve,
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            &url,
        ],
    );
    assert_eq!(version, b"1.1", "ALPN must not offer h2");
}

#[test]
fn nghttp_sees_our_settings_its_ack_and_a_200() {
    require("nghttp", "nghttp2-client");
    let (server, _root) = serve(&[]);
    let url = format!("http://{}/plain", server.tcp("http"));
    let text = String::from_utf8(stdout_of("nghttp", &["-nv", &url])).unwrap();
    assert!(
        text.contains("recv SETTINGS frame <length=30, flags=0x00, stream_id=0>"),
        "{text}"
    );
    assert!(
        text.contains("[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):128]"),
        "{text}"
    );
    assert!(
        text.contains("recv SETTINGS frame <length=0, flags=0x01, stream_id=0>"),
        "{text}"
    );
    assert!(text.contains(":status: 200"), "{text}");
}

#[test]
fn h2load_2000_requests_on_4_connections_none_fail() {
    require("h2load", "nghttp2-client");
    let (server, _root) = serve(&[]);
    let url = format!("http://{}/plain", server.tcp("http"));
    let text = String::from_utf8(stdout_of(
        "h2load",
        &["-n", "2000", "-c", "4", "-m", "10", &url],
    ))
    .unwrap();
    assert!(
        text.contains("2000 succeeded, 0 failed, 0 errored, 0 timeout"),
        "{text}"
    );
    let stats = curl_h2c(&[&format!("http://{}/stats", server.tcp("http"))]);
    let stats: serde_json::Value = serde_json::from_slice(&stats).unwrap();
    assert!(stats["http2_connections"].as_u64() >= Some(5), "{stats}");
    assert!(stats["http2_streams"].as_u64() >= Some(2001), "{stats}");
}

/// Runs one case of `tests/h2/hostile.py` against `addr`.
fn hostile(case: &str, addr: SocketAddr, arg: Option<&str>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/h2/hostile.py");
    let mut args = vec![script.to_owned(), case.to_owned(), addr.to_string()];
    args.extend(arg.map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("python3", &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "Python's h2 is missing: python3 -m pip install h2\n{stderr}"
    );
    assert!(out.status.success(), "hostile.py {case}: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
}

#[test]
fn python_h2_is_served_two_requests_on_one_connection() {
    let (server, _root) = serve(&[]);
    hostile("normal", server.tcp("http"), None);
}

#[test]
fn event_streams_over_h2_tick_beside_a_request_and_end_on_reset() {
    let (server, _root) = serve(&[]);
    hostile("events", server.tcp("http"), None);
}

#[test]
fn curl_reads_two_events_over_h2c() {
    let (server, _root) = serve(&[]);
    let url = format!("http://{}/events", server.tcp("http"));
    // curl stops at --max-time (exit 28) with what it read: the stream does not end.
    let out = run(
        "curl",
        &["-sN", "--http2-prior-knowledge", "--max-time", "3", &url],
    );
    let body = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(28), "{body}");
    assert!(body.starts_with("retry: 2000\n\ndata: {"), "{body}");
    assert!(body.matches("data: {").count() >= 2, "{body}");
}

#[test]
fn a_wrong_preface_gets_goaway_protocol_error() {
    let (server, _root) = serve(&[]);
    hostile("bad_preface", server.tcp("http"), None);
}

#[test]
fn one_stream_past_max_concurrent_streams_is_refused() {
    let (server, _root) = serve(&["--http2-max-streams", "4"]);
    hostile("refused_stream", server.tcp("http"), Some("4"));
}

#[test]
fn data_past_the_stream_window_is_a_flow_control_error() {
    let (server, _root) = serve(&["--http2-window", "1000"]);
    hostile("flow_control", server.tcp("http"), Some("1000"));
}

#[test]
fn a_continuation_flood_gets_goaway() {
    let (server, _root) = serve(&[]);
    hostile("continuation_flood", server.tcp("http"), None);
}

#[test]
fn rapid_reset_gets_goaway_enhance_your_calm() {
    let (server, _root) = serve(&[]);
    hostile("rapid_reset", server.tcp("http"), None);
}

#[test]
fn a_ping_flood_left_unread_ends_in_goaway_or_is_dropped() {
    let (server, _root) = serve(&["--send-buffer", "4096"]);
    hostile("ping_flood", server.tcp("http"), None);
}

#[test]
fn a_settings_flood_left_unread_ends_in_goaway_or_is_dropped() {
    let (server, _root) = serve(&["--send-buffer", "4096"]);
    hostile("settings_flood", server.tcp("http"), None);
}

#[test]
fn a_window_kept_shut_while_pinging_is_ended_by_the_minimum_rate() {
    let (server, _root) = serve(&["--min-rate", "512", "--rate-window", "2s"]);
    hostile("shut_window", server.tcp("http"), None);
}

#[test]
fn an_hpack_bomb_gets_goaway_compression_error() {
    let (server, _root) = serve(&[]);
    hostile("hpack_bomb", server.tcp("http"), None);
}

/// A frame header: length, type, flags, stream.
fn frame_header(len: usize, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
    let len = (len as u32).to_be_bytes();
    let mut h = vec![len[1], len[2], len[3], kind, flags];
    h.extend_from_slice(&stream.to_be_bytes());
    h
}

/// An HPACK block of literal fields, without indexing or Huffman (names and values under
/// 127 bytes).
fn literal_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    block
}

#[test]
fn a_graceful_stop_sends_goaway_and_finishes_the_download_under_way() {
    let (mut server, _root) = serve(&[]);
    let mut sock = TcpStream::connect(server.tcp("http")).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS_INITIAL_WINDOW_SIZE = 2^31-1, and the connection window as large: the
    // download needs nothing more from us.
    hello.extend(frame_header(6, 0x4, 0, 0));
    hello.extend([0, 4, 0x7f, 0xff, 0xff, 0xff]);
    hello.extend(frame_header(4, 0x8, 0, 0));
    hello.extend((0x7fff_ffffu32 - 65_535).to_be_bytes());
    let block = literal_block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/big.bin"),
        (":authority", "x"),
    ]);
    hello.extend(frame_header(block.len(), 0x1, 0x5, 1));
    hello.extend(&block);
    sock.write_all(&hello).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut terminated = false;
    let mut goaway = None;
    let mut body = 0usize;
    let mut ended = false;
    loop {
        while buf.len() >= 9 {
            let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let payload = buf[9..9 + len].to_vec();
            buf.drain(..9 + len);
            match kind {
                0x0 => {
                    body += len;
                    ended |= flags & 0x1 != 0;
                }
                0x7 => {
                    let last = u32::from_be_bytes(payload[..4].try_into().unwrap());
                    let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
                    goaway = Some((last, code));
                }
                _ => {}
            }
        }
        if body > 0 && !terminated {
            // The download has started: stop the server now.
            server.terminate();
            terminated = true;
        }
        match sock.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    assert_eq!(goaway, Some((1, 0)), "GOAWAY NO_ERROR naming stream 1");
    assert!(ended, "the download was finished: {body} bytes");
    assert_eq!(body, 2_000_000);
    assert!(server.wait_exit(Duration::from_secs(20)).is_some());
}

#[test]
fn a_graceful_stop_ends_an_event_stream_with_end_stream() {
    // The stream must end with END_STREAM because we stop: not cut when the connection
    // closes, nor left open until the drain timeout (far past the read timeout here).
    let (mut server, _root) = serve(&["--drain-timeout", "10m"]);
    let addr = server.tcp("http");
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(frame_header(0, 0x4, 0, 0));
    let authority = addr.to_string();
    let block = literal_block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/events"),
        (":authority", &authority),
    ]);
    hello.extend(frame_header(block.len(), 0x1, 0x5, 1));
    hello.extend(&block);
    sock.write_all(&hello).unwrap();
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 65536]);
    let (mut events, mut terminated, mut ended, mut goaway) = (0, false, false, None);
    loop {
        while buf.len() >= 9 {
            let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let payload = buf[9..9 + len].to_vec();
            buf.drain(..9 + len);
            match kind {
                0x0 => {
                    events += String::from_utf8_lossy(&payload).matches("data: {").count();
                    ended |= flags & 0x1 != 0;
                }
                0x1 => ended |= flags & 0x1 != 0,
                0x7 => {
                    let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
                    goaway = Some(code);
                }
                _ => {}
            }
        }
        assert!(!ended || terminated, "the event stream ended by itself");
        if events >= 2 && !terminated {
            server.terminate();
            terminated = true;
        }
        match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("no end of the connection: {e} ({events} events, ended {ended})"),
        }
    }
    assert!(terminated, "{events} events before the connection closed");
    assert_eq!(goaway, Some(0), "GOAWAY NO_ERROR");
    assert!(ended, "END_STREAM on the event stream");
    assert!(server.wait_exit(Duration::from_secs(20)).is_some());
}
