//! File transfer over framed TCP, with `evserve send` and with hand-made frames.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use evserve::protocol::frame::{Decoder, Encoder, LengthCodec};
use sha2::{Digest, Sha256};
use util::{Server, aged_file, names_in, pattern};

fn files_server(dir: &Path, extra: &[&str]) -> Server {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["--files", "127.0.0.1:0", "--files-dir", dir];
    args.extend_from_slice(extra);
    Server::start(&args, 1)
}

fn send(file: &Path, server: &Server, name: Option<&str>) -> std::process::Output {
    let to = server.tcp("files").to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evserve"));
    cmd.args(["send", file.to_str().unwrap(), "--to", &to]);
    if let Some(n) = name {
        cmd.args(["--name", n]);
    }
    cmd.output().expect("run evserve send")
}

#[test]
fn files_of_0_1_and_20_mib_arrive_byte_identical() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let server = files_server(dst.path(), &[]);
    for (name, len) in [("empty", 0usize), ("one", 1), ("big.bin", 20 << 20)] {
        let data = pattern(len, len as u64 + 7);
        let path = src.path().join(name);
        std::fs::write(&path, &data).unwrap();
        let out = send(&path, &server, None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let hex: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(stdout.contains(&hex), "report names the checksum: {stdout}");
        assert!(
            std::fs::read(dst.path().join(name)).unwrap() == data,
            "{name} differs"
        );
    }
    assert_eq!(names_in(dst.path()), ["big.bin", "empty", "one"]);
}

#[test]
fn an_existing_file_is_not_overwritten_unless_asked() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    std::fs::write(dst.path().join("keep"), b"old").unwrap();
    std::fs::write(src.path().join("keep"), b"new").unwrap();
    let server = files_server(dst.path(), &[]);
    let out = send(&src.path().join("keep"), &server, None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
    assert_eq!(std::fs::read(dst.path().join("keep")).unwrap(), b"old");

    let server = files_server(dst.path(), &["--overwrite"]);
    assert!(
        send(&src.path().join("keep"), &server, None)
            .status
            .success()
    );
    assert_eq!(std::fs::read(dst.path().join("keep")).unwrap(), b"new");
}

/// Sends a header (and optionally data) by hand; returns the reply frame's text.
fn exchange(server: &Server, header: &str, data: &[u8]) -> String {
    let mut s = TcpStream::connect(server.tcp("files")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let codec = LengthCodec::new(1 << 20);
    let mut wire = Vec::new();
    codec.encode(header.as_bytes(), &mut wire).unwrap();
    for chunk in data.chunks(65536) {
        codec.encode(chunk, &mut wire).unwrap();
    }
    let _ = s.write_all(&wire); // the server may refuse and stop reading early
    // Read exactly one reply frame: after OK the connection stays open for another file.
    let (mut reply, mut chunk) = (Vec::new(), [0u8; 4096]);
    let mut dec = LengthCodec::new(1 << 20);
    loop {
        if let Some(frame) = dec.decode(&reply).unwrap() {
            return String::from_utf8_lossy(frame.payload).into_owned();
        }
        let n = s.read(&mut chunk).expect("read reply");
        assert!(n > 0, "connection closed before a whole reply frame");
        reply.extend_from_slice(&chunk[..n]);
    }
}

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn bad_names_oversize_and_wrong_checksums_are_refused() {
    let dst = tempfile::tempdir().unwrap();
    let server = files_server(dst.path(), &["--max-file-size", "1KiB"]);
    let data = b"hello";
    let good = sha_hex(data);
    for name in ["../escape", "a/b", "/etc/passwd", ".hidden", "..", "a\\b"] {
        let reply = exchange(&server, &format!("FILE 5 {good} {name}"), data);
        assert!(reply.starts_with("ERR bad name"), "{name}: {reply}");
    }
    let reply = exchange(&server, &format!("FILE 2048 {good} big"), &[]);
    assert!(reply.starts_with("ERR file too large"), "{reply}");
    let wrong = sha_hex(b"other");
    let reply = exchange(&server, &format!("FILE 5 {wrong} sum"), data);
    assert!(reply.starts_with("ERR checksum mismatch"), "{reply}");
    let reply = exchange(&server, &format!("FILE 5 {good} ok.txt"), data);
    assert_eq!(reply, format!("OK 5 {good}"));
    assert_eq!(
        names_in(dst.path()),
        ["ok.txt"],
        "refused transfers left files behind"
    );
}

#[test]
fn a_transfer_cut_off_in_the_middle_leaves_nothing() {
    let dst = tempfile::tempdir().unwrap();
    let server = files_server(dst.path(), &[]);
    let data = pattern(1 << 20, 5);
    let mut s = TcpStream::connect(server.tcp("files")).unwrap();
    let codec = LengthCodec::new(1 << 20);
    let mut wire = Vec::new();
    codec
        .encode(
            format!("FILE {} {} cut.bin", data.len(), sha_hex(&data)).as_bytes(),
            &mut wire,
        )
        .unwrap();
    codec.encode(&data[..300_000], &mut wire).unwrap();
    s.write_all(&wire).unwrap();
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !names_in(dst.path()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?}",
            names_in(dst.path())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
        .wait_log("truncated", Duration::from_secs(5))
        .expect("the cut-off transfer is logged");
}

#[test]
fn part_files_left_by_a_crash_are_swept_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let hours = Duration::from_secs(2 * 3600);
    aged_file(dir.path(), ".lost.4242-7.part", hours);
    aged_file(dir.path(), ".fresh.4242-8.part", Duration::ZERO);
    aged_file(dir.path(), "old-but-real.bin", hours);
    let _server = files_server(dir.path(), &[]);
    // The sweep runs before the service listens, so it is done by now.
    assert_eq!(
        names_in(dir.path()),
        [".fresh.4242-8.part", "old-but-real.bin"]
    );
}
