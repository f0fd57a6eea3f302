//! One client TCP connection of the load: its socket, what it owes, and its life.
//!
//! ```text
//!            connect() ok                 writable, connected
//!   Down ─────────────────► Connecting ───────────────────────► Open
//!    ▲  retry_at passed          │ connect failed / too slow      │
//!    └───────────────────────────┘                                │
//!    ▲  (backoff 10 ms … 1 s)                                     │
//!    └── connect() failed ◄── reconnect ◄─────────────────────────┘
//!                               failure: read/write error, EOF with requests written,
//!                                 a reply that breaks the protocol  → written ones are errors
//!                               timeout: the oldest request waited too long → timeouts
//!                               close:   the server said `Connection: close` → the rest is
//!                                        written again on the next connection
//! ```
//!
//! The discipline is the reactor's, seen from the other end. Connecting is non-blocking: the
//! socket is registered for WRITABLE, and the first writable event says whether the connect
//! worked (`take_error`, then `peer_addr`). Once open, a connection is registered for
//! READABLE only, and asks for WRITABLE just while a write came up short, so a steady run
//! gets no wakeup per ACK. Reads drain to `WouldBlock` (or a short read, which on Linux means
//! the socket was drained, unless the peer also closed). Requests are written from the
//! driver's shared batch, all that are owed in one `write`, and nothing is copied or
//! allocated per request.
//!
//! A driver with a preamble (a WebSocket upgrade) has it written first on every new
//! connection, and no request written until the driver says its answer came (`ready`).
//!
//! HTTP/2 writes from the connection's own [`H2Client`](super::h2::H2Client) instead of the
//! shared batch (every request is a new stream), and its replies end in any order: each
//! request is stamped with its stream id when its HEADERS are queued and matched by it, as
//! UDP matches datagrams. A stream the server did not process (REFUSED_STREAM, GOAWAY) is
//! written again; after GOAWAY the connection is replaced once its last streams end.
//!
//! Over TLS (`https://`, `--tls`) an open connection is a [`TlsStream`] on the same socket,
//! made when the connect completes: requests written during the handshake wait inside rustls
//! and leave with it. Reads then continue to `WouldBlock` (a short TLS read says nothing of
//! the socket), WRITABLE stays asked for while rustls holds ciphertext, and a failure while
//! handshaking is tallied as `handshake failed: KIND` (see `tls.rs`).
//!
//! Without keep-alive the client closes each connection as soon as its reply is read, as wrk
//! does, so TIME_WAIT stays on the client side: on loopback Linux reuses those ports
//! (`tcp_tw_reuse`); against a remote server a long run at thousands of connections per
//! second can exhaust the ephemeral ports, which shows as connect errors.

use std::io::{self, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use log::debug;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::decode::{Broken, Decode, Outcome};
use super::driver::ReplyState;
use super::h2::End;
use super::inflight::{InFlight, Request};
use super::report::Failure;
use super::runner::{Ctx, SCRATCH, Slot};
use super::tls::{TlsProblem, TlsStream};

/// The first wait before connecting again after a failed attempt; it doubles per failure.
const RETRY_FIRST: Duration = Duration::from_millis(10);

/// The longest wait between connection attempts.
const RETRY_MAX: Duration = Duration::from_secs(1);

/// The most unconsumed bytes a connection keeps between reads. The drivers keep far less (a
/// partial head of at most 16 KiB); more means a broken stream.
const MAX_LEFTOVER: usize = SCRATCH / 2;

/// Where a connection is in its life.
enum Link {
    /// No socket; connect again at `retry_at`.
    Down {
        /// When to try.
        retry_at: Instant,
    },
    /// A non-blocking connect is under way.
    Connecting(TcpStream),
    /// Connected (over TLS: the handshake may still be under way).
    Open(Stream),
}

/// An open connection: plain TCP, or TLS over it (`tls.rs`). Both read and write as a
/// non-blocking socket does.
pub(super) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS: boxed, as rustls's state is a few KiB and most runs are plain.
    Tls(Box<TlsStream>),
}

