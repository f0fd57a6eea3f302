//! The HTTP/2 connection driven by byte fixtures through the [`Harness`]: client frames are
//! built with the frame encoders, answers parsed back into frames. No sockets.

use std::net::SocketAddr;

use tempfile::TempDir;

use super::frame::{self, ErrorCode, FrameHeader, FrameType, PREFACE, SettingId, flags};
use super::hpack::{Decoder, Encoder};
use super::limits::Http2Config;
use crate::protocol::http::{Http, HttpConfig};
use crate::session::{Flow, Service, Session};
use crate::testing::Harness;

mod events;

/// One frame of the server's output.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Out {
    kind: FrameType,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Out {
    fn code(&self) -> ErrorCode {
        let at = if self.kind == FrameType::GoAway { 4 } else { 0 };
        let word = self.payload.get(at..at + 4).unwrap_or_default();
        ErrorCode::from_u32(u32::from_be_bytes(word.try_into().unwrap_or_default()))
    }

    fn end_stream(&self) -> bool {
        self.flags & flags::END_STREAM != 0
    }
}

fn frames(mut bytes: &[u8]) -> Vec<Out> {
    let mut all = Vec::new();
    while let Some(h) = FrameHeader::parse(bytes) {
        let payload = bytes[frame::HEADER_LEN..h.frame_len()].to_vec();
        all.push(Out {
            kind: h.kind,
            flags: h.flags,
            stream: h.stream,
            payload,
        });
        bytes = &bytes[h.frame_len()..];
    }
    assert!(bytes.is_empty(), "a partial frame at the end of the output");
    all
}

struct Client {
    h: Harness<Box<dyn Session>>,
    encoder: Encoder,
    decoder: Decoder,
    _root: TempDir,
}

fn config(root: &TempDir, http2: Http2Config) -> HttpConfig {
    HttpConfig {
        root: root.path().to_path_buf(),
        file_cache: 0,
        http2,
        ..HttpConfig::default()
    }
}

impl Client {
    fn with(http2: Http2Config) -> Client {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("small.txt"), b"small file\n").unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.path().join("big.bin"), big).unwrap();
        let mut http = Http::new(config(&root, http2));
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut h = Harness::new(http.new_session(peer));
        assert_eq!(h.open(), Flow::Continue);
        Client {
            h,
            encoder: Encoder::new(4096),
            decoder: Decoder::new(4096),
            _root: root,
        }
    }

    /// A client past the preface and the SETTINGS exchange.
    fn connected(http2: Http2Config) -> Client {
        let mut c = Client::with(http2);
        let mut bytes = PREFACE.to_vec();
        frame::encode_settings(&mut bytes, &[]);
        frame::encode_settings_ack(&mut bytes);
        c.send(&bytes);
        let out = c.frames();
        assert!(
            out.iter()
                .any(|f| f.kind == FrameType::Settings && f.flags == 0)
        );
        assert!(
            out.iter()
                .any(|f| f.kind == FrameType::Settings && f.flags == flags::ACK)
        );
        c
    }

    fn send(&mut self, bytes: &[u8]) -> Flow {
        self.h.input(bytes).flow
    }

    fn frames(&mut self) -> Vec<Out> {
        frames(&self.h.take_output())
    }

    fn block(&mut self, method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut block = Vec::new();
        let fields = [
            (":method", method),
            (":scheme", "http"),
            (":path", path),
            (":authority", "test"),
        ];
        let all = fields.iter().chain(extra);
        self.encoder
            .encode(all.map(|(n, v)| (n.as_bytes(), v.as_bytes())), &mut block);
        block
    }

    fn request(&mut self, stream: u32, method: &str, path: &str, end: bool) -> Vec<u8> {
        let block = self.block(method, path, &[]);
        let mut bytes = Vec::new();
        frame::encode_headers(&mut bytes, stream, &block, end, 16_384);
        bytes
    }

    fn status(&mut self, headers: &Out) -> String {
        let mut status = String::new();
        self.decoder
            .decode(&headers.payload, |n, v| {
                if n == b":status" {
                    status = String::from_utf8_lossy(v).into_owned();
                }
            })
            .unwrap();
        status
    }
}

fn of(out: &[Out], kind: FrameType) -> Vec<&Out> {
    out.iter().filter(|f| f.kind == kind).collect()
}

fn body(out: &[Out], stream: u32) -> Vec<u8> {
    out.iter()
        .filter(|f| f.kind == FrameType::Data && f.stream == stream)
        .flat_map(|f| f.payload.clone())
        .collect()
}

