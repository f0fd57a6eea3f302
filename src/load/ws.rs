//! `evserve load ws HOST:PORT`: WebSocket echo load against `/ws/echo`, closed loop.
//!
//! One thread, one `mio::Poll`, `connections` WebSocket connections. Each one connects, sends
//! the opening handshake, waits for the `101`, then sends a binary message of `size` bytes
//! and waits for it to come back before sending the next. A reply is judged by comparing the
//! bytes received with the exact frame the server must send (a final binary frame, unmasked,
//! with the same payload), both built once before the run, so the hot path allocates and
//! formats nothing. Anything else — another frame, a close, a refused handshake — counts as
//! an error and the connection is replaced.
//!
//! The masking key is fixed: RFC 6455 wants it unpredictable so that a page's script cannot
//! steer the bytes on the wire past a naive proxy; a load generator has no such script.
//!
//! Kept apart from the request/reply clients of `tcp.rs` because a WebSocket connection has a
//! phase those do not: its handshake, before the first message. Over TLS (`--tls`, `wss://`)
//! a connection is `tcp.rs`'s [`Stream`]: the opening handshake waits inside rustls until the
//! TLS one is done, WRITABLE is always asked for (the poll is edge-triggered, so it costs
//! nothing while the socket stays writable), and reads go on until `WouldBlock`, which is what
//! TLS needs as the plaintext of one read says nothing about the socket.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::report::{Failure, Report};
use super::tcp::Stream;
use super::tls::{TlsClient, TlsOptions, TlsProblem, TlsStream};

/// The key of the opening handshake (any 16 bytes, base64; this one is RFC 6455's example).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The masking key of every frame sent.
const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x2e];
/// The largest `101` head accepted.
const MAX_HEAD: usize = 4096;

/// What one run is asked to do.
#[derive(Debug, Clone)]
pub struct WsLoad {
    /// The server (HTTP listener).
    pub addr: SocketAddr,
    /// Connections kept open.
    pub connections: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// How long to run.
    pub duration: Duration,
    /// Stop after this many replies (ok or not), if set.
    pub requests: Option<u64>,
    /// A message unanswered this long counts as a timeout, and its connection is replaced.
    pub timeout: Duration,
    /// Speak TLS (`wss://`) with these options; `None`: plain `ws://`.
    pub tls: Option<TlsOptions>,
}

/// Where one connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The TCP connect is under way.
    Connecting,
    /// The handshake is sent (or being sent); waiting for `101`.
    Handshake,
    /// Messages flow.
    Open,
}

struct Conn {
    stream: Stream,
    phase: Phase,
    /// Bytes of `to_send` already written.
    sent: usize,
    /// What is being written: the handshake or a message.
    sending: Sending,
    /// Bytes received and not yet judged.
    input: Vec<u8>,
    /// When the message in flight was sent.
    in_flight: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    Nothing,
    Handshake,
    Message,
}

/// The bytes every connection sends and expects, built once.
struct Wire {
    handshake: Vec<u8>,
    request: Vec<u8>,
    reply: Vec<u8>,
}

impl Wire {
    fn new(addr: SocketAddr, size: usize) -> Wire {
        let payload: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let handshake = format!(
            "GET /ws/echo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes();
        Wire {
            handshake,
            request: frame(&payload, Some(MASK)),
            reply: frame(&payload, None),
        }
    }
}

/// A final binary frame carrying `payload`, masked with `mask` if given.
fn frame(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![0x82];
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        None => out.extend_from_slice(payload),
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
    }
    out
}