impl Stream {
    /// The socket, to register with the poll.
    pub(super) fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.tcp(),
        }
    }

    /// A TLS handshake is under way.
    pub(super) fn handshaking(&self) -> bool {
        matches!(self, Stream::Tls(s) if s.handshaking())
    }

    /// Whether a read that returns less than asked means the socket is drained. True on
    /// Linux for a socket; not for TLS, which returns the plaintext of the records decrypted
    /// so far.
    fn short_read_drains(&self) -> bool {
        matches!(self, Stream::Plain(_))
    }

    /// Output waits below the requests (TLS ciphertext the socket did not take).
    fn wants_write(&self) -> bool {
        matches!(self, Stream::Tls(s) if s.wants_write())
    }

    /// Writes output that waits below the requests.
    fn flush_below(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(s) => s.flush_tls(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_below()
    }
}

/// How a read pass ended.
enum ReadEnd {
    /// The socket has nothing more for now.
    Drained,
    /// The server closed its side.
    Eof,
    /// The server announced it will close after the reply just read.
    ServerClose,
    /// A read error or a broken reply stream: what, and details for the report.
    Failed(Failure, Option<String>),
}

/// One TCP connection of a load thread.
pub(super) struct Conn {
    link: Link,
    reply: ReplyState,
    /// Received bytes the driver did not consume yet (an incomplete head or header).
    leftover: Vec<u8>,
    inflight: InFlight,
    /// Bytes of the first unsent request already written.
    offset: usize,
    /// Bytes of the driver's preamble (a WebSocket upgrade) already written.
    preamble_sent: usize,
    /// WRITABLE interest is registered.
    want_write: bool,
    /// Requests the pacing dealt to this slot so far.
    taken: u64,
    /// Connection attempts that failed in a row.
    failures: u32,
}

impl Slot for Conn {
    fn open(i: usize, ctx: &mut Ctx, now: Instant) -> io::Result<Conn> {
        let mut conn = Conn {
            link: Link::Down { retry_at: now },
            reply: ctx.driver.reply_state(),
            leftover: Vec::new(),
            inflight: InFlight::with_capacity(ctx.pipeline),
            offset: 0,
            preamble_sent: 0,
            want_write: false,
            taken: 0,
            failures: 0,
        };
        conn.connect(i, ctx, now);
        Ok(conn)
    }

    fn on_event(&mut self, i: usize, event: &Event, ctx: &mut Ctx, now: Instant) {
        if matches!(self.link, Link::Connecting(_)) && !self.finish_connect(i, ctx, now) {
            return;
        }
        if !matches!(self.link, Link::Open(_)) {
            return;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            match self.read(ctx, now, event.is_read_closed()) {
                ReadEnd::Drained => {}
                ReadEnd::Eof => self.on_eof(i, ctx, now),
                ReadEnd::ServerClose => self.reopen(i, ctx, now),
                ReadEnd::Failed(why, example) => self.fail(i, ctx, now, why, example),
            }
        }
        self.fill(i, ctx, now);
    }

    fn fill(&mut self, i: usize, ctx: &mut Ctx, now: Instant) {
        while self.inflight.len() < ctx.pipeline {
            let Some(intended) = ctx.pacing.grant(i, &mut self.taken, now) else {
                break;
            };
            self.inflight.push(Request {
                intended,
                since: now,
                seq: 0,
            });
        }
        if let Err(e) = self.flush(i, ctx) {
            debug!("write: {e}");
            self.fail(i, ctx, now, Failure::Io(e.kind()), Some(e.to_string()));
        }
    }

    fn tick(&mut self, i: usize, ctx: &mut Ctx, now: Instant) {
        if let Link::Down { retry_at } = self.link
            && now >= retry_at
        {
            self.connect(i, ctx, now);
        }
        if self.inflight.expired(now, ctx.timeout) {
            // Replies come in order: nothing written behind the late one can arrive first,
            // and the connection is dropped, so all that was written timed out with it.
            let n = self.inflight.drop_written() + self.inflight.expire(now, ctx.timeout);
            if matches!(&self.link, Link::Open(s) if s.handshaking()) {
                let why = Failure::Handshake(TlsProblem::TimedOut);
                let example = "no answer to the TLS handshake within --timeout; does that port \
                               speak TLS?";
                ctx.report.error(why, n as u64, || Some(example.into()));
            } else {
                ctx.report.error(Failure::Timeout, n as u64, || None);
            }
            match self.link {
                Link::Open(_) => {
                    ctx.report.reconnects += 1;
                    self.close(ctx, now);
                    self.connect(i, ctx, now);
                }
                Link::Connecting(_) => {
                    self.connect_failed(ctx, now, ErrorKind::TimedOut.into());
                }
                Link::Down { .. } => {}
            }
        }
        self.fill(i, ctx, now);
    }
}