#[test]
fn the_server_announces_its_settings_and_acknowledges_the_clients() {
    let mut c = Client::with(Http2Config::default());
    let mut bytes = PREFACE.to_vec();
    frame::encode_settings(&mut bytes, &[(SettingId::INITIAL_WINDOW_SIZE, 1000)]);
    assert_eq!(c.send(&bytes), Flow::Continue);
    let out = c.frames();
    let ours = &out[0];
    assert_eq!((ours.kind, ours.flags), (FrameType::Settings, 0));
    let params: Vec<(SettingId, u32)> = frame::SettingsIter::new(&ours.payload).collect();
    assert!(params.contains(&(SettingId::MAX_CONCURRENT_STREAMS, 128)));
    assert!(params.contains(&(SettingId::MAX_HEADER_LIST_SIZE, 16 * 1024)));
    assert_eq!(of(&out, FrameType::WindowUpdate)[0].stream, 0);
    assert_eq!(out.last().unwrap().flags, flags::ACK);
}

#[test]
fn a_wrong_preface_is_answered_with_goaway_protocol_error() {
    let mut c = Client::with(Http2Config::default());
    let flow = c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
    assert_eq!(flow, Flow::Close);
    let out = c.frames();
    let goaway = of(&out, FrameType::GoAway);
    assert_eq!(goaway.len(), 1);
    assert_eq!(goaway[0].code(), ErrorCode::ProtocolError);
}

#[test]
fn a_ping_is_acknowledged_with_its_data() {
    let mut c = Client::connected(Http2Config::default());
    let mut bytes = Vec::new();
    frame::encode_ping(&mut bytes, *b"12345678", false);
    c.send(&bytes);
    let out = c.frames();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].kind, out[0].flags), (FrameType::Ping, flags::ACK));
    assert_eq!(out[0].payload, b"12345678");
}

#[test]
fn get_plain_is_headers_then_data_with_end_stream() {
    let mut c = Client::connected(Http2Config::default());
    let req = c.request(1, "GET", "/plain", true);
    c.send(&req);
    let out = c.frames();
    let headers = of(&out, FrameType::Headers);
    assert_eq!(headers.len(), 1);
    assert_eq!(c.status(headers[0]), "200");
    assert_eq!(body(&out, 1), b"Hello, World!");
    assert!(out.last().unwrap().end_stream());
}

#[test]
fn small_answers_leave_whole_in_the_order_their_requests_came() {
    // Each answer fits one DATA frame: it goes out behind its HEADERS at once, and its
    // stream closes before the next request of the same read is looked at.
    let mut c = Client::connected(Http2Config::default());
    let mut bytes = Vec::new();
    for id in [1, 3, 5] {
        bytes.extend(c.request(id, "GET", "/plain", true));
    }
    c.send(&bytes);
    let out = c.frames();
    let order: Vec<(FrameType, u32, bool)> = out
        .iter()
        .map(|f| (f.kind, f.stream, f.end_stream()))
        .collect();
    let (h, d) = (FrameType::Headers, FrameType::Data);
    assert_eq!(
        order,
        [
            (h, 1, false),
            (d, 1, true),
            (h, 3, false),
            (d, 3, true),
            (h, 5, false),
            (d, 5, true)
        ]
    );
    assert_eq!(body(&out, 5), b"Hello, World!");
}

#[test]
fn a_repeated_head_is_sent_again_from_memory_and_decodes_the_same() {
    // The second and third /plain heads are found at the start of their stream's buffer,
    // body behind them, and their block is sent from memory; a different head between
    // them is encoded afresh. The client's decoder sees the right fields each time.
    let mut c = Client::connected(Http2Config::default());
    let paths = ["/plain", "/plain", "/missing", "/plain", "/plain"];
    let mut id = 1;
    for reads in [&paths[..2], &paths[2..]] {
        let mut bytes = Vec::new();
        for path in reads {
            bytes.extend(c.request(id, "GET", path, true));
            id += 2;
        }
        c.send(&bytes);
        for f in c.frames() {
            if f.kind == FrameType::Headers {
                let mut fields = Vec::new();
                c.decoder
                    .decode(&f.payload, |n, v| fields.push((n.to_vec(), v.to_vec())))
                    .unwrap();
                let path = paths[(f.stream / 2) as usize];
                let (status, length) = match path {
                    "/plain" => ("200", "13"),
                    _ => ("404", "14"),
                };
                assert_eq!(fields[0], (b":status".to_vec(), status.as_bytes().to_vec()));
                assert!(
                    fields.contains(&(b"content-length".to_vec(), length.as_bytes().to_vec())),
                    "stream {}: {fields:?}",
                    f.stream
                );
            }
        }
    }
}

#[test]
fn a_request_fed_a_byte_at_a_time_is_answered_the_same() {
    let mut whole = Client::connected(Http2Config::default());
    let req = whole.request(1, "GET", "/small.txt", true);
    whole.send(&req);
    let mut bytewise = Client::connected(Http2Config::default());
    assert_eq!(bytewise.h.input_bytewise(&req), Flow::Continue);
    let (a, b) = (whole.frames(), bytewise.frames());
    assert_eq!(body(&a, 1), b"small file\n");
    assert_eq!(body(&a, 1), body(&b, 1));
}

