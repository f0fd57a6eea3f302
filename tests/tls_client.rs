//! The client side of TLS end to end over 127.0.0.1: `evserve load https://…`, `load echo
//! --tls`, `load framed --tls` and `send --tls` against a real `evserve serve` with its
//! self-signed certificate written out, the handshake counts cross-checked against the
//! server's `/stats`, and `serve --hsts` on HTTPS answers only.
//!
//! Every load run is bounded by a request count (`-n`) and a time limit (`-d`).

mod util;

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Output};

use serde_json::Value;
use util::http::{get, read_response};
use util::tls::{TlsServer, client_config, handshake};

/// Runs `evserve ARGS…` to the end and returns what it said.
fn evserve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(args)
        .output()
        .expect("run evserve")
}

/// `evserve load ARGS… -d 60s --json`: the exit code and the report.
fn load_json(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = evserve(&[&["load"], args, &["-d", "60s", "--json"]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout} {stderr}"));
    (out.status.code(), report, stderr)
}

/// The server's handshake counters (full, resumed), read over plain HTTP so that reading
/// them makes no handshake.
fn handshakes(http: SocketAddr) -> (u64, u64) {
    let stats = util::http::stats(http);
    let n = |key: &str| {
        stats[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {stats}"))
    };
    (n("tls_handshakes_full"), n("tls_handshakes_resumed"))
}

/// An HTTPS and a plain HTTP listener on one server (the plain one for `/stats`).
fn https_server(extra: &[&str]) -> (TlsServer, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap().to_string();
    let mut args = vec![
        "--https",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--root",
        &root_arg,
    ];
    args.extend_from_slice(extra);
    (TlsServer::self_signed(&args, 2), root)
}

fn u(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {report}"))
}

#[test]
fn https_load_trusts_only_what_it_is_told() {
    let (s, _root) = https_server(&[]);
    let url = format!("https://127.0.0.1:{}/plain", s.tcp("https").port());
    let cert = s.cert();
    let cert = cert.to_str().unwrap();

    // With the server's certificate: every request answered.
    let (code, r, _) = load_json(&[&url, "--cacert", cert, "-n", "200", "-c", "4"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!((u(&r, "requests"), u(&r, "errors")), (200, 0), "{r}");
    let tls = &r["tls_handshakes"];
    assert_eq!(tls["failed"], 0, "{r}");
    assert!(u(tls, "full") >= 1, "{r}");
    assert!(
        tls["suite"]
            .as_str()
            .is_some_and(|s| s.starts_with("TLSv1_3")),
        "{r}"
    );

    // Without it: no built-in roots, so the self-signed certificate is unknown. Every
    // request fails, the report says why, and the exit status says it failed.
    let out = evserve(&["load", &url, "-n", "200", "-c", "4", "-d", "60s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("0 requests"), "{text}");
    assert!(
        text.contains("200 × handshake failed: UnknownIssuer, first: invalid peer certificate"),
        "{text}"
    );
    assert!(text.contains("--cacert FILE"), "what to do next: {text}");
    assert!(text.contains(" full, 0 resumed, "), "{text}");

    // --insecure: accepted, and said once on stderr.
    let (code, r, stderr) = load_json(&[&url, "--insecure", "-n", "200", "-c", "4"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!((u(&r, "requests"), u(&r, "errors")), (200, 0), "{r}");
    assert_eq!(stderr.matches("warning: --insecure").count(), 1, "{stderr}");
}

#[test]
fn new_connection_per_request_counts_handshakes_as_the_server_does() {
    let (s, _root) = https_server(&[]);
    let url = format!("https://127.0.0.1:{}/plain", s.tcp("https").port());
    let http = s.tcp("http");
    let cert = s.cert();
    let cert = cert.to_str().unwrap();
    let per_request = ["--new-connection-per-request", "-n", "60", "-c", "2"];

    // Resumption on (the default): one full handshake per connection slot at most at first,
    // then tickets; the server counts exactly what the client saw.
    let before = handshakes(http);
    let (code, r, _) = load_json(&[&[url.as_str(), "--cacert", cert][..], &per_request].concat());
    assert_eq!(code, Some(0), "{r}");
    assert_eq!((u(&r, "requests"), u(&r, "errors")), (60, 0), "{r}");
    let tls = &r["tls_handshakes"];
    let (full, resumed) = (u(tls, "full"), u(tls, "resumed"));
    // One handshake per request; a connection may open for the next request as the count
    // runs out (one per slot at most), and its handshake counts on both sides too.
    assert!((60..=62).contains(&(full + resumed)), "{r}");
    // A connection the run ended on may be open with its handshake unfinished.
    assert!((full + resumed..=62).contains(&u(&r, "connects")), "{r}");
    assert!(resumed >= 58 && full <= 2, "sessions resumed: {r}");
    let after = handshakes(http);
    assert_eq!((after.0 - before.0, after.1 - before.1), (full, resumed));

    // --no-tls-resume: every handshake full, on both sides.
    let (code, r, _) = load_json(
        &[
            &[url.as_str(), "--cacert", cert, "--no-tls-resume"][..],
            &per_request,
        ]
        .concat(),
    );
    assert_eq!(code, Some(0), "{r}");
    let tls = &r["tls_handshakes"];
    let full = u(tls, "full");
    assert!((60..=62).contains(&full), "{r}");
    assert_eq!(tls["resumed"], 0, "{r}");
    let last = handshakes(http);
    assert_eq!((last.0 - after.0, last.1 - after.1), (full, 0));

    // Keep-alive: one handshake per connection, however many requests.
    let (code, r, _) = load_json(&[&url, "--cacert", cert, "-n", "300", "-c", "3"]);
    assert_eq!(code, Some(0), "{r}");
    let tls = &r["tls_handshakes"];
    assert_eq!(u(tls, "full") + u(tls, "resumed"), 3, "{r}");
    assert_eq!(u(&r, "reconnects"), 0, "{r}");
}

#[test]
fn echo_and_framed_round_trip_over_tls() {
    let s = TlsServer::self_signed(
        &[
            "--tls-echo",
            "127.0.0.1:0",
            "--tls-framed",
            "127.0.0.1:0",
            "--echo",
            "127.0.0.1:0",
        ],
        3,
    );
    let cert = s.cert();
    let cert = cert.to_str().unwrap();
    let echo = s.tcp("tls-echo").to_string();
    let framed = s.tcp("tls-framed").to_string();
    // Payloads larger than a TLS record (16 KiB) and pipelined, so replies span records
    // and reads.
    for (what, addr, extra) in [
        ("echo", &echo, ["--size", "40000"]),
        ("echo", &echo, ["--pipeline", "8"]),
        ("framed", &framed, ["--size", "20000"]),
        ("framed", &framed, ["--pipeline", "8"]),
    ] {
        let args = [
            &[what, addr.as_str(), "--tls", "--cacert", cert][..],
            &extra,
            &["-n", "200", "-c", "2"],
        ]
        .concat();
        let (code, r, _) = load_json(&args);
        assert_eq!(code, Some(0), "{args:?}: {r}");
        assert_eq!(
            (u(&r, "requests"), u(&r, "errors")),
            (200, 0),
            "{args:?}: {r}"
        );
        assert!(u(&r["tls_handshakes"], "full") >= 1, "{r}");
    }
    // Plain echo to the TLS port: no reply is an echo, nothing counts as throughput.
    let (code, r, _) = load_json(&["echo", &echo, "-n", "20", "-c", "1", "--timeout", "2s"]);
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(u(&r, "requests"), 0, "{r}");

    // TLS to the plain echo port: our ClientHello comes back, and the report says so.
    let plain = s.tcp("echo").to_string();
    let out = evserve(&["load", "echo", &plain, "--tls", "-k", "-n", "20", "-c", "2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("20 × handshake failed: InappropriateHandshakeMessage, first: "),
        "{text}"
    );
    assert!(text.contains("that port echoes, not TLS"), "{text}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("rustls"),
        "rustls's own warnings stay quiet: the report says it"
    );
}

#[test]
fn a_server_that_never_answers_the_handshake_is_a_handshake_timeout() {
    // A listener that accepts and then says nothing, as a plain service waiting for its own
    // protocol would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        // Bounded: the fail-fast probe, then at most a few connections of the run.
        for conn in listener.incoming().take(8) {
            held.push(conn);
        }
    });
    let url = format!("https://{addr}/");
    let out = evserve(&[
        "load",
        &url,
        "-k",
        "-n",
        "2",
        "-c",
        "1",
        "--timeout",
        "500ms",
        "-d",
        "30s",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("errors 0, timeouts 2,"), "{text}");
    assert!(
        text.contains("2 × handshake failed: timed out, first: no answer to the TLS handshake"),
        "{text}"
    );
    assert!(text.contains("0 full, 0 resumed, 2 failed"), "{text}");
}

#[test]
fn send_over_tls_stores_the_file_byte_identical() {
    let files = tempfile::tempdir().unwrap();
    let dir = files.path().to_str().unwrap().to_string();
    let s = TlsServer::self_signed(&["--tls-files", "127.0.0.1:0", "--files-dir", &dir], 1);
    let to = s.tcp("tls-files").to_string();
    let cert = s.cert();
    let src = tempfile::tempdir().unwrap();
    // Several data frames, and more than rustls buffers, so the upload streams.
    let data = util::pattern(700_000, 13);
    let path = src.path().join("data.bin");
    std::fs::write(&path, &data).unwrap();
    let path = path.to_str().unwrap();

    let out = evserve(&[
        "send",
        path,
        "--to",
        &to,
        "--tls",
        "--cacert",
        cert.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.starts_with("sent data.bin: 700000 bytes"), "{said}");
    assert_eq!(std::fs::read(files.path().join("data.bin")).unwrap(), data);

    // Sent again: the server's refusal ("exists") comes back through TLS.
    let out = evserve(&["send", path, "--to", &to, "--tls", "-k"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("refused by the server: exists"), "{err}");

    // Without the certificate: refused in the handshake, nothing stored.
    let out = evserve(&["send", path, "--to", &to, "--tls", "--name", "other.bin"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("TLS handshake failed: invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    // Plain to the TLS port: told to add --tls.
    let out = evserve(&["send", path, "--to", &to, "--name", "plain.bin"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("add --tls"), "{err}");
    assert_eq!(util::names_in(files.path()), ["data.bin"]);
}

/// The `Strict-Transport-Security` field of `GET /plain` over TLS to `addr`.
fn hsts_over_tls(s: &TlsServer) -> Option<String> {
    let config = client_config(&s.cert());
    let mut c = handshake(s.tcp("https"), &config, "localhost");
    c.write_all(b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(c), false).unwrap();
    assert_eq!(r.status, 200);
    r.header("strict-transport-security").map(str::to_owned)
}

#[test]
fn hsts_is_sent_on_https_only_and_only_when_asked() {
    let (s, _root) = https_server(&["--hsts"]);
    assert_eq!(hsts_over_tls(&s).as_deref(), Some("max-age=31536000"));
    let plain = get(s.tcp("http"), "/plain");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("strict-transport-security"), None);
    // On error answers too.
    let config = client_config(&s.cert());
    let mut c = handshake(s.tcp("https"), &config, "localhost");
    c.write_all(b"GET /nonexistent HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(c), false).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.must("strict-transport-security"), "max-age=31536000");

    let (s, _root) = https_server(&["--hsts", "--hsts-max-age", "600"]);
    assert_eq!(hsts_over_tls(&s).as_deref(), Some("max-age=600"));

    let (s, _root) = https_server(&[]);
    assert_eq!(hsts_over_tls(&s), None, "off by default");
}

#[test]
fn websocket_load_runs_over_tls_and_names_an_untrusted_certificate() {
    let (s, _root) = https_server(&[]);
    let cert = s.cert();
    let https = s.tcp("https").to_string();
    // Messages larger than a TLS record, so replies span records and reads.
    let (code, r, _) = load_json(&[
        "ws",
        &https,
        "--tls",
        "--cacert",
        cert.to_str().unwrap(),
        "-c",
        "3",
        "-n",
        "600",
        "--size",
        "20000",
    ]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!((u(&r, "requests"), u(&r, "errors")), (600, 0), "{r}");
    assert!(u(&r["tls_handshakes"], "full") >= 1, "{r}");
    let http = s.tcp("http");
    let stats = util::http::stats(http);
    assert!(stats["ws_messages_in"].as_u64() >= Some(600), "{stats}");

    // Without --cacert nothing is trusted: every handshake fails, and the report says why.
    let out = evserve(&["load", "ws", &https, "--tls", "-c", "1", "-d", "1s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("handshake failed: UnknownIssuer"), "{text}");
    assert!(text.contains("--cacert FILE"), "{text}");
}