impl Conn {
    /// Starts a non-blocking connect.
    fn connect(&mut self, i: usize, ctx: &mut Ctx, now: Instant) {
        let started = TcpStream::connect(ctx.addr).and_then(|mut stream| {
            ctx.registry
                .register(&mut stream, Token(i), Interest::WRITABLE)
                .map(|()| stream)
        });
        match started {
            Ok(stream) => self.link = Link::Connecting(stream),
            Err(e) => {
                debug!("connect: {e}");
                self.connect_failed(ctx, now, e);
            }
        }
    }

    /// Checks a connect under way on a writable event; returns true once connected.
    fn finish_connect(&mut self, i: usize, ctx: &mut Ctx, now: Instant) -> bool {
        let Link::Connecting(stream) = &mut self.link else {
            return false;
        };
        let status = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => stream.peer_addr().map(|_| ()),
        };
        match status {
            Ok(()) => {}
            // A spurious wakeup: still connecting.
            Err(e) if e.kind() == ErrorKind::NotConnected => return false,
            Err(e) => {
                debug!("connect: {e}");
                self.connect_failed(ctx, now, e);
                return false;
            }
        }
        let Link::Connecting(mut stream) =
            std::mem::replace(&mut self.link, Link::Down { retry_at: now })
        else {
            return false;
        };
        // Small requests must leave at once, not wait for the previous one's ACK.
        let _ = stream.set_nodelay(true);
        if let Err(e) = ctx
            .registry
            .reregister(&mut stream, Token(i), Interest::READABLE)
        {
            debug!("register: {e}");
            let _ = ctx.registry.deregister(&mut stream);
            self.connect_failed(ctx, now, e);
            return false;
        }
        ctx.report.connects += 1;
        let stream = match ctx.tls {
            None => Stream::Plain(stream),
            Some(client) => match client.connection() {
                Ok(tls) => Stream::Tls(Box::new(TlsStream::new(stream, tls))),
                Err(e) => {
                    let _ = ctx.registry.deregister(&mut stream);
                    let kind = Failure::Handshake(TlsProblem::of(&e));
                    let lost = self.inflight.drop_written() as u64;
                    ctx.report.error(kind, lost, || Some(e.to_string()));
                    self.close(ctx, now);
                    return false;
                }
            },
        };
        self.link = Link::Open(stream);
        self.want_write = false;
        self.failures = 0;
        true
    }

    /// A connection attempt failed: wait a little longer each time before the next.
    fn connect_failed(&mut self, ctx: &mut Ctx, now: Instant, e: io::Error) {
        self.close(ctx, now);
        let kind = Failure::Connect(e.kind());
        ctx.report.error(kind, 1, || Some(e.to_string()));
        let backoff = RETRY_FIRST
            .saturating_mul(1 << self.failures.min(10))
            .min(RETRY_MAX);
        self.failures += 1;
        self.link = Link::Down {
            retry_at: now + backoff,
        };
    }

    /// Drops the socket (deregistered first) and whatever was half received.
    fn close(&mut self, ctx: &mut Ctx, now: Instant) {
        match std::mem::replace(&mut self.link, Link::Down { retry_at: now }) {
            Link::Open(mut s) => {
                match &mut s {
                    // A connection given up mid-handshake: a timeout, an alert, a reset.
                    Stream::Tls(tls) if tls.handshaking() => ctx.report.tls.failed += 1,
                    Stream::Tls(tls) => tls.close(),
                    Stream::Plain(_) => {}
                }
                let _ = ctx.registry.deregister(s.tcp());
            }
            Link::Connecting(mut s) => {
                let _ = ctx.registry.deregister(&mut s);
            }
            Link::Down { .. } => {}
        }
        self.reply = ctx.driver.reply_state();
        self.leftover.clear();
        self.offset = 0;
        self.preamble_sent = 0;
        self.want_write = false;
    }

    /// The connection failed: what it had written can never be answered.
    fn fail(
        &mut self,
        i: usize,
        ctx: &mut Ctx,
        now: Instant,
        why: Failure,
        example: Option<String>,
    ) {
        // Before the answer to its preamble (a WebSocket upgrade) a connection holds its
        // requests back; they fail with it, as requests written during a TLS handshake do,
        // or a refused upgrade would be retried for ever and never reported.
        let lost = if ctx.driver.ready(&self.reply) {
            self.inflight.drop_written()
        } else {
            self.inflight.drop_all()
        };
        ctx.report.error(why, lost as u64, || example);
        ctx.report.reconnects += 1;
        self.close(ctx, now);
        self.connect(i, ctx, now);
    }

    /// The server closes after a reply: start over on a new connection with what is owed.
    /// Planned when keep-alive is off; otherwise counted as a reconnect.
    fn reopen(&mut self, i: usize, ctx: &mut Ctx, now: Instant) {
        self.inflight.unsend_all();
        if ctx.keep_alive {
            ctx.report.reconnects += 1;
        }
        self.close(ctx, now);
        self.connect(i, ctx, now);
    }

    /// The server closed its side.
    fn on_eof(&mut self, i: usize, ctx: &mut Ctx, now: Instant) {
        // A body delimited by the close is complete now.
        if let Some(outcome) = ctx.driver.eof(&mut self.reply) {
            self.answered(ctx, outcome, now);
        }
        let handshaking = matches!(&self.link, Link::Open(s) if s.handshaking());
        if handshaking {
            let why = Failure::Handshake(TlsProblem::Closed);
            let example = "the server closed the connection during the TLS handshake; does \
                           that port speak TLS?";
            self.fail(i, ctx, now, why, Some(example.into()));
        } else if self.inflight.written() > 0 {
            self.fail(i, ctx, now, Failure::Closed, None);
        } else {
            self.reopen(i, ctx, now);
        }
    }

    /// Writes what is owed until done or the socket is full.
    fn flush(&mut self, i: usize, ctx: &mut Ctx) -> io::Result<()> {
        let Link::Open(stream) = &mut self.link else {
            return Ok(());
        };
        if let ReplyState::H2(h2) = &mut self.reply {
            stream.flush_below()?;
            // Every request owed opens a stream, as far as the server's limit allows.
            let mut room = h2.room();
            while self.inflight.unsent() > 0 && room > 0 {
                let id = h2.open(ctx.driver.h2_fields());
                self.inflight.wrote_stamped(u64::from(id));
                room -= 1;
            }
            while !h2.pending().is_empty() {
                match stream.write(h2.pending()) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        ctx.report.bytes_sent += n as u64;
                        h2.wrote(n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let want_write = !h2.pending().is_empty() || stream.wants_write();
            return self.want_writable(i, ctx, want_write);
        }
        stream.flush_below()?;
        // A preamble (a WebSocket upgrade) first; requests once its answer came.
        let preamble = ctx.driver.preamble();
        while self.preamble_sent < preamble.len() {
            match stream.write(&preamble[self.preamble_sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    ctx.report.bytes_sent += n as u64;
                    self.preamble_sent += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let preamble_left = self.preamble_sent < preamble.len();
        let ready = ctx.driver.ready(&self.reply);
        let len = ctx.driver.request().len();
        while ready && self.inflight.unsent() > 0 {
            let bytes = ctx.driver.pending(self.inflight.unsent(), self.offset);
            match stream.write(bytes) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    ctx.report.bytes_sent += n as u64;
                    let total = self.offset + n;
                    self.inflight.wrote(total / len);
                    self.offset = total % len;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let want_write =
            preamble_left || (ready && self.inflight.unsent() > 0) || stream.wants_write();
        self.want_writable(i, ctx, want_write)
    }

    /// Asks for WRITABLE events, or stops asking, as `want_write` says.
    fn want_writable(&mut self, i: usize, ctx: &mut Ctx, want_write: bool) -> io::Result<()> {
        let Link::Open(stream) = &mut self.link else {
            return Ok(());
        };
        if want_write != self.want_write {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            ctx.registry.reregister(stream.tcp(), Token(i), interest)?;
            self.want_write = want_write;
        }
        Ok(())
    }

    /// Reads until the socket is drained, judging every complete reply.
    fn read(&mut self, ctx: &mut Ctx, now: Instant, read_closed: bool) -> ReadEnd {
        loop {
            let Link::Open(stream) = &mut self.link else {
                return ReadEnd::Failed(Failure::Io(ErrorKind::NotConnected), None);
            };
            let keep = self.leftover.len();
            ctx.scratch[..keep].copy_from_slice(&self.leftover);
            let room = ctx.scratch.len() - keep;
            let handshaking = stream.handshaking();
            let drains = stream.short_read_drains();
            let read = stream.read(&mut ctx.scratch[keep..]);
            if handshaking
                && let Stream::Tls(tls) = stream
                && let Some((resumed, suite)) = tls.handshake_done()
            {
                ctx.report.tls.completed(resumed, suite);
            }
            match read {
                Ok(0) => return ReadEnd::Eof,
                Ok(n) => {
                    ctx.report.bytes_received += n as u64;
                    match self.consume(ctx, keep + n, now) {
                        Ok(false) => {}
                        Ok(true) => return ReadEnd::ServerClose,
                        Err(broken) => {
                            debug!("reply: {broken:?}");
                            return ReadEnd::Failed(Failure::BadReply(broken), None);
                        }
                    }
                    if n < room && !read_closed && drains {
                        return ReadEnd::Drained;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadEnd::Drained,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("read: {e}");
                    if let Some((problem, example)) = TlsProblem::of_io(&e) {
                        let why = if handshaking {
                            Failure::Handshake(problem)
                        } else {
                            Failure::Tls(problem)
                        };
                        return ReadEnd::Failed(why, Some(example));
                    }
                    return ReadEnd::Failed(Failure::Io(e.kind()), Some(e.to_string()));
                }
            }
        }
    }

    /// Judges the replies in `scratch[..len]` and keeps the incomplete rest. Returns true if
    /// the server will close after the last reply judged.
    fn consume(&mut self, ctx: &mut Ctx, len: usize, now: Instant) -> Result<bool, Broken> {
        if let ReplyState::H2(h2) = &mut self.reply {
            let (inflight, report, driver) = (&mut self.inflight, &mut ctx.report, ctx.driver);
            let at = h2.decode(&ctx.scratch[..len], |end| match end {
                End::Reply { stream, outcome } => {
                    if let Some(r) = inflight.answer_stamp(u64::from(stream), u64::MAX) {
                        report.answered(outcome, driver.is_error(outcome), r.intended, now);
                    }
                }
                End::Malformed { stream, why } => {
                    if inflight.answer_stamp(u64::from(stream), u64::MAX).is_some() {
                        report.error(Failure::BadReply(why), 1, || None);
                    }
                }
                End::Reset { stream, code } => {
                    if inflight.answer_stamp(u64::from(stream), u64::MAX).is_some() {
                        report.error(Failure::Reset(code), 1, || None);
                    }
                }
                End::Unprocessed { stream } => inflight.unsend_stamp(u64::from(stream)),
            })?;
            if len - at > MAX_LEFTOVER {
                return Err(Broken::HeadTooLarge);
            }
            self.leftover.clear();
            self.leftover.extend_from_slice(&ctx.scratch[at..len]);
            // After GOAWAY, once the last streams ended: a new connection for the rest.
            return Ok(h2.finished());
        }
        let mut at = 0;
        let mut close = false;
        while !close {
            match ctx.driver.decode(&mut self.reply, &ctx.scratch[at..len]) {
                Decode::Partial { used } => {
                    at += used;
                    break;
                }
                Decode::Reply {
                    used,
                    outcome,
                    close: last,
                } => {
                    at += used;
                    if self.inflight.written() == 0 {
                        return Err(Broken::Unsolicited);
                    }
                    self.answered(ctx, outcome, now);
                    // Having asked for `Connection: close`, we may send nothing more here,
                    // whatever the server answered.
                    close = last || !ctx.keep_alive;
                }
                Decode::Broken(broken) => return Err(broken),
            }
        }
        if len - at > MAX_LEFTOVER {
            return Err(Broken::HeadTooLarge);
        }
        self.leftover.clear();
        self.leftover.extend_from_slice(&ctx.scratch[at..len]);
        Ok(close)
    }

    /// The oldest written request got its reply.
    fn answered(&mut self, ctx: &mut Ctx, outcome: Outcome, now: Instant) {
        let Some(request) = self.inflight.answer() else {
            return;
        };
        let error = ctx.driver.is_error(outcome);
        ctx.report.answered(outcome, error, request.intended, now);
    }
}