#[test]
fn head_and_404_end_the_stream_on_headers_or_their_body() {
    let mut c = Client::connected(Http2Config::default());
    let mut bytes = c.request(1, "HEAD", "/small.txt", true);
    bytes.extend(c.request(3, "GET", "/missing", true));
    c.send(&bytes);
    let out = c.frames();
    let headers = of(&out, FrameType::Headers);
    assert_eq!(c.status(headers[0]), "200");
    assert!(headers[0].end_stream(), "HEAD: no DATA");
    assert_eq!(c.status(headers[1]), "404");
    assert_eq!(body(&out, 3), b"404 Not Found\n");
}

#[test]
fn a_post_body_is_echoed_and_its_window_granted_back() {
    let limits = Http2Config {
        initial_window_size: 100,
        ..Http2Config::default()
    };
    let mut c = Client::connected(limits);
    let block = c.block("POST", "/echo", &[("content-length", "120")]);
    let mut bytes = Vec::new();
    frame::encode_headers(&mut bytes, 1, &block, false, 16_384);
    frame::encode_data(&mut bytes, 1, &[b'a'; 60], false);
    c.send(&bytes);
    let out = c.frames();
    let updates: Vec<&Out> = of(&out, FrameType::WindowUpdate)
        .into_iter()
        .filter(|f| f.stream == 1)
        .collect();
    assert_eq!(updates.len(), 1, "half the window consumed: granted back");
    let mut rest = Vec::new();
    frame::encode_data(&mut rest, 1, &[b'b'; 60], true);
    c.send(&rest);
    let out2 = c.frames();
    let mut all = body(&out, 1);
    all.extend(body(&out2, 1));
    assert_eq!(all.len(), 120);
    assert!(out2.last().unwrap().end_stream());
}

#[test]
fn data_past_the_stream_window_resets_the_stream_with_flow_control_error() {
    let limits = Http2Config {
        initial_window_size: 100,
        ..Http2Config::default()
    };
    let mut c = Client::connected(limits);
    let mut bytes = c.request(1, "POST", "/echo", false);
    frame::encode_data(&mut bytes, 1, &[0; 100], false);
    c.send(&bytes);
    let out = c.frames();
    assert!(of(&out, FrameType::RstStream).is_empty(), "100 bytes fit");
    let mut over = Vec::new();
    frame::encode_data(&mut over, 1, &[0; 101], false);
    let mut c = Client::connected(limits);
    let mut bytes = c.request(1, "POST", "/echo", false);
    bytes.extend(over);
    c.send(&bytes);
    let out = c.frames();
    let rst = of(&out, FrameType::RstStream);
    assert_eq!(rst.len(), 1);
    assert_eq!(rst[0].code(), ErrorCode::FlowControlError);
    assert!(
        of(&out, FrameType::GoAway).is_empty(),
        "a stream error only"
    );
}

#[test]
fn one_stream_past_max_concurrent_streams_is_refused() {
    let limits = Http2Config {
        max_concurrent_streams: 2,
        ..Http2Config::default()
    };
    let mut c = Client::connected(limits);
    let mut bytes = Vec::new();
    for id in [1, 3, 5] {
        bytes.extend(c.request(id, "POST", "/echo", false));
    }
    c.send(&bytes);
    let out = c.frames();
    let rst = of(&out, FrameType::RstStream);
    assert_eq!(rst.len(), 1);
    assert_eq!(
        (rst[0].stream, rst[0].code()),
        (5, ErrorCode::RefusedStream)
    );
    // The connection goes on: a request that fits is served.
    let mut end = Vec::new();
    frame::encode_data(&mut end, 1, b"", true);
    end.extend(c.request(7, "GET", "/plain", true));
    c.send(&end);
    let out = c.frames();
    assert_eq!(body(&out, 7), b"Hello, World!");
}

#[test]
fn malformed_requests_reset_their_stream_only() {
    let cases: &[&[(&str, &str)]] = &[
        &[("Accept", "x")],
        &[("connection", "keep-alive")],
        &[("te", "gzip")],
        &[("transfer-encoding", "chunked")],
    ];
    for extra in cases {
        let mut c = Client::connected(Http2Config::default());
        let block = c.block("GET", "/plain", extra);
        let mut bytes = Vec::new();
        frame::encode_headers(&mut bytes, 1, &block, true, 16_384);
        bytes.extend(c.request(3, "GET", "/plain", true));
        c.send(&bytes);
        let out = c.frames();
        let rst = of(&out, FrameType::RstStream);
        assert_eq!(rst.len(), 1, "{extra:?}");
        assert_eq!(
            (rst[0].stream, rst[0].code()),
            (1, ErrorCode::ProtocolError)
        );
        assert_eq!(body(&out, 3), b"Hello, World!", "{extra:?}");
    }
}

