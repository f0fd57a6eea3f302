//! Framed echo over real sockets: sticky and split writes, both framings, limits.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use evserve::protocol::frame::{Decoder, Encoder, LengthCodec, LineCodec};
use util::{Server, pattern};

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.tcp("framed")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads from `s` and decodes with `decode` until `want` frames arrived.
fn read_frames(
    s: &mut TcpStream,
    want: usize,
    mut decode: impl FnMut(&[u8]) -> Option<(Vec<u8>, usize)>,
) -> Vec<Vec<u8>> {
    let (mut buf, mut frames, mut chunk) = (Vec::new(), Vec::new(), [0u8; 65536]);
    while frames.len() < want {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "EOF after {} of {want} frames", frames.len());
        buf.extend_from_slice(&chunk[..n]);
        while let Some((frame, used)) = decode(&buf) {
            frames.push(frame);
            buf.drain(..used);
        }
    }
    assert!(buf.is_empty(), "bytes beyond the expected frames");
    frames
}

fn length_frames(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| pattern(i % 300, i as u64)).collect()
}

#[test]
fn length_framing_sticky_writes() {
    let server = Server::start(&["--framed", "127.0.0.1:0"], 1);
    let mut s = connect(&server);
    let frames = length_frames(1000);
    let codec = LengthCodec::new(1 << 20);
    let mut wire = Vec::new();
    for f in &frames {
        codec.encode(f, &mut wire).unwrap();
    }
    s.write_all(&wire).unwrap(); // 1,000 frames stuck together in one write
    let mut dec = LengthCodec::new(1 << 20);
    let got = read_frames(&mut s, frames.len(), |b| {
        dec.decode(b)
            .unwrap()
            .map(|f| (f.payload.to_vec(), f.consumed))
    });
    assert_eq!(got, frames);
}

#[test]
fn length_framing_split_writes() {
    let server = Server::start(&["--framed", "127.0.0.1:0"], 1);
    let mut s = connect(&server);
    s.set_nodelay(true).unwrap();
    let frames = [pattern(5000, 9), Vec::new(), b"x".to_vec()];
    let codec = LengthCodec::new(1 << 20);
    let mut wire = Vec::new();
    for f in &frames {
        codec.encode(f, &mut wire).unwrap();
    }
    // One frame spread over many small writes, split inside the header too.
    for piece in wire.chunks(7) {
        s.write_all(piece).unwrap();
    }
    let mut dec = LengthCodec::new(1 << 20);
    let got = read_frames(&mut s, frames.len(), |b| {
        dec.decode(b)
            .unwrap()
            .map(|f| (f.payload.to_vec(), f.consumed))
    });
    assert_eq!(got, frames);
}

#[test]
fn line_framing_sticky_and_split_with_crlf() {
    let server = Server::start(&["--framed", "127.0.0.1:0", "--framing", "line"], 1);
    let mut s = connect(&server);
    s.write_all(b"one\ntwo\r\nthr").unwrap();
    s.write_all(b"ee\n").unwrap();
    let mut dec = LineCodec::new(1 << 16);
    let got = read_frames(&mut s, 3, |b| {
        dec.decode(b)
            .unwrap()
            .map(|f| (f.payload.to_vec(), f.consumed))
    });
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
}

#[test]
fn a_frame_over_the_limit_gets_an_error_frame_then_close() {
    let server = Server::start(&["--framed", "127.0.0.1:0", "--max-frame", "1KiB"], 1);
    let mut s = connect(&server);
    s.write_all(&2048u32.to_be_bytes()).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("error frame then EOF");
    let mut dec = LengthCodec::new(1 << 20);
    let frame = dec.decode(&reply).unwrap().expect("one whole frame");
    let text = String::from_utf8_lossy(frame.payload);
    assert!(text.starts_with("ERR frame too large"), "{text}");
    assert_eq!(frame.consumed, reply.len());
}

#[test]
fn a_line_over_the_limit_gets_an_error_line_then_close() {
    let server = Server::start(
        &[
            "--framed",
            "127.0.0.1:0",
            "--framing",
            "line",
            "--max-frame",
            "100",
        ],
        1,
    );
    let mut s = connect(&server);
    s.write_all(&[b'a'; 101]).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("error line then EOF");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("ERR ") && text.ends_with('\n'), "{text}");
}

#[test]
fn a_custom_delimiter() {
    let server = Server::start(
        &[
            "--framed",
            "127.0.0.1:0",
            "--framing",
            "line",
            "--delimiter",
            ";",
        ],
        1,
    );
    let mut s = connect(&server);
    s.write_all(b"a;bc;").unwrap();
    let mut got = [0u8; 5];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"a;bc;");
}
