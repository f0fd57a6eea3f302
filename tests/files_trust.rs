//! The files service's trust boundaries (issue 24): who may store (`--files-token`), how much
//! (`--files-quota`), and what `evserve send` shows of a server's words.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use evserve::protocol::frame::{Decoder, Encoder, LengthCodec};

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