#[test]
fn a_body_longer_or_shorter_than_its_content_length_is_malformed() {
    for (sent, end) in [(6, false), (4, true)] {
        let mut c = Client::connected(Http2Config::default());
        let block = c.block("POST", "/echo", &[("content-length", "5")]);
        let mut bytes = Vec::new();
        frame::encode_headers(&mut bytes, 1, &block, false, 16_384);
        frame::encode_data(&mut bytes, 1, &vec![b'x'; sent], end);
        c.send(&bytes);
        let out = c.frames();
        let rst = of(&out, FrameType::RstStream);
        assert_eq!(rst.len(), 1, "{sent} bytes");
        assert_eq!(rst[0].code(), ErrorCode::ProtocolError);
    }
}

#[test]
fn one_continuation_past_the_limit_ends_the_connection() {
    let limits = Http2Config {
        max_continuations: 4,
        ..Http2Config::default()
    };
    for (count, flood) in [(4, false), (5, true)] {
        let mut c = Client::connected(limits);
        let block = c.block("GET", "/plain", &[]);
        let mut bytes = Vec::new();
        frame::encode_header(&mut bytes, block.len() as u32, FrameType::Headers, 1, 1);
        bytes.extend_from_slice(&block);
        for i in 0..count {
            let last = i == count - 1 && !flood;
            let f = if last { flags::END_HEADERS } else { 0 };
            frame::encode_header(&mut bytes, 0, FrameType::Continuation, f, 1);
        }
        let flow = c.send(&bytes);
        let out = c.frames();
        if flood {
            assert_eq!(flow, Flow::Close);
            assert_eq!(
                of(&out, FrameType::GoAway)[0].code(),
                ErrorCode::EnhanceYourCalm
            );
        } else {
            assert_eq!(body(&out, 1), b"Hello, World!");
        }
    }
}

#[test]
fn a_frame_between_headers_and_continuation_is_a_connection_error() {
    let mut c = Client::connected(Http2Config::default());
    let block = c.block("GET", "/plain", &[]);
    let mut bytes = Vec::new();
    frame::encode_header(&mut bytes, block.len() as u32, FrameType::Headers, 1, 1);
    bytes.extend_from_slice(&block);
    frame::encode_ping(&mut bytes, [0; 8], false);
    assert_eq!(c.send(&bytes), Flow::Close);
    let out = c.frames();
    assert_eq!(
        of(&out, FrameType::GoAway)[0].code(),
        ErrorCode::ProtocolError
    );
}

#[test]
fn rapid_reset_ends_the_connection_one_past_the_limit() {
    let limits = Http2Config {
        max_resets: 10,
        ..Http2Config::default()
    };
    for (resets, calm) in [(10, false), (11, true)] {
        let mut c = Client::connected(limits);
        let mut bytes = Vec::new();
        for i in 0..resets {
            let id = 1 + 2 * i;
            bytes.extend(c.request(id, "POST", "/echo", false));
            frame::encode_rst_stream(&mut bytes, id, ErrorCode::Cancel);
        }
        let flow = c.send(&bytes);
        let out = c.frames();
        let goaway = of(&out, FrameType::GoAway);
        if calm {
            assert_eq!(flow, Flow::Close);
            assert_eq!(goaway[0].code(), ErrorCode::EnhanceYourCalm);
        } else {
            assert!(goaway.is_empty());
        }
        assert_eq!(c.h.stats().http2_resets_by_peer.get() as u32, resets);
    }
}

#[test]
fn a_ping_flood_unread_ends_the_connection_one_past_the_limit() {
    let limits = Http2Config {
        max_queued_control: 20,
        ..Http2Config::default()
    };
    for (pings, calm) in [(20, false), (21, true)] {
        let mut c = Client::connected(limits);
        let mut bytes = Vec::new();
        for _ in 0..pings {
            frame::encode_ping(&mut bytes, [1; 8], false);
        }
        let flow = c.send(&bytes);
        let out = c.frames();
        assert_eq!(flow == Flow::Close, calm, "{pings} pings");
        assert_eq!(!of(&out, FrameType::GoAway).is_empty(), calm);
    }
    // Pings that are read as they come are no flood.
    let mut c = Client::connected(limits);
    for _ in 0..100 {
        let mut bytes = Vec::new();
        frame::encode_ping(&mut bytes, [1; 8], false);
        assert_eq!(c.send(&bytes), Flow::Continue);
        c.frames();
    }
}

#[test]
fn a_control_flood_that_never_reads_is_dropped_one_past_the_limit() {
    let limits = Http2Config {
        max_queued_control: 20,
        ..Http2Config::default()
    };
    let mut ping = Vec::new();
    frame::encode_ping(&mut ping, [1; 8], false);
    let mut settings = Vec::new();
    frame::encode_settings(&mut settings, &[]);
    for (name, unit) in [("PING", &ping), ("SETTINGS", &settings)] {
        for (sent, dropped) in [(20, false), (21, true)] {
            // One frame a read, its answers never taken: the output stays pending, as when
            // the kernel's buffers are full and the peer reads nothing.
            let mut c = Client::connected(limits);
            let goaways = c.h.stats().http2_goaways.get();
            let mut flow = Flow::Continue;
            for _ in 0..sent {
                flow = c.send(unit);
            }
            let expected = if dropped { Flow::Abort } else { Flow::Continue };
            assert_eq!(flow, expected, "{name} x {sent}");
            // Its GOAWAY would never be read: none is sent, or counted.
            assert!(of(&c.frames(), FrameType::GoAway).is_empty(), "{name}");
            assert_eq!(c.h.stats().http2_goaways.get(), goaways, "{name}");
        }
    }
}