/// Runs the load; fails only if the server cannot be reached at all or the poll fails.
pub fn run(load: &WsLoad) -> io::Result<Report> {
    std::net::TcpStream::connect_timeout(&load.addr, load.timeout)?;
    let client = match &load.tls {
        Some(options) => Some(TlsClient::new(options).map_err(io::Error::other)?),
        None => None,
    };
    let client = client.as_ref();
    let wire = Wire::new(load.addr, load.size);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut report = Report::new();
    let mut conns: Vec<Option<Conn>> = Vec::with_capacity(load.connections);
    for i in 0..load.connections.max(1) {
        conns.push(connect(&poll, i, load.addr, client, &mut report));
    }
    let start = Instant::now();
    let deadline = start + load.duration;
    let limit = load.requests.unwrap_or(u64::MAX);
    // Messages sent: none beyond the limit, so that exactly `limit` replies are judged.
    let mut issued = 0u64;
    let mut scratch = vec![0u8; 64 * 1024];
    while Instant::now() < deadline && report.completed() < limit {
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in events.iter() {
            let i = event.token().0;
            let Some(slot) = conns.get_mut(i) else {
                continue;
            };
            let alive = match slot {
                Some(conn) => {
                    let budget = Budget {
                        issued: &mut issued,
                        limit,
                    };
                    drive(conn, &wire, &mut report, &mut scratch, now, budget)
                }
                None => false,
            };
            if !alive {
                replace(&poll, slot, i, load.addr, client, &mut report);
            }
        }
        for (i, slot) in conns.iter_mut().enumerate() {
            let stuck = match slot {
                Some(conn) => conn.in_flight.is_some_and(|t| now - t > load.timeout),
                None => true, // a connect that failed: try again
            };
            if stuck {
                if slot.is_some() {
                    report.timeouts += 1;
                }
                replace(&poll, slot, i, load.addr, client, &mut report);
            }
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

fn connect(
    poll: &Poll,
    i: usize,
    addr: SocketAddr,
    client: Option<&TlsClient>,
    report: &mut Report,
) -> Option<Conn> {
    let started = TcpStream::connect(addr).and_then(|mut stream| {
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map(|()| stream)
    });
    // The TLS client says nothing until the connect completes and the first flush.
    let stream = started.and_then(|tcp| match client {
        None => Ok(Stream::Plain(tcp)),
        Some(client) => match client.connection() {
            Ok(tls) => Ok(Stream::Tls(Box::new(TlsStream::new(tcp, tls)))),
            Err(e) => {
                let mut tcp = tcp;
                let _ = poll.registry().deregister(&mut tcp);
                Err(io::Error::other(e))
            }
        },
    });
    match stream {
        Ok(stream) => Some(Conn {
            stream,
            phase: Phase::Connecting,
            sent: 0,
            sending: Sending::Nothing,
            input: Vec::new(),
            in_flight: None,
        }),
        Err(_) => {
            report.connect_errors += 1;
            None
        }
    }
}

fn replace(
    poll: &Poll,
    slot: &mut Option<Conn>,
    i: usize,
    addr: SocketAddr,
    client: Option<&TlsClient>,
    report: &mut Report,
) {
    if let Some(mut old) = slot.take() {
        match &mut old.stream {
            // Given up mid-handshake: a timeout, an alert, a reset.
            Stream::Tls(tls) if tls.handshaking() && old.phase != Phase::Connecting => {
                report.tls.failed += 1
            }
            Stream::Tls(tls) => tls.close(),
            Stream::Plain(_) => {}
        }
        let _ = poll.registry().deregister(old.stream.tcp());
        if old.in_flight.is_some() {
            report.errors += 1;
        }
        report.reconnects += 1;
    }
    *slot = connect(poll, i, addr, client, report);
}

/// How many messages may still be sent.
struct Budget<'a> {
    issued: &'a mut u64,
    limit: u64,
}

/// Does all the work an event allows; false if the connection must be replaced.
fn drive(
    conn: &mut Conn,
    wire: &Wire,
    report: &mut Report,
    scratch: &mut [u8],
    now: Instant,
    mut budget: Budget<'_>,
) -> bool {
    if conn.phase == Phase::Connecting {
        let tcp = conn.stream.tcp();
        match tcp.take_error() {
            Ok(None) if tcp.peer_addr().is_ok() => {}
            Ok(None) => return true, // not connected yet
            _ => {
                report.connect_errors += 1;
                return false;
            }
        }
        let _ = conn.stream.tcp().set_nodelay(true);
        report.connects += 1;
        conn.phase = Phase::Handshake;
        conn.sending = Sending::Handshake;
        conn.sent = 0;
    }
    loop {
        if !flush(conn, wire, report) {
            return false;
        }
        let handshaking = conn.stream.handshaking();
        let read = conn.stream.read(scratch);
        if handshaking
            && let Stream::Tls(tls) = &mut conn.stream
            && let Some((resumed, suite)) = tls.handshake_done()
        {
            report.tls.completed(resumed, suite);
        }
        match read {
            Ok(0) => return false,
            Ok(n) => {
                report.bytes_received += n as u64;
                conn.input.extend_from_slice(&scratch[..n]);
                if !judge(conn, wire, report, now, &mut budget) {
                    return false;
                }
            }
            // Drained. Over TLS the read may have finished the handshake, releasing the
            // opening request rustls held, or queued a message of its own: send them now.
            Err(e) if e.kind() == ErrorKind::WouldBlock => return flush(conn, wire, report),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                if let Some((problem, example)) = TlsProblem::of_io(&e) {
                    // Counted here with its kind, not again when the connection is replaced.
                    let (why, lost) = if handshaking {
                        (Failure::Handshake(problem), 1)
                    } else {
                        (
                            Failure::Tls(problem),
                            u64::from(conn.in_flight.take().is_some()),
                        )
                    };
                    report.error(why, lost, || Some(example));
                }
                return false;
            }
        }
    }
}

/// Writes what is owed until done or the socket is full.
fn flush(conn: &mut Conn, wire: &Wire, report: &mut Report) -> bool {
    let bytes = match conn.sending {
        // Over TLS a read may have left a handshake message or an alert to send.
        Sending::Nothing => return conn.stream.flush().is_ok(),
        Sending::Handshake => &wire.handshake,
        Sending::Message => &wire.request,
    };
    while conn.sent < bytes.len() {
        match conn.stream.write(&bytes[conn.sent..]) {
            Ok(0) => return false,
            Ok(n) => {
                conn.sent += n;
                report.bytes_sent += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    if conn.sent == bytes.len() {
        conn.sending = Sending::Nothing;
    }
    // Over TLS, the ciphertext of what was written (or a handshake message) leaves now, as far
    // as the socket takes it; the rest goes at the next WRITABLE.
    conn.stream.flush().is_ok()
}

/// Judges what arrived: the `101`, then echoed messages. False if the stream is wrong.
fn judge(
    conn: &mut Conn,
    wire: &Wire,
    report: &mut Report,
    now: Instant,
    budget: &mut Budget<'_>,
) -> bool {
    if conn.phase == Phase::Handshake {
        let Some(end) = conn.input.windows(4).position(|w| w == b"\r\n\r\n") else {
            return conn.input.len() <= MAX_HEAD;
        };
        if !conn.input.starts_with(b"HTTP/1.1 101 ") {
            return false;
        }
        conn.input.drain(..end + 4);
        conn.phase = Phase::Open;
        send_next(conn, now, budget);
    }
    while conn.input.len() >= wire.reply.len() && conn.in_flight.is_some() {
        let right = conn.input[..wire.reply.len()] == wire.reply[..];
        conn.input.drain(..wire.reply.len());
        let Some(sent) = conn.in_flight.take() else {
            return false;
        };
        if !right {
            report.errors += 1;
            return false;
        }
        report.record_ok(sent, now);
        send_next(conn, now, budget);
    }
    // More than one reply's worth with nothing in flight is something we did not ask for.
    conn.in_flight.is_some() || conn.input.is_empty()
}

/// Sends the next message, if the budget allows one more.
fn send_next(conn: &mut Conn, now: Instant, budget: &mut Budget<'_>) {
    if *budget.issued >= budget.limit {
        return;
    }
    *budget.issued += 1;
    conn.sending = Sending::Message;
    conn.sent = 0;
    conn.in_flight = Some(now);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_masked_only_when_asked() {
        assert_eq!(frame(b"ab", None), [0x82, 2, b'a', b'b']);
        let masked = frame(b"ab", Some([1, 2, 3, 4]));
        assert_eq!(masked, [0x82, 0x82, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2]);
        assert_eq!(frame(&[0; 300], None)[..4], [0x82, 126, 1, 44]);
    }
}
