//! `evserve load --http2` against a spawned evserve, over real sockets: h2c by prior
//! knowledge and h2 over TLS by ALPN, many streams per connection, counts exact, statuses
//! tabled, `--error-status`, the open loop with threads, the sweep, and Ctrl-C. The server's
//! `/stats` proves the load really spoke HTTP/2.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use util::Server;
use util::http::stats;
use util::tls::TlsServer;

fn load(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evserve"))
        .arg("load")
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// `n` responses, all 200, and nothing else.
fn assert_exact(doc: &serde_json::Value, n: u64) {
    assert_eq!(doc["requests"].as_u64(), Some(n), "{doc}");
    assert_eq!(doc["statuses"], serde_json::json!({"200": n}), "{doc}");
    let failed = (&doc["errors"], &doc["timeouts"], &doc["reconnects"]);
    assert_eq!(failed, (&0.into(), &0.into(), &0.into()), "{doc}");
    assert_eq!(doc["latency_us"]["samples"].as_u64(), Some(n), "{doc}");
}

#[test]
fn h2c_ten_streams_per_connection_count_exactly() {
    let server = Server::start(&["--http", "127.0.0.1:0"], 1);
    let addr = server.tcp("http");
    let url = format!("http://{addr}/plain");
    let out = load(&[
        "--http2",
        &url,
        "-c",
        "4",
        "--streams",
        "10",
        "-n",
        "3000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_exact(&json(&out), 3000);
    let stats = stats(addr);
    assert_eq!(stats["http2_connections"].as_u64(), Some(4), "{stats}");
    assert!(stats["http2_streams"].as_u64() >= Some(3000), "{stats}");
}

#[test]
fn h2_over_tls_by_alpn_counts_exactly() {
    let tls = TlsServer::self_signed(&["--http", "127.0.0.1:0", "--https", "127.0.0.1:0"], 2);
    let cert = tls.cert();
    let url = format!("https://localhost:{}/plain", tls.tcp("https").port());
    let out = load(&[
        "--http2",
        &url,
        "--cacert",
        cert.to_str().unwrap(),
        "-c",
        "3",
        "--streams",
        "10",
        "-n",
        "2000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json(&out);
    assert_exact(&doc, 2000);
    assert_eq!(doc["tls_handshakes"]["full"].as_u64(), Some(3), "{doc}");
    let stats = stats(tls.tcp("http"));
    assert_eq!(stats["http2_connections"].as_u64(), Some(3), "{stats}");
}

#[test]
fn statuses_are_tabled_and_error_status_applies() {
    let server = Server::start(&["--http", "127.0.0.1:0"], 1);
    let url = format!("http://{}/no-such-file", server.tcp("http"));
    let common = ["--http2", &url, "-c", "2", "--streams", "5", "-n", "200"];
    let out = load(&common);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text.starts_with("200 requests in "), "{text}");
    assert!(text.contains("\n  [404] 200 responses\n"), "{text}");

    let out = load(&[&common[..], &["--error-status", "4xx", "--json"]].concat());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc = json(&out);
    assert_eq!(
        (doc["requests"].as_u64(), doc["errors"].as_u64()),
        (Some(0), Some(200))
    );
    assert_eq!(doc["statuses"], serde_json::json!({"404": 200}), "{doc}");
}

#[test]
fn an_open_loop_on_two_threads_counts_exactly() {
    let server = Server::start(&["--http", "127.0.0.1:0"], 1);
    let url = format!("http://{}/plain", server.tcp("http"));
    let out = load(&[
        "--http2",
        &url,
        "-c",
        "4",
        "-t",
        "2",
        "--streams",
        "4",
        "--rate",
        "2000",
        "-n",
        "600",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_exact(&json(&out), 600);
}

/// A tiny HTTP/2 server that allows 4 streams at once, answers 5 streams per connection
/// with `200` and no body, then sends GOAWAY naming the 5th as the last it processed,
/// leaving any later stream unanswered. Frames from the library's codec; the client's
/// SETTINGS are not acknowledged (the load does not wait for that).
fn goaway_after_five() -> SocketAddr {
    use evserve::protocol::http2::frame::{self, ErrorCode, Frame, SettingId};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut out = Vec::new();
                frame::encode_settings(&mut out, &[(SettingId::MAX_CONCURRENT_STREAMS, 4)]);
                let _ = s.write_all(&out);
                let (mut pending, mut buf, mut answered) = (Vec::new(), [0u8; 16384], 0);
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    pending.extend_from_slice(&buf[..n]);
                    if pending.starts_with(frame::PREFACE) {
                        pending.drain(..frame::PREFACE.len());
                    }
                    let mut out = Vec::new();
                    while let Ok(Some((f, used))) = frame::decode(&pending, 16384) {
                        if let Frame::Headers { stream, .. } = f
                            && answered < 5
                        {
                            // `:status: 200` is entry 8 of HPACK's static table.
                            frame::encode_headers(&mut out, stream, &[0x88], true, 16384);
                            answered += 1;
                            if answered == 5 {
                                frame::encode_goaway(&mut out, stream, ErrorCode::NoError, b"");
                            }
                        }
                        pending.drain(..used);
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

#[test]
fn goaway_sends_the_unprocessed_requests_again_on_a_new_connection() {
    let url = format!("http://{}/", goaway_after_five());
    let out = load(&[
        "--http2",
        &url,
        "-c",
        "2",
        "--streams",
        "8",
        "-n",
        "100",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json(&out);
    assert_eq!(doc["requests"].as_u64(), Some(100), "{doc}");
    assert_eq!(doc["statuses"], serde_json::json!({"200": 100}), "{doc}");
    assert_eq!(
        (doc["errors"].as_u64(), doc["timeouts"].as_u64()),
        (Some(0), Some(0))
    );
    // 5 answers per connection: 20 connections for 100, each ended by GOAWAY.
    assert!(doc["connects"].as_u64() >= Some(20), "{doc}");
}

#[test]
fn a_server_without_http2_is_named_not_counted() {
    let server = Server::start(&["--http", "127.0.0.1:0", "--no-http2"], 1);
    let url = format!("http://{}/plain", server.tcp("http"));
    let out = load(&["--http2", &url, "-c", "1", "-n", "5", "-d", "10s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text.contains("the server answers in HTTP/1.1, not HTTP/2"),
        "{text}"
    );
}

/// Also: the targets are named in the legend as `--name` and `--compare NAME=URL` say.
#[test]
fn the_sweep_drives_http2() {
    let server = Server::start(&["--http", "127.0.0.1:0"], 1);
    let addr = server.tcp("http");
    let url = format!("http://{addr}/plain");
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("sweep");
    let out = load(&[
        "sweep",
        "--http2",
        &url,
        "--streams",
        "4",
        "-c",
        "2",
        "--slo",
        "1s",
        "--start",
        "200",
        "--stop",
        "400",
        "--warmup",
        "100ms",
        "--measure",
        "300ms",
        "--out",
        prefix.to_str().unwrap(),
        "--name",
        "first",
        "--compare",
        &format!("second={url}"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(prefix.with_extension("json")).unwrap()).unwrap();
    for (t, name) in ["first", "second"].iter().enumerate() {
        let target = &doc["targets"][t];
        assert_eq!(target["label"], *name, "{doc}");
        assert_eq!(target["steps"].as_array().map(Vec::len), Some(2), "{doc}");
    }
    let svg = std::fs::read_to_string(prefix.with_extension("svg")).unwrap();
    assert!(
        svg.contains(">first</text>") && svg.contains(">second</text>"),
        "{svg}"
    );
    assert!(
        !svg.contains(&url),
        "the legend shows names, not URLs: {svg}"
    );
    let stats = stats(addr);
    assert!(stats["http2_streams"].as_u64() >= Some(100), "{stats}");
}

#[test]
fn ctrl_c_prints_the_partial_report_and_exits_130() {
    let server = Server::start(&["--http", "127.0.0.1:0"], 1);
    let addr = server.tcp("http");
    let url = format!("http://{addr}/plain");
    let mut child = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args([
            "load",
            "--http2",
            &url,
            "-c",
            "2",
            "--streams",
            "4",
            "-d",
            "30s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Under way once the server has answered streams (stderr is no terminal: no progress
    // line to wait for).
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats(addr)["http2_streams"].as_u64() < Some(100) {
        assert!(Instant::now() < deadline, "no HTTP/2 streams within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, stdout) = util::interrupt_child(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(
        stdout.starts_with("interrupted: partial results\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\n  [200] "), "{stdout}");
}