#[test]
fn empty_data_frames_end_the_connection_one_past_the_limit() {
    let limits = Http2Config {
        max_empty_frames: 20,
        ..Http2Config::default()
    };
    for (empty, calm) in [(20, false), (21, true)] {
        let mut c = Client::connected(limits);
        let mut bytes = c.request(1, "POST", "/echo", false);
        for _ in 0..empty {
            frame::encode_data(&mut bytes, 1, &[], false);
        }
        let flow = c.send(&bytes);
        let out = c.frames();
        assert_eq!(flow == Flow::Close, calm, "{empty} empty frames");
        let goaway = of(&out, FrameType::GoAway);
        assert_eq!(!goaway.is_empty(), calm);
        if calm {
            assert_eq!(goaway[0].code(), ErrorCode::EnhanceYourCalm);
        }
    }
    // A byte of body between them starts the count again.
    let mut c = Client::connected(limits);
    let mut bytes = c.request(1, "POST", "/echo", false);
    for _ in 0..5 {
        for _ in 0..20 {
            frame::encode_data(&mut bytes, 1, &[], false);
        }
        frame::encode_data(&mut bytes, 1, b"x", false);
    }
    assert_eq!(c.send(&bytes), Flow::Continue);
}

#[test]
fn an_hpack_bomb_is_decoded_at_the_cost_of_an_addition_and_answered_431() {
    let mut c = Client::connected(Http2Config::default());
    // One 4,000-byte value added to the table, then indexed 20 times: 80 KB from 4 KB.
    let mut block = c.block("GET", "/plain", &[]);
    block.extend([0x40, 0x01, b'x', 0x7f, 0xa1, 0x1e]);
    block.extend(std::iter::repeat_n(b'v', 127 + 0x21 + (0x1e << 7)));
    block.extend(std::iter::repeat_n(0xbe, 20));
    let mut bytes = Vec::new();
    frame::encode_headers(&mut bytes, 1, &block, true, 16_384);
    assert_eq!(c.send(&bytes), Flow::Continue);
    let out = c.frames();
    let headers = of(&out, FrameType::Headers);
    assert_eq!(c.status(headers[0]), "431");
    // HPACK stayed in step: the next request on the connection is served. (Its block is
    // plain literals: the bomb's entry is in the server's table, not in our encoder's.)
    let mut block = Vec::new();
    for (n, v) in [(":method", "GET"), (":scheme", "http"), (":path", "/plain")] {
        block.push(0);
        block.push(n.len() as u8);
        block.extend_from_slice(n.as_bytes());
        block.push(v.len() as u8);
        block.extend_from_slice(v.as_bytes());
    }
    let mut next = Vec::new();
    frame::encode_headers(&mut next, 3, &block, true, 16_384);
    c.send(&next);
    assert_eq!(body(&c.frames(), 3), b"Hello, World!");
}

#[test]
fn a_block_hpack_cannot_decode_is_a_compression_error() {
    let mut c = Client::connected(Http2Config::default());
    let mut bytes = Vec::new();
    // Index 70: past the empty dynamic table.
    frame::encode_headers(&mut bytes, 1, &[0x80 | 70], true, 16_384);
    assert_eq!(c.send(&bytes), Flow::Close);
    let out = c.frames();
    assert_eq!(
        of(&out, FrameType::GoAway)[0].code(),
        ErrorCode::CompressionError
    );
}

#[test]
fn a_head_over_the_list_size_is_431() {
    let limits = Http2Config {
        max_header_list_size: 1000,
        ..Http2Config::default()
    };
    let mut c = Client::connected(limits);
    let big = "v".repeat(1000);
    let block = c.block("GET", "/plain", &[("x-big", &big)]);
    let mut bytes = Vec::new();
    frame::encode_headers(&mut bytes, 1, &block, true, 16_384);
    c.send(&bytes);
    let out = c.frames();
    let headers = of(&out, FrameType::Headers);
    assert_eq!(c.status(headers[0]), "431");
}

