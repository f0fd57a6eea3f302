//! The files service's trust boundaries (issue 24): who may store (`--files-token`), how much
//! (`--files-quota`), and what `evserve send` shows of a server's words.

mod util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use evserve::protocol::frame::{Decoder, Encoder, LengthCodec};
use util::Server;

fn evserve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(args)
        .output()
        .expect("run evserve")
}

fn file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn send_shows_a_hostile_servers_reply_with_its_controls_escaped() {
    // A fake files server: reads the header frame, answers with escape sequences that would
    // retitle the terminal, clear it, and reverse the text after them.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap().to_string();
    let hostile = "ERR \x1b]0;pwned\x07\x1b[2J\u{9b}31mred\u{202e}txt.exe";
    let server = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (mut input, mut buf) = (Vec::new(), [0u8; 4096]);
        let mut codec = LengthCodec::new(1 << 20);
        while codec.decode(&input).unwrap().is_none() {
            let n = sock.read(&mut buf).unwrap();
            assert!(n > 0, "the client sent no header");
            input.extend_from_slice(&buf[..n]);
        }
        let mut reply = Vec::new();
        LengthCodec::default()
            .encode(hostile.as_bytes(), &mut reply)
            .unwrap();
        sock.write_all(&reply).unwrap();
        let _ = sock.shutdown(std::net::Shutdown::Write);
        while matches!(sock.read(&mut buf), Ok(1..)) {}
    });
    let src = tempfile::tempdir().unwrap();
    let path = file(src.path(), "f.txt", b"hello");
    let out = evserve(&["send", path.to_str().unwrap(), "--to", &to]);
    server.join().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for raw in ['\x1b', '\x07', '\u{9b}', '\u{202e}'] {
        assert!(
            !stderr.contains(raw),
            "{raw:?} reached the terminal: {stderr:?}"
        );
    }
    assert!(
        stderr.contains(r"refused by the server: \x1B]0;pwned\x07\x1B[2J\xC2\x9B31mred"),
        "{stderr}"
    );
}

/// A secret file as an operator makes one: private to its owner.
fn secret(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = file(dir, name, bytes);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn files_server(dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--files",
        "127.0.0.1:0",
        "--files-dir",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Server::start(&args, 1)
}

fn send(path: &Path, server: &Server, extra: &[&str]) -> Output {
    let to = server.tcp("files").to_string();
    let mut args = vec!["send", path.to_str().unwrap(), "--to", &to];
    args.extend_from_slice(extra);
    evserve(&args)
}

#[test]
fn with_a_files_token_only_a_client_presenting_it_stores_files() {
    let (keys, src, dst) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let token = secret(keys.path(), "token", b"d2f0c9e3b1a7-files-token\n");
    let wrong = secret(keys.path(), "wrong", b"d2f0c9e3b1a7-files-tokeN\n");
    let server = files_server(dst.path(), &["--files-token", token.to_str().unwrap()]);
    let path = file(src.path(), "doc.txt", b"content");

    let out = send(&path, &server, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unauthorized: this server needs a token"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--token-file FILE"),
        "says what to do: {stderr}"
    );

    let out = send(&path, &server, &["--token-file", wrong.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unauthorized: wrong token"), "{stderr}");
    assert!(!dst.path().join("doc.txt").exists(), "nothing stored");
    assert!(
        server
            .wait_log("refused: unauthorized", Duration::from_secs(5))
            .is_some(),
        "the refusal is logged"
    );

    let out = send(&path, &server, &["--token-file", token.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        std::fs::read(dst.path().join("doc.txt")).unwrap(),
        b"content"
    );
}

#[test]
fn a_files_token_others_can_read_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let token = secret(dir.path(), "token", b"d2f0c9e3b1a7-files-token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o604)).unwrap();
    let out = evserve(&[
        "serve",
        "--files",
        "127.0.0.1:0",
        "--files-dir",
        dir.path().to_str().unwrap(),
        "--files-token",
        token.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
}

#[test]
fn the_files_quota_counts_what_is_there_and_refuses_one_byte_past_it() {
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    file(dst.path(), "already-here", &[1u8; 40]);
    let server = files_server(dst.path(), &["--files-quota", "100"]);
    let fits = file(src.path(), "fits", &[2u8; 60]);
    let out = send(&fits, &server, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one_more = file(src.path(), "one-more", b"x");
    let out = send(&one_more, &server, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("quota exceeded: 1 bytes do not fit, 0 of 100 bytes are free"),
        "{stderr}"
    );
    assert!(!dst.path().join("one-more").exists());
    // An empty file still fits.
    let empty = file(src.path(), "empty", b"");
    assert!(send(&empty, &server, &[]).status.success());
}
