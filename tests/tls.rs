//! TLS end to end over 127.0.0.1, with independent clients: curl, Python's `ssl`, `openssl
//! s_client`, and rustls from the tests themselves. Hostile handshakes too.
//!
//! Needs curl, openssl and python3 (each test says which package is missing).

mod util;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use util::http::read_response;
use util::tls::{self, TlsServer, client_config, handshake, read_to_close, require, run};
use util::{Server, pattern};

fn https(extra: &[&str]) -> (TlsServer, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap().to_string();
    let mut args = vec!["--https", "127.0.0.1:0", "--root", &root_arg];
    args.extend_from_slice(extra);
    (TlsServer::self_signed(&args, 1), root)
}

#[test]
fn curl_with_the_written_certificate_gets_a_page_and_plain_http_gets_told() {
    require("curl", "curl");
    let (s, _root) = https(&[]);
    let addr = s.tcp("https");
    let cert = s.cert();
    let url = format!("https://localhost:{}/plain", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let out = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            cert.to_str().unwrap(),
            "--resolve",
            &resolve,
            "-w",
            "\n%{http_code} %{http_version} %{ssl_verify_result}",
            &url,
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // curl takes HTTP/2 when ALPN offers it (tests/http2.rs covers both versions).
    assert!(text.ends_with("200 2 0"), "{text}");
    assert!(text.starts_with("Hello"), "{text}");

    // By IP address too: the self-signed certificate names 127.0.0.1.
    let url = format!("https://127.0.0.1:{}/plain", addr.port());
    let out = run(
        "curl",
        &["-sS", "--cacert", cert.to_str().unwrap(), &url],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Plain HTTP to the HTTPS port: a plaintext 400 saying what is wrong.
    let url = format!("http://127.0.0.1:{}/plain", addr.port());
    let out = run("curl", &["-sS", "-w", "\n%{http_code}", &url], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("This port speaks HTTPS"), "{text}");
    assert!(text.ends_with("400"), "{text}");

    // Without the certificate, curl refuses: the check is real.
    let out = run(
        "curl",
        &["-sS", &format!("https://127.0.0.1:{}/", addr.port())],
        b"",
    );
    assert!(!out.status.success());
}

#[test]
fn openssl_s_client_sees_tls_1_3_alpn_and_resumption() {
    require("openssl", "openssl");
    let (s, _root) = https(&[]);
    let addr = s.tcp("https").to_string();
    let cert = s.cert();
    let cert = cert.to_str().unwrap();
    let session = s.dir.path().join("session.pem");
    let session = session.to_str().unwrap();
    for version in ["-tls1_3", "-tls1_2"] {
        let base = [
            "s_client",
            "-connect",
            &addr,
            "-servername",
            "localhost",
            "-CAfile",
            cert,
            "-alpn",
            "http/1.1",
            version,
        ];
        // A request, and -ign_eof so s_client waits for the answer and the close: TLS 1.3
        // tickets arrive after the handshake, and it must have read one before -sess_out.
        let request = b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        let first = run(
            "openssl",
            &[&base[..], &["-ign_eof", "-sess_out", session]].concat(),
            request,
        );
        let text = String::from_utf8_lossy(&first.stdout);
        let want = format!("New, TLSv1.{}", &version[6..]);
        assert!(text.contains(&want), "{version}: {text}");
        assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
        assert!(
            text.contains("Hello, World!"),
            "the answer over TLS: {text}"
        );
        assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
        let second = run(
            "openssl",
            &[&base[..], &["-ign_eof", "-sess_in", session]].concat(),
            request,
        );
        let text = String::from_utf8_lossy(&second.stdout);
        assert!(
            text.contains("Reused, TLSv1."),
            "{version}: resumption: {text}"
        );
    }
    // TLS 1.1 and 1.0 are refused.
    for version in ["-tls1_1", "-tls1"] {
        let out = run(
            "openssl",
            &[
                "s_client",
                "-connect",
                &addr,
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
                version,
            ],
            b"",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("New, TLSv1"),
            "{version} was accepted: {text}"
        );
    }
    // A client that offers only ChaCha20-Poly1305 gets it (and it is counted below).
    let chacha = run(
        "openssl",
        &[
            "s_client",
            "-connect",
            &addr,
            "-CAfile",
            cert,
            "-tls1_3",
            "-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256",
            "-ign_eof",
        ],
        b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&chacha.stdout);
    assert!(
        text.contains("TLS_CHACHA20_POLY1305_SHA256") && text.contains("Hello, World!"),
        "{text}"
    );
    // The handshakes are counted in /stats.
    let config = client_config(&s.cert());
    let mut c = handshake(s.tcp("https"), &config, "localhost");
    c.write_all(b"GET /stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(c), false).unwrap();
    let body = r.text();
    for counter in [
        "tls_handshakes_full",
        "tls_handshakes_resumed",
        "tls_handshakes_failed",
    ] {
        assert!(body.contains(counter), "{counter} in {body}");
    }
    assert!(!body.contains("\"tls_handshakes_resumed\":0"), "{body}");
    // Both runs of each version above completed a handshake.
    for version in ["tls_version_1_2", "tls_version_1_3"] {
        assert!(body.contains(version), "{version} in {body}");
        assert!(!body.contains(&format!("\"{version}\":0")), "{body}");
    }
    // And the ciphers they agreed on: AES-GCM for the runs above, ChaCha20 for the last.
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let aes = doc["tls_cipher_aes_128_gcm"].as_u64().unwrap()
        + doc["tls_cipher_aes_256_gcm"].as_u64().unwrap();
    assert!(aes >= 4, "{body}");
    assert_eq!(
        doc["tls_cipher_chacha20_poly1305"].as_u64(),
        Some(1),
        "{body}"
    );
}

/// The server chooses the cipher suite by its own order (testssl.sh: "cipher order"): a
/// TLS 1.2 client that lists ChaCha20 before AES-128-GCM still gets AES-128-GCM, the
/// first of the two in rustls's order.
#[test]
fn the_server_chooses_the_cipher_order() {
    require("openssl", "openssl");
    let (s, _root) = https(&[]);
    let addr = s.tcp("https").to_string();
    let cert = s.cert();
    let chosen = run(
        "openssl",
        &[
            "s_client",
            "-connect",
            &addr,
            "-CAfile",
            cert.to_str().unwrap(),
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
            "-ign_eof",
        ],
        b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&chosen.stdout);
    assert!(text.contains("Hello, World!"), "{text}");
    assert!(
        text.contains("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"),
        "the client's first choice was taken: {text}"
    );
}

/// The self-signed certificate is valid for 397 days from its start, not for centuries:
/// testssl.sh reports a validity over 398 days as a HIGH finding.
#[test]
fn the_self_signed_certificate_is_valid_for_397_days() {
    require("openssl", "openssl");
    let (s, _root) = https(&[]);
    let cert = s.cert();
    let expires_within = |days: u64| {
        let seconds = (days * 86_400).to_string();
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-checkend", &seconds, "-in"])
            .arg(&cert)
            .output()
            .expect("openssl");
        !out.status.success()
    };
    assert!(expires_within(397), "valid for more than 397 days");
    assert!(!expires_within(395), "valid for less than 395 days");
}

#[test]
fn a_renegotiation_attempt_is_refused() {
    require("openssl", "openssl");
    let s = TlsServer::self_signed(&["--tls-echo", "127.0.0.1:0"], 1);
    let addr = s.tcp("tls-echo").to_string();
    let cert = s.cert();
    // `R` alone on a line asks s_client to renegotiate (TLS 1.2 only). Each line is written
    // only once the previous one has had its effect, read from s_client's output.
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "exec openssl s_client -connect \"$0\" -tls1_2 -CAfile \"$1\" 2>&1",
        ])
        .args([&addr, cert.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |needle: &str| {
        while let Ok(line) = rx.recv_timeout(tls::TIMEOUT) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return true;
            }
        }
        false
    };
    stdin.write_all(b"first\n").unwrap();
    assert!(wait_for("first"), "no echo before renegotiating");
    stdin.write_all(b"R\n").unwrap();
    assert!(wait_for("RENEGOTIATING"));
    let refused = wait_for("no renegotiation");
    let _ = stdin.write_all(b"after\n");
    drop(stdin);
    let ended = wait_for("after");
    let _ = child.kill();
    let _ = child.wait();
    assert!(refused, "no refusal: {seen:?}");
    assert!(!ended, "served after a renegotiation: {seen:?}");
}

const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
port, cafile, name, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
if mode == "tls1.1":
    ctx.check_hostname = False
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            s.sendall(b"ping\n")
            got = b""
            while len(got) < 5:
                more = s.recv(100)
                if not more:
                    break
                got += more
            sans = [v for (k, v) in s.getpeercert().get("subjectAltName", ())]
            print("OK", s.version(), ",".join(sans), got.decode().strip())
except (ssl.SSLError, OSError) as e:
    print("FAILED", type(e).__name__, e)
"#;

#[test]
fn python_ssl_gets_the_certificate_for_its_sni_name_and_tls_1_1_fails() {
    require("python3", "python3");
    let dir = tempfile::tempdir().unwrap();
    let (a_cert, a_key) = tls::write_cert(dir.path(), "a", &["a.test"]);
    let (b_cert, b_key) = tls::write_cert(dir.path(), "b", &["b.test"]);
    let arg = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (a_cert, a_key, b_cert, b_key) = (arg(&a_cert), arg(&a_key), arg(&b_cert), arg(&b_key));
    let server = Server::start(
        &[
            "--tls-echo",
            "127.0.0.1:0",
            "--tls-cert",
            &a_cert,
            "--tls-key",
            &a_key,
            "--tls-cert",
            &b_cert,
            "--tls-key",
            &b_key,
        ],
        1,
    );
    let port = server.tcp("tls-echo").port().to_string();
    let python = |cafile: &str, name: &str, mode: &str| {
        let out = run(
            "python3",
            &["-c", PYTHON_CLIENT, &port, cafile, name, mode],
            b"",
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let b = python(&b_cert, "b.test", "tls1.3");
    assert!(b.starts_with("OK TLSv1.3 b.test ping"), "{b}");
    let a = python(&a_cert, "a.test", "default");
    assert!(a.starts_with("OK TLSv1.3 a.test ping"), "{a}");
    // A name no certificate has: the first certificate, which b.test's CA does not trust.
    let other = python(&b_cert, "c.test", "default");
    assert!(other.starts_with("FAILED"), "{other}");
    let old = python(&a_cert, "a.test", "tls1.1");
    assert!(
        old.starts_with("FAILED SSLError"),
        "a TLS 1.1-only client: {old}"
    );
}

#[test]
fn https_pipelining_and_a_large_upload() {
    let (s, root) = https(&[
        "--writable",
        "--writable-without-auth",
        "--max-body",
        "64MiB",
    ]);
    let config = client_config(&s.cert());
    let addr = s.tcp("https");

    // Three requests in one write, three answers in order.
    let mut c = handshake(addr, &config, "localhost");
    c.write_all(
        b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
          GET /nothing-here HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(c);
    let statuses: Vec<u16> = (0..3)
        .map(|_| read_response(&mut reader, false).unwrap().status)
        .collect();
    assert_eq!(statuses, [200, 200, 404]);

    // 24 MiB up, and back byte for byte.
    let data = pattern(24 << 20, 7);
    let mut c = handshake(addr, &config, "localhost");
    let head = format!(
        "PUT /files/big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    for chunk in data.chunks(1 << 20) {
        c.write_all(chunk).unwrap();
    }
    let r = read_response(&mut BufReader::new(&mut c), false).unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    let stored = std::fs::read(root.path().join("files/big.bin"))
        .or_else(|_| std::fs::read(root.path().join("big.bin")))
        .expect("the upload is stored");
    assert!(stored == data, "stored file differs from the upload");
    c.write_all(b"GET /files/big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(&mut c), false).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == data, "download differs from upload");
}

#[test]
fn an_upload_over_the_limit_gets_its_413_over_tls() {
    let (s, _root) = https(&[
        "--writable",
        "--writable-without-auth",
        "--max-body",
        "1KiB",
    ]);
    let config = client_config(&s.cert());
    let mut c = handshake(s.tcp("https"), &config, "localhost");
    c.write_all(b"PUT /files/big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 10485760\r\n\r\n")
        .unwrap();
    // The client goes on sending (as curl would) before it reads: the lingering close must
    // not destroy the answer with a reset.
    let chunk = vec![b'u'; 64 * 1024];
    for _ in 0..4 {
        if c.write_all(&chunk).is_err() {
            break;
        }
    }
    let r = read_response(&mut BufReader::new(&mut c), false).unwrap();
    assert_eq!(r.status, 413, "{r:?}");
}

#[test]
fn tls_echo_carries_a_megabyte_and_chat_broadcasts_are_encrypted() {
    let s = TlsServer::self_signed(
        &["--tls-echo", "127.0.0.1:0", "--tls-chat", "127.0.0.1:0"],
        2,
    );
    let config = client_config(&s.cert());
    let mut c = handshake(s.tcp("tls-echo"), &config, "localhost");
    let data = pattern(1 << 20, 3);
    let mut back = vec![0; data.len()];
    for (chunk, into) in data.chunks(64 * 1024).zip(back.chunks_mut(64 * 1024)) {
        c.write_all(chunk).unwrap();
        c.read_exact(into).unwrap();
    }
    assert!(back == data, "echo differs");
    c.conn.send_close_notify();
    c.flush().unwrap();
    assert!(
        read_to_close(&mut c).is_empty(),
        "nothing after close_notify"
    );

    // Two members of the TLS room: one speaks, the other hears it, encrypted.
    let chat = s.tcp("tls-chat");
    let mut hearer = handshake(chat, &config, "localhost");
    let mut speaker = handshake(chat, &config, "localhost");
    let mut heard = Vec::new();
    let mut buf = [0; 512];
    // The hearer first sees the speaker join (a sign the room has both).
    while !String::from_utf8_lossy(&heard).contains("joined") {
        let n = hearer.read(&mut buf).unwrap();
        assert!(n > 0, "room closed");
        heard.extend_from_slice(&buf[..n]);
    }
    speaker.write_all(b"hello, encrypted room\n").unwrap();
    while !String::from_utf8_lossy(&heard).contains("hello, encrypted room") {
        let n = hearer.read(&mut buf).unwrap();
        assert!(n > 0, "room closed");
        heard.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn plain_and_tls_chat_members_share_one_room() {
    let s = TlsServer::self_signed(
        &[
            "--chat",
            "127.0.0.1:0",
            "--tls-chat",
            "127.0.0.1:0",
            "--chat-show-addresses",
        ],
        2,
    );
    let config = client_config(&s.cert());
    let mut secure = handshake(s.tcp("tls-chat"), &config, "localhost");
    let plain = std::net::TcpStream::connect(s.tcp("chat")).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let plain_addr = plain.local_addr().unwrap();
    let mut heard = Vec::new();
    let mut buf = [0; 512];
    // The TLS member hears the plaintext one join, then speak.
    while !String::from_utf8_lossy(&heard).contains(&format!("* {plain_addr} joined")) {
        let n = secure.read(&mut buf).unwrap();
        assert!(n > 0, "room closed");
        heard.extend_from_slice(&buf[..n]);
    }
    (&plain).write_all(b"hello from plaintext\n").unwrap();
    while !String::from_utf8_lossy(&heard).contains("hello from plaintext") {
        let n = secure.read(&mut buf).unwrap();
        assert!(n > 0, "room closed");
        heard.extend_from_slice(&buf[..n]);
    }
    // And the other way round.
    secure.write_all(b"hello from TLS\n").unwrap();
    let mut lines = std::io::BufReader::new(&plain);
    let mut line = String::new();
    while !line.contains("hello from TLS") {
        line.clear();
        let n = std::io::BufRead::read_line(&mut lines, &mut line).unwrap();
        assert!(n > 0, "room closed");
    }
}

#[test]
fn framed_and_files_listeners_speak_tls_too() {
    let files = tempfile::tempdir().unwrap();
    let s = TlsServer::self_signed(
        &[
            "--tls-framed",
            "127.0.0.1:0",
            "--tls-files",
            "127.0.0.1:0",
            "--files-dir",
            files.path().to_str().unwrap(),
        ],
        2,
    );
    let config = client_config(&s.cert());
    // One length-prefixed frame there and back.
    let mut c = handshake(s.tcp("tls-framed"), &config, "localhost");
    let payload = pattern(1000, 5);
    c.write_all(&(payload.len() as u32).to_be_bytes()).unwrap();
    c.write_all(&payload).unwrap();
    let mut back = vec![0; 4 + payload.len()];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back[..4], (payload.len() as u32).to_be_bytes());
    assert!(back[4..] == payload[..]);
    // The files listener completes a handshake (the `send` client has no TLS yet).
    let c = handshake(s.tcp("tls-files"), &config, "localhost");
    assert_eq!(
        c.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

/// A raw TCP connection to a TLS port, for hostile input.
fn raw(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(tls::TIMEOUT)).unwrap();
    s
}

#[test]
fn hostile_handshakes_are_refused_or_timed_out_and_others_still_served() {
    let s = TlsServer::self_signed(
        &["--tls-echo", "127.0.0.1:0", "--tls-handshake-timeout", "1s"],
        1,
    );
    let addr = s.tcp("tls-echo");
    let config = client_config(&s.cert());

    // Garbage: an alert (type 21) or nothing, then the connection closes.
    let mut g = raw(addr);
    g.write_all(b"\x00\x01garbage garbage garbage\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut g);
    assert!(answer.is_empty() || answer[0] == 21, "{answer:?}");

    // A TLS 1.0 ClientHello with nothing modern in it: a fatal alert.
    let mut old = raw(addr);
    old.write_all(&[
        22, 3, 1, 0, 45, 1, 0, 0, 41, 3, 1, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 2, 0, 0x2f, 1, 0,
    ])
    .unwrap();
    let answer = read_to_close(&mut old);
    assert_eq!(answer.first(), Some(&21), "{answer:?}");

    // A record over the limit, as the first thing sent.
    let mut big = raw(addr);
    let mut record = vec![22, 3, 3, 0xff, 0xff];
    record.resize(5 + 0xffff, 0);
    let _ = big.write_all(&record); // the server may close before taking it all
    let answer = read_to_close(&mut big);
    assert!(answer.is_empty() || answer[0] == 21, "{answer:?}");

    // Tricklers: 300 connections each sending half a ClientHello, one byte at a time.
    let hello = {
        let mut probe = tls::connect(addr, &config, "localhost");
        let mut bytes = Vec::new();
        probe.conn.write_tls(&mut bytes).unwrap();
        bytes
    };
    let mut tricklers: Vec<TcpStream> = (0..300).map(|_| raw(addr)).collect();
    let mut open = vec![true; tricklers.len()];
    for b in &hello[..hello.len() / 2] {
        for (t, open) in tricklers.iter_mut().zip(&mut open) {
            // On a loaded machine 300 x half a hello, a byte a write, can outlast the
            // deadline: the server closing a trickler mid-trickle is what this test expects
            // (trickling does not stretch the deadline), so that one just stops sending.
            if *open && t.write_all(std::slice::from_ref(b)).is_err() {
                *open = false;
            }
        }
    }
    // Meanwhile a real client is served at once.
    let mut c = handshake(addr, &config, "localhost");
    c.write_all(b"still served").unwrap();
    let mut back = [0; 12];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still served");
    // And every trickler is closed by the handshake deadline, having received nothing.
    for t in &mut tricklers {
        assert!(read_to_close(t).is_empty());
    }
}

#[test]
fn given_pem_files_reload_on_sighup() {
    require("curl", "curl");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = tls::write_cert(dir.path(), "site", &["localhost"]);
    let first = std::fs::read(&cert).unwrap();
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = Server::start(
        &["--https", "127.0.0.1:0", "--tls-cert", c, "--tls-key", k],
        1,
    );
    let port = server.tcp("https").port();
    let fetch = |cafile: &str| {
        run(
            "curl",
            &[
                "-sS",
                "--cacert",
                cafile,
                "--resolve",
                &format!("localhost:{port}:127.0.0.1"),
                &format!("https://localhost:{port}/plain"),
            ],
            b"",
        )
        .status
        .success()
    };
    let old_ca = dir.path().join("old-ca.pem");
    std::fs::write(&old_ca, &first).unwrap();
    assert!(fetch(old_ca.to_str().unwrap()));

    // New files in place, SIGHUP: new handshakes get the new certificate.
    tls::write_cert(dir.path(), "site", &["localhost"]);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &listener_pid(port)])
        .status()
        .unwrap();
    assert!(status.success());
    server
        .wait_log("certificates reloaded", Duration::from_secs(10))
        .expect("reload logged");
    assert!(fetch(c), "the new certificate is served");
    assert!(!fetch(old_ca.to_str().unwrap()), "the old one is not");
}

#[test]
fn rsa_p384_and_ed25519_keys_in_every_pem_form_are_served() {
    require("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // (name, key generation, extra conversion): PKCS#1 RSA, SEC1 EC, PKCS#8 Ed25519.
    let kinds = [
        (
            "rsa",
            "openssl genrsa -traditional -out rsa.key 2048 2>/dev/null",
        ),
        (
            "p384",
            "openssl ecparam -name secp384r1 -genkey -noout -out p384.key",
        ),
        (
            "ed25519",
            "openssl genpkey -algorithm ed25519 -out ed25519.key",
        ),
    ];
    for (name, genkey) in kinds {
        let script = format!(
            "cd \"$0\" && {genkey} && openssl req -new -x509 -key {name}.key -out {name}.pem \
             -days 2 -subj /CN={name}.test -addext subjectAltName=DNS:{name}.test -addext basicConstraints=CA:FALSE"
        );
        let out = run("sh", &["-c", &script, d.to_str().unwrap()], b"");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = std::fs::read_to_string(d.join(format!("{name}.key"))).unwrap();
        let first_line = key.lines().next().unwrap_or_default().to_string();
        let server = Server::start(
            &[
                "--tls-echo",
                "127.0.0.1:0",
                "--tls-cert",
                d.join(format!("{name}.pem")).to_str().unwrap(),
                "--tls-key",
                d.join(format!("{name}.key")).to_str().unwrap(),
            ],
            1,
        );
        let config = client_config(&d.join(format!("{name}.pem")));
        let mut c = handshake(server.tcp("tls-echo"), &config, &format!("{name}.test"));
        c.write_all(b"key").unwrap();
        let mut back = [0; 3];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"key", "{name} ({first_line})");
    }
}

#[test]
fn bad_certificate_flags_are_refused_at_start_saying_which_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = tls::write_cert(dir.path(), "c", &["localhost"]);
    let cert = cert.to_str().unwrap();
    let missing = dir.path().join("missing.key");
    let missing = missing.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--tls-cert", cert, "--tls-key", missing],
            "missing.key: No such file",
        ),
        (
            &["--tls-cert", cert, "--tls-key", cert],
            "no PRIVATE KEY in it",
        ),
        (&["--tls-cert", cert], "1 --tls-cert but 0 --tls-key"),
    ];
    for (flags, want) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_evserve"))
            .args(["serve", "--https", "127.0.0.1:0"])
            .args(flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags:?} was accepted");
        assert!(stderr.contains(want), "{flags:?}: {stderr}");
    }
}

/// The process listening on 127.0.0.1:`port`, as `ss` reports it.
fn listener_pid(port: u16) -> String {
    require("ss", "iproute2");
    let out = run("ss", &["-ltnpH", &format!("sport = :{port}")], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    let pid = text
        .split("pid=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no pid in ss output: {text}"));
    pid.to_string()
}

/// Issue 24: the bytes the TLS layer holds are counted in the memory budget. 24 chat members
/// each send 60,000 bytes of a line they never finish: the chat session leaves the partial
/// line unconsumed, so it waits decrypted in the TLS layer's buffer (on plain TCP it would
/// wait in the reactor's input, counted as `buffered_in`). Under `--max-memory 1MiB` the
/// counted total must reach the budget (before the TLS layer reported its buffers it stayed
/// near zero while the server held 1.4 MB) and stay within it plus one read and one record
/// per connection; another client is still answered; and all of it is released when the
/// connections close (at the idle timeout: a held-back connection is not read, so it does
/// not see its peer leave).
#[test]
fn what_tls_connections_hold_counts_in_the_memory_budget() {
    const CLIENTS: usize = 24;
    const LINE: usize = 60_000;
    const BUDGET: u64 = 1 << 20;
    const PER_CONN: u64 = 64 * 1024 + 18 * 1024;
    let s = TlsServer::self_signed(
        &[
            "--tls-chat",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--max-memory",
            "1MiB",
            "--workers",
            "1",
            "--idle-timeout",
            "4s",
            "--access-log",
            "false",
        ],
        2,
    );
    let config = client_config(&s.cert());
    let http = s.tcp("http");
    let stats = || util::http::stats(http);
    let held = |s: &serde_json::Value| {
        ["buffered_in", "buffered_out", "session_buffered"]
            .iter()
            .map(|k| s[k].as_u64().unwrap())
            .sum::<u64>()
    };
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = handshake(s.tcp("tls-chat"), &config, "localhost");
        c.sock
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // A held-back connection's bytes wait in the socket buffers: 60 kB fit there.
        c.write_all(&vec![b'a'; LINE]).unwrap();
        clients.push(c);
    }
    let bound = BUDGET + CLIENTS as u64 * PER_CONN;
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let full = loop {
        let st = stats();
        assert!(held(&st) <= bound, "held {} > {bound}: {st}", held(&st));
        if held(&st) >= BUDGET {
            break st;
        }
        assert!(
            std::time::Instant::now() < until,
            "the TLS connections' {} bytes were never counted: {st}",
            CLIENTS * LINE
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        full["session_buffered"].as_u64() > Some(BUDGET / 2),
        "the partial lines are held by the TLS layer: {full}"
    );
    assert_eq!(util::http::get(http, "/plain").status, 200);

    let until = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let st = stats();
        if st["session_buffered"].as_u64() == Some(0) {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "released when the connections close: {st}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(clients);
}