#[test]
fn a_large_download_shares_the_connection_with_a_small_answer() {
    let mut c = Client::connected(Http2Config::default());
    let mut settings = Vec::new();
    frame::encode_settings(&mut settings, &[(SettingId::INITIAL_WINDOW_SIZE, 1 << 20)]);
    frame::encode_window_update(&mut settings, 0, 1 << 20);
    c.send(&settings);
    c.frames();
    let mut bytes = c.request(1, "GET", "/big.bin", true);
    bytes.extend(c.request(3, "GET", "/plain", true));
    c.send(&bytes);
    let mut all = c.frames();
    for _ in 0..100 {
        c.h.drain();
        let more = c.frames();
        if more.is_empty() {
            break;
        }
        all.extend(more);
    }
    let ends: Vec<u32> = all
        .iter()
        .filter(|f| f.end_stream())
        .map(|f| f.stream)
        .collect();
    assert_eq!(ends, [3, 1], "the small answer ends first");
    let big_frames_before = all
        .iter()
        .take_while(|f| !(f.stream == 3 && f.end_stream()))
        .filter(|f| f.kind == FrameType::Data && f.stream == 1)
        .count();
    assert!(
        big_frames_before <= 2,
        "{big_frames_before} frames of the download first"
    );
    assert_eq!(body(&all, 1).len(), 200_000);
    assert!(all.iter().all(|f| f.payload.len() <= 16_384));
}

#[test]
fn our_data_respects_the_windows_even_below_zero() {
    let mut c = Client::connected(Http2Config::default());
    let mut settings = Vec::new();
    frame::encode_settings(&mut settings, &[(SettingId::INITIAL_WINDOW_SIZE, 100)]);
    c.send(&settings);
    c.frames();
    let req = c.request(1, "GET", "/big.bin", true);
    c.send(&req);
    let out = c.frames();
    assert_eq!(body(&out, 1).len(), 100, "the stream window");
    // The peer lowers the initial window by 100: the spent stream window goes to -100.
    let mut lower = Vec::new();
    frame::encode_settings(&mut lower, &[(SettingId::INITIAL_WINDOW_SIZE, 0)]);
    frame::encode_window_update(&mut lower, 1, 60);
    c.send(&lower);
    let out = c.frames();
    assert_eq!(body(&out, 1).len(), 0, "window -100 + 60 = -40: nothing");
    let mut more = Vec::new();
    frame::encode_window_update(&mut more, 1, 50);
    c.send(&more);
    let out = c.frames();
    assert_eq!(body(&out, 1).len(), 10);
}

#[test]
fn a_header_block_under_way_is_reported_as_held() {
    let mut c = Client::connected(Http2Config::default());
    assert_eq!(c.h.held(), 0, "nothing held between requests");
    let block = c.block("GET", "/plain", &[]);
    let (first, rest) = block.split_at(block.len() / 2);
    // HEADERS (END_STREAM) without END_HEADERS: the block waits for its CONTINUATION.
    let mut bytes = Vec::new();
    frame::encode_header(&mut bytes, first.len() as u32, FrameType::Headers, 1, 1);
    bytes.extend_from_slice(first);
    c.send(&bytes);
    assert_eq!(c.h.held(), first.len());
    bytes.clear();
    let f = flags::END_HEADERS;
    frame::encode_header(&mut bytes, rest.len() as u32, FrameType::Continuation, f, 1);
    bytes.extend_from_slice(rest);
    c.send(&bytes);
    assert_eq!(c.h.held(), 0, "decoded: nothing held");
    assert_eq!(body(&c.frames(), 1), b"Hello, World!");
}

/// A client past the SETTINGS exchange that has closed every stream window it grants.
fn zero_window(limits: Http2Config) -> Client {
    let mut c = Client::connected(limits);
    let mut settings = Vec::new();
    frame::encode_settings(&mut settings, &[(SettingId::INITIAL_WINDOW_SIZE, 0)]);
    c.send(&settings);
    c.frames();
    c
}

/// Issue 24: answers kept for a peer whose window is closed are counted (as bytes only the
/// peer can release), and released as its WINDOW_UPDATE lets them go.
#[test]
fn answers_held_behind_a_closed_window_are_reported_and_released_by_window_update() {
    let mut c = zero_window(Http2Config::default());
    assert_eq!(c.h.held_for_peer(), 0, "nothing held before a request");
    for id in [1, 3] {
        let req = c.request(id, "GET", "/plain", true);
        c.send(&req);
    }
    let out = c.frames();
    assert_eq!(
        of(&out, FrameType::Headers).len(),
        2,
        "heads are not flow controlled"
    );
    assert_eq!(body(&out, 1), b"");
    assert_eq!(
        c.h.held_for_peer(),
        2 * 13,
        "two bodies wait for the window"
    );
    assert_eq!(c.h.held(), 0, "not held back as a partial message");
    let mut update = Vec::new();
    frame::encode_window_update(&mut update, 1, 5);
    c.send(&update);
    assert_eq!(body(&c.frames(), 1), b"Hello");
    assert_eq!(c.h.held_for_peer(), 13 + 8);
    update.clear();
    frame::encode_window_update(&mut update, 1, 100);
    frame::encode_window_update(&mut update, 3, 100);
    c.send(&update);
    let out = c.frames();
    assert_eq!(body(&out, 3), b"Hello, World!");
    assert_eq!(c.h.held_for_peer(), 0, "all sent: nothing held");
}

/// One connection holds at most `max_held` for a peer that does not read: the stream that
/// reaches it is answered, the next one is refused unprocessed (REFUSED_STREAM) until the
/// peer takes some; refusals for memory are not counted as the peer's resets.
#[test]
fn a_zero_window_connection_is_refused_new_streams_one_past_max_held() {
    let limits = Http2Config {
        max_held: 3 * 13,
        max_resets: 1,
        ..Http2Config::default()
    };
    let mut c = zero_window(limits);
    for id in [1, 3, 5] {
        let req = c.request(id, "GET", "/plain", true);
        c.send(&req);
    }
    let out = c.frames();
    assert_eq!(of(&out, FrameType::Headers).len(), 3);
    assert!(
        of(&out, FrameType::RstStream).is_empty(),
        "up to the edge: served"
    );
    assert_eq!(c.h.held_for_peer(), 39);
    for id in [7, 9] {
        let req = c.request(id, "GET", "/plain", true);
        assert_eq!(c.send(&req), Flow::Continue, "not the peer's error");
    }
    let out = c.frames();
    let resets = of(&out, FrameType::RstStream);
    assert_eq!(resets.len(), 2, "{out:?}");
    assert!(resets.iter().all(|r| r.code() == ErrorCode::RefusedStream));
    assert!(of(&out, FrameType::GoAway).is_empty());
    assert_eq!(c.h.held_for_peer(), 39, "refused streams hold nothing");
    // The peer takes one answer: there is room for the next stream.
    let mut update = Vec::new();
    frame::encode_window_update(&mut update, 1, 13);
    c.send(&update);
    c.frames();
    let req = c.request(11, "GET", "/plain", true);
    c.send(&req);
    let out = c.frames();
    assert!(of(&out, FrameType::RstStream).is_empty(), "{out:?}");
    assert_eq!(of(&out, FrameType::Headers).len(), 1);
}

/// Over the server's memory budget a connection that holds answers opens no new stream
/// (it would grow), while one that holds nothing is still served.
#[test]
fn over_the_memory_budget_only_a_connection_holding_nothing_opens_streams() {
    let mut holding = zero_window(Http2Config::default());
    let req = holding.request(1, "GET", "/plain", true);
    holding.send(&req);
    holding.frames();
    holding.h.set_memory_tight(true);
    let req = holding.request(3, "GET", "/plain", true);
    holding.send(&req);
    let out = holding.frames();
    assert_eq!(of(&out, FrameType::RstStream).len(), 1);
    assert_eq!(
        of(&out, FrameType::RstStream)[0].code(),
        ErrorCode::RefusedStream
    );
    // Control frames still go through: the window update that releases the bytes.
    let mut update = Vec::new();
    frame::encode_window_update(&mut update, 1, 13);
    holding.send(&update);
    assert_eq!(body(&holding.frames(), 1), b"Hello, World!");
    assert_eq!(holding.h.held_for_peer(), 0);

    let mut fresh = Client::connected(Http2Config::default());
    fresh.h.set_memory_tight(true);
    let req = fresh.request(1, "GET", "/plain", true);
    fresh.send(&req);
    assert_eq!(body(&fresh.frames(), 1), b"Hello, World!");
}

/// Request bodies stop growing at `max_held`: an `/echo` whose client sends but opens no
/// window gets no more window, on the stream or the connection, until it reads.
#[test]
fn an_echo_held_at_max_held_is_granted_no_more_window() {
    let limits = Http2Config {
        max_held: 1000,
        initial_window_size: 4096,
        ..Http2Config::default()
    };
    // With a length, the body streams through into the answer, which waits for a window;
    // without one it is collected until END_STREAM: held either way.
    for (id, length) in [(1, Some("8000")), (3, None)] {
        let mut c = zero_window(limits);
        let extra: &[(&str, &str)] = match length {
            Some(n) => &[("content-length", n)],
            None => &[],
        };
        let block = c.block("POST", "/echo", extra);
        let mut bytes = Vec::new();
        frame::encode_headers(&mut bytes, id, &block, false, 16_384);
        frame::encode_data(&mut bytes, id, &[7u8; 3000], false);
        c.send(&bytes);
        let out = c.frames();
        assert_eq!(c.h.held_for_peer(), 3000, "{length:?}");
        assert!(
            of(&out, FrameType::WindowUpdate).is_empty(),
            "no window granted past max_held ({length:?}): {out:?}"
        );
    }
}

#[test]
fn data_on_an_idle_stream_is_a_connection_error() {
    let mut c = Client::connected(Http2Config::default());
    let mut bytes = Vec::new();
    frame::encode_data(&mut bytes, 9, b"x", false);
    assert_eq!(c.send(&bytes), Flow::Close);
    let out = c.frames();
    assert_eq!(
        of(&out, FrameType::GoAway)[0].code(),
        ErrorCode::ProtocolError
    );
}

#[test]
fn data_over_the_connection_window_is_a_connection_error() {
    let limits = Http2Config {
        connection_window_size: 65_535,
        initial_window_size: 1 << 20,
        max_frame_size: 1 << 20,
        ..Http2Config::default()
    };
    let mut c = Client::connected(limits);
    let mut bytes = c.request(1, "PUT", "/echo", false);
    frame::encode_data(&mut bytes, 1, &vec![0; 65_536], false);
    assert_eq!(c.send(&bytes), Flow::Close);
    let out = c.frames();
    assert_eq!(
        of(&out, FrameType::GoAway)[0].code(),
        ErrorCode::FlowControlError
    );
}

#[test]
fn a_stream_id_going_backwards_is_a_connection_error() {
    let mut c = Client::connected(Http2Config::default());
    let mut bytes = c.request(3, "GET", "/plain", true);
    bytes.extend(c.request(1, "GET", "/plain", true));
    assert_eq!(c.send(&bytes), Flow::Close);
    let out = c.frames();
    assert_eq!(body(&out, 3), b"Hello, World!");
    let goaway = of(&out, FrameType::GoAway);
    assert_eq!(goaway[0].code(), ErrorCode::ProtocolError);
    assert_eq!(
        &goaway[0].payload[..4],
        &3u32.to_be_bytes(),
        "the last stream is 3"
    );
}

#[test]
fn expect_100_continue_gets_an_interim_headers_then_the_answer() {
    let mut c = Client::connected(Http2Config::default());
    let block = c.block("POST", "/echo", &[("expect", "100-continue")]);
    let mut bytes = Vec::new();
    frame::encode_headers(&mut bytes, 1, &block, false, 16_384);
    c.send(&bytes);
    let out = c.frames();
    let headers = of(&out, FrameType::Headers);
    assert_eq!(headers.len(), 1);
    assert_eq!(c.status(headers[0]), "100");
    assert!(!headers[0].end_stream());
    let mut body_frames = Vec::new();
    frame::encode_data(&mut body_frames, 1, b"payload", true);
    c.send(&body_frames);
    let out = c.frames();
    let headers = of(&out, FrameType::Headers);
    assert_eq!(c.status(headers[0]), "200");
    assert_eq!(body(&out, 1), b"payload");
    assert!(out.last().unwrap().end_stream());
}

/// A peer that leaves can open no window any more: answers waiting for one are dropped at
/// its EOF, their bytes released, and the connection closes.
#[test]
fn answers_waiting_for_a_window_are_dropped_when_the_peer_leaves() {
    let mut c = zero_window(Http2Config::default());
    let req = c.request(1, "GET", "/plain", true);
    c.send(&req);
    c.frames();
    assert_eq!(c.h.held_for_peer(), 13);
    assert_eq!(c.h.eof(&[]), Flow::Close);
    assert_eq!(c.h.held_for_peer(), 0);
}

/// An idle connection keeps one small answer buffer for its next stream, not the eight large
/// ones its busiest moment needed (memory per idle connection, issue 21).
#[test]
fn an_idle_connection_gives_back_the_buffers_of_its_busy_moment() {
    let root = tempfile::tempdir().unwrap();
    let http = Http::new(config(&root, Http2Config::default()));
    let mut h = Harness::new(super::H2Session::new(std::rc::Rc::clone(
        http.shared_for_tests(),
    )));
    assert_eq!(h.open(), Flow::Continue);
    let mut encoder = Encoder::new(4096);
    let mut bytes = PREFACE.to_vec();
    frame::encode_settings(&mut bytes, &[(SettingId::INITIAL_WINDOW_SIZE, 1 << 20)]);
    frame::encode_window_update(&mut bytes, 0, 1 << 20);
    let body = vec![b'e'; 50_000];
    for id in (1..16).step_by(2) {
        let mut block = Vec::new();
        let fields = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/echo"),
            (":authority", "t"),
            ("content-length", "50000"),
        ];
        encoder.encode(
            fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            &mut block,
        );
        frame::encode_headers(&mut bytes, id, &block, false, 16_384);
        for (k, piece) in body.chunks(16_384).enumerate() {
            frame::encode_data(&mut bytes, id, piece, (k + 1) * 16_384 >= body.len());
        }
    }
    h.input(&bytes);
    let mut echoed = 0;
    for _ in 0..100 {
        let out = frames(&h.take_output());
        echoed += out
            .iter()
            .filter(|f| f.kind == FrameType::Data)
            .map(|f| f.payload.len())
            .sum::<usize>();
        if h.session.streams.is_empty() {
            break;
        }
        h.drain();
    }
    assert_eq!(echoed, 8 * 50_000, "every body echoed");
    assert!(h.session.streams.is_empty());
    let kept = h.session.kept_capacity();
    assert!(
        kept <= 4 * 1024,
        "an idle connection keeps {kept} bytes of buffers"
    );
}
