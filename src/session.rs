//! The contract between the reactor and the protocols.
//!
//! A protocol is *sans-IO*: it never sees a socket. The reactor reads bytes, hands them to a
//! [`Session`], and writes whatever the session appended to its output buffer. The session tells
//! the reactor how many input bytes it consumed (the rest stay buffered until more arrive) and
//! whether the connection should go on ([`Flow`]).
//!
//! ```text
//!             bytes read                      bytes to write
//!  socket ──► [input buffer] ──► Session ──► [output buffer] ──► socket
//!                 ▲     on_input(&input, cx) -> Step { consumed, forward, flow }
//!                 └── unconsumed bytes wait for the next read
//! ```
//!
//! A session that sends input back unchanged (echo) says so with [`Step::forward`] rather than
//! copying it to the output: the reactor then writes it straight from its read buffer. One
//! that sends a file queues it instead ([`Ctx::send_file`]): the kernel then copies it from
//! the page cache, between the output appended before and after it.
//!
//! A [`Service`] is what a TCP listener serves: it makes one session per accepted connection and
//! holds whatever the sessions share (configuration, a document root, ...). A
//! [`DatagramService`] answers UDP datagrams one at a time.
//!
//! Everything here runs on the reactor's single thread: sessions may keep `Rc`s to shared state
//! and need no locks.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use crate::stats::Stats;

pub mod inspect;

use inspect::{ConnTable, Inspect};

/// What a session wants the reactor to do with its connection after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep the connection open and keep reading.
    Continue,
    /// Stop reading requests, deliver everything already in the output buffer, then close.
    ///
    /// The reactor shuts down its write side after the flush and keeps reading (and discarding)
    /// for a short bounded time before closing, so that a client still sending does not get a
    /// reset that would destroy the answer it has not read yet (a "lingering close").
    Close,
    /// Drop the connection at once, discarding any pending output.
    Abort,
}

/// The result of feeding input to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// How many bytes, from the start of the input, the session has used up. The reactor keeps
    /// the rest and offers it again, followed by newly read bytes, on the next call.
    pub consumed: usize,
    /// How many of the consumed bytes, from the start of the input, are to be sent back as
    /// they are, after whatever the session appended to the output during this call.
    ///
    /// This is how a session echoes without copying: the reactor writes these bytes straight
    /// from its read buffer when nothing else is waiting to be sent, as a hand-written echo
    /// loop would, and copies only what the socket does not take. At most `consumed`.
    pub forward: usize,
    /// What to do with the connection next.
    pub flow: Flow,
}

impl Step {
    /// `consumed` bytes used, keep going.
    pub fn consumed(consumed: usize) -> Step {
        Step {
            consumed,
            forward: 0,
            flow: Flow::Continue,
        }
    }

    /// `consumed` bytes used, then close after flushing the output.
    pub fn close(consumed: usize) -> Step {
        Step {
            consumed,
            forward: 0,
            flow: Flow::Close,
        }
    }

    /// `n` bytes used and sent back unchanged (see [`Step::forward`]), keep going.
    pub fn forward(n: usize) -> Step {
        Step {
            consumed: n,
            forward: n,
            flow: Flow::Continue,
        }
    }
}

/// Where a session's bytes go: an append-only view of the connection's output buffer.
///
/// The buffer may already hold bytes ahead of what the session appends — some written to the
/// socket, some not yet — and the reactor compacts it lazily, so a session must never remove
/// or reorder anything: this handle can only append. [`Output::pending`] counts what is still
/// to be sent, which is what a streaming session must look at, never the buffer's length.
pub struct Output<'a> {
    buf: &'a mut Vec<u8>,
    /// Bytes at the start of `buf` already written to the socket.
    written: usize,
    /// Output pending further out (a wrapping session's own, see [`Ctx::nested`]).
    outer_pending: usize,
}

impl<'a> Output<'a> {
    /// Appends to `buf`, all of whose bytes count as pending. For clients and tests that
    /// encode into a `Vec` of their own.
    #[cfg(test)]
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Output<'a> {
        Output {
            buf,
            written: 0,
            outer_pending: 0,
        }
    }

    /// Appends `bytes`.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends one byte.
    #[inline]
    pub fn push(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    /// Makes room for `additional` more bytes.
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// Appends up to `max` bytes read from `reader` (a file being streamed); returns how many.
    pub fn read_from(&mut self, reader: impl io::Read, max: u64) -> io::Result<usize> {
        io::Read::read_to_end(&mut reader.take(max), self.buf)
    }

    /// Bytes accepted but not yet written to the socket, this session's and any wrapper's.
    #[inline]
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.written + self.outer_pending
    }
}

impl io::Write for Output<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Something bytes can only be appended to: a session's [`Output`], or a `Vec` a client or a
/// test encodes into. Encoders (the frame codecs, response heads) write through it, so one
/// encoder serves both sides.
pub trait Append {
    /// Appends `bytes`.
    fn append(&mut self, bytes: &[u8]);
    /// Makes room for `additional` more bytes.
    fn reserve_more(&mut self, additional: usize);
}

impl Append for Vec<u8> {
    fn append(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn reserve_more(&mut self, additional: usize) {
        self.reserve(additional);
    }
}

impl Append for Output<'_> {
    fn append(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn reserve_more(&mut self, additional: usize) {
        self.reserve(additional);
    }
}

/// A broadcast group: every open connection in a room hears what any other one broadcasts.
///
/// Rooms are fixed numbers, not names looked up at run time: a service says which room its
/// connections start in ([`Service::room`]), and a session that changes protocol on the way
/// (an HTTP connection upgraded to a WebSocket chat) joins one later with [`Ctx::join`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoomId(pub u16);

impl RoomId {
    /// The chat room: `--chat` listeners and `/ws/chat` WebSocket sessions.
    pub(crate) const CHAT: RoomId = RoomId(1);
}

/// A stretch of a file to send as it is (see [`Ctx::send_file`]).
#[derive(Debug)]
pub struct FileSlice {
    /// The open file; its read position is not used.
    pub file: File,
    /// Where the slice starts.
    pub offset: u64,
    /// Bytes still to send. The file must hold them: a file that shrinks under a slice ends
    /// the connection, since the answer's head promised those bytes.
    pub len: u64,
}

/// A file slice queued on a connection, to go out after the `ahead` bytes of output that were
/// appended before it and before whatever was appended after it.
#[derive(Debug)]
pub struct QueuedFile {
    /// What is left of the slice.
    pub slice: FileSlice,
    /// Buffered output bytes still to be written before the slice.
    pub ahead: usize,
}

/// What a session asks the reactor to watch over for it between calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watch {
    /// When to call [`Session::on_timeout`] (see [`Ctx::set_deadline`]).
    pub(crate) deadline: Option<Instant>,
    /// The session is in the middle of a message from the peer (see [`Ctx::set_receiving`]).
    pub(crate) receiving: bool,
    /// The room the session joined with [`Ctx::join`], if any (it overrides the service's).
    pub(crate) room: Option<RoomId>,
    /// A look at the open connections the session asked for with [`Ctx::inspect`], until
    /// the reactor answers it.
    pub(crate) inspect: Option<Inspect>,
    /// Bytes the session holds in buffers of its own (see [`Ctx::set_held`]).
    pub(crate) held: usize,
    /// Bytes it holds that only the peer can release (see [`Ctx::set_held_for_peer`]).
    pub(crate) held_for_peer: usize,
    /// The service the connection is to be counted under from now on (see
    /// [`Ctx::count_as`]), until the reactor has moved it.
    pub(crate) count_as: Option<&'static str>,
}

/// The reactor-owned things a session may touch during one call.
///
/// Built by the reactor for the duration of a single callback; the session never keeps it.
pub struct Ctx<'a> {
    out: &'a mut Vec<u8>,
    /// Bytes at the start of `out` already written to the socket (kept to save a memmove).
    written: usize,
    /// Output pending further out, beyond this buffer (a wrapping session's own, see
    /// [`Ctx::nested`]); counted by [`Ctx::pending_output`].
    outer_pending: usize,
    broadcast: &'a mut Vec<u8>,
    watch: &'a mut Watch,
    peer: SocketAddr,
    now: Instant,
    stats: &'a Stats,
    /// The answer to [`Ctx::inspect`], in the call that delivers it.
    connections: Option<&'a ConnTable>,
    /// Whether the reactor is over its memory budget (see [`Ctx::memory_tight`]).
    memory_tight: bool,
    /// The connection's file queue, when its bytes go to the socket as they are (see
    /// [`Ctx::send_file`]); `None` where they are transformed on the way (TLS) or in tests.
    files: Option<&'a mut Option<QueuedFile>>,
}

impl<'a> Ctx<'a> {
    /// Assembles a context. Used by the reactor, and by tests that drive a session by hand.
    pub fn new(
        out: &'a mut Vec<u8>,
        broadcast: &'a mut Vec<u8>,
        watch: &'a mut Watch,
        peer: SocketAddr,
        now: Instant,
        stats: &'a Stats,
    ) -> Ctx<'a> {
        Ctx {
            out,
            written: 0,
            outer_pending: 0,
            broadcast,
            watch,
            peer,
            now,
            stats,
            connections: None,
            memory_tight: false,
            files: None,
        }
    }

    /// Hands the session the answer to its [`Ctx::inspect`] (see [`Ctx::connections`]).
    /// Used by the reactor.
    pub(crate) fn with_connections(mut self, table: &'a ConnTable) -> Ctx<'a> {
        self.connections = Some(table);
        self
    }

    /// Marks the first `written` bytes of the output buffer as already sent (the reactor
    /// compacts its buffers lazily); they do not count as pending.
    pub(crate) fn with_written(mut self, written: usize) -> Ctx<'a> {
        self.written = written.min(self.out.len());
        self
    }

    /// Marks the context as seen while the reactor holds more than its memory budget.
    pub(crate) fn with_memory_tight(mut self, tight: bool) -> Ctx<'a> {
        self.memory_tight = tight;
        self
    }

    /// Lends the session the connection's file queue (see [`Ctx::send_file`]). Used by the
    /// reactor, for a connection whose output reaches the socket unchanged.
    pub(crate) fn with_file_queue(mut self, queue: &'a mut Option<QueuedFile>) -> Ctx<'a> {
        self.files = Some(queue);
        self
    }

    /// Whether the server holds more buffered bytes than its memory budget (`--max-memory`)
    /// allows: a session should not start holding more (a body collected in memory) and
    /// refuse it instead, with a 503 for HTTP. The reactor already stops reading from
    /// connections that hold bytes; this is for what only the session knows it would hold.
    pub fn memory_tight(&self) -> bool {
        self.memory_tight
    }

    /// A context for a session wrapped inside the current one (TLS, a PROXY-protocol header):
    /// the inner session appends to `out`, which the wrapper then transforms into this
    /// context's output; everything else (broadcast, deadline, peer, clock, counters) is
    /// shared. The inner session's [`Ctx::pending_output`] counts this context's pending
    /// output too, so its backpressure still sees the socket.
    pub(crate) fn nested<'b>(&'b mut self, out: &'b mut Vec<u8>) -> Ctx<'b> {
        Ctx {
            outer_pending: self.pending_output(),
            out,
            written: 0,
            broadcast: &mut *self.broadcast,
            watch: &mut *self.watch,
            peer: self.peer,
            now: self.now,
            stats: self.stats,
            connections: self.connections,
            memory_tight: self.memory_tight,
            // The wrapper transforms what the inner session writes: a file cannot skip it.
            files: None,
        }
    }

    /// The same context seen from another peer address: a wrapper that learned the real client
    /// (a PROXY-protocol header) hands its inner session this one.
    pub(crate) fn with_peer(&mut self, peer: SocketAddr) -> Ctx<'_> {
        Ctx {
            out: &mut *self.out,
            written: self.written,
            outer_pending: self.outer_pending,
            broadcast: &mut *self.broadcast,
            watch: &mut *self.watch,
            peer,
            now: self.now,
            stats: self.stats,
            connections: self.connections,
            memory_tight: self.memory_tight,
            files: self.files.as_deref_mut(),
        }
    }

    /// Where to append bytes to send (see [`Output`]).
    #[inline]
    pub fn out(&mut self) -> Output<'_> {
        Output {
            buf: &mut *self.out,
            written: self.written,
            outer_pending: self.outer_pending,
        }
    }

    /// Bytes waiting to be sent, a queued file's included. A session streaming a large body
    /// produces more only while this is small, so memory stays bounded whatever the body size.
    #[inline]
    pub fn pending_output(&self) -> usize {
        let file = match self.files.as_deref() {
            Some(Some(queued)) => usize::try_from(queued.slice.len).unwrap_or(usize::MAX),
            _ => 0,
        };
        (self.out.len() - self.written + self.outer_pending).saturating_add(file)
    }

    /// Whether this connection sends files without copying them (see [`Ctx::send_file`]):
    /// its output reaches the socket as it is. False under TLS, whose records must be
    /// encrypted in memory; the session then copies the file through [`Output`].
    pub fn can_send_files(&self) -> bool {
        self.files.is_some()
    }

    /// Whether [`Ctx::send_file`] would take a slice now: the connection sends files and
    /// none is queued. A session that frames a file (HTTP/2 DATA) checks before writing a
    /// frame header the slice must follow.
    pub fn can_queue_file(&self) -> bool {
        matches!(self.files.as_deref(), Some(None))
    }

    /// Sends `slice` after everything appended so far, and before anything appended later,
    /// without its bytes passing through the server's memory: the reactor asks the kernel to
    /// copy them from the page cache to the socket (`sendfile(2)`), within the same write
    /// budgets as any output. The slice counts in [`Ctx::pending_output`] until it is sent,
    /// and [`Session::on_drain`] is offered as it drains, as for buffered output.
    ///
    /// A connection queues one slice at a time: the slice comes back if one is queued
    /// already (the session tries again from `on_drain`), or if the connection cannot send
    /// files at all (see [`Ctx::can_send_files`]).
    pub fn send_file(&mut self, slice: FileSlice) -> Result<(), FileSlice> {
        let ahead = self.out.len() - self.written;
        match self.files.as_deref_mut() {
            Some(queue @ None) => {
                if slice.len > 0 {
                    *queue = Some(QueuedFile { slice, ahead });
                }
                Ok(())
            }
            _ => Err(slice),
        }
    }

    /// Sends `bytes` to every *other* connection of the same room (see [`RoomId`]), or, for a
    /// service without rooms, of the same listener. A receiver
    /// whose output buffer is over its limit is disconnected rather than allowed to slow others.
    pub fn broadcast(&mut self, bytes: &[u8]) {
        self.broadcast.extend_from_slice(bytes);
    }

    /// Moves this connection into `room`: from the end of this call on, it hears the room's
    /// broadcasts and its own broadcasts reach the room, whatever its listener's room was.
    pub fn join(&mut self, room: RoomId) {
        self.watch.room = Some(room);
    }

    /// Sets (or with `None` clears) a session deadline. When it passes, the reactor calls
    /// [`Session::on_timeout`]. Without one, the listener's idle timeout applies, counted from
    /// the last byte read or written.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.watch.deadline = deadline;
    }

    /// Says whether the session is in the middle of a message from the peer that it consumes
    /// as it arrives (a request body, a file). The reactor then holds the peer to the minimum
    /// transfer rate, as it does while a partial message waits unconsumed: a trickle of bytes
    /// cannot keep the connection, or its place among the server's connections, for ever.
    pub fn set_receiving(&mut self, receiving: bool) {
        self.watch.receiving = receiving;
    }

    /// Reports the bytes the session holds in buffers of its own (a message being assembled,
    /// stream bodies): a gauge, replaced by each call, 0 when it holds nothing. The reactor
    /// counts it in the memory budget (`--max-memory`, `/stats` `session_buffered`) beside
    /// its own buffers, holds the connection back as one that holds bytes while the server
    /// is over the budget, and releases it when the connection closes. A wrapping session
    /// shares its inner session's report (`Ctx::nested` shares it as it shares the
    /// deadline): one that holds bytes itself as well reports the sum.
    #[inline]
    pub fn set_held(&mut self, bytes: usize) {
        self.watch.held = bytes;
    }

    /// What the session last reported with [`Ctx::set_held`].
    #[inline]
    pub fn held(&self) -> usize {
        self.watch.held
    }

    /// Reports the bytes the session holds that only the peer can release, by what it sends
    /// next: HTTP/2 answers waiting for the peer's `WINDOW_UPDATE`. A gauge like
    /// [`Ctx::set_held`], counted with it in `session_buffered` and the memory budget, with
    /// one difference: these bytes do not make the reactor hold the connection back, since
    /// holding back its reads would keep out the very frame that releases them (a deadlock
    /// as long as the budget stays full). In exchange the session promises that they do not
    /// grow while it holds some and [`Ctx::memory_tight`] is true (HTTP/2 opens no new
    /// stream then and grants no more window), and bounds them per connection: hold-back
    /// only stops a connection from *growing*, as it does for the reactor's own buffers.
    #[inline]
    pub fn set_held_for_peer(&mut self, bytes: usize) {
        self.watch.held_for_peer = bytes;
    }

    /// Counts the connection under the service `name` from now on (`/stats`'
    /// `active_<name>`), instead of its listener's: a session that became another protocol
    /// on the same connection says so (an HTTP connection upgraded to WebSocket counts as
    /// `ws`). The reactor moves it after this call; it knows no protocol by name.
    pub fn count_as(&mut self, name: &'static str) {
        self.watch.count_as = Some(name);
    }

    /// Asks the reactor to describe its open connections (see [`inspect`]). When this call
    /// returns, the reactor makes one pass over them and then calls [`Session::on_drain`]
    /// once more, in which [`Ctx::connections`] holds the answer. A connection that is no
    /// longer open by then (closing, aborted) gets no answer.
    pub(crate) fn inspect(&mut self, query: Inspect) {
        self.watch.inspect = Some(query);
    }

    /// The reactor's answer to [`Ctx::inspect`], during the `on_drain` call that delivers it;
    /// `None` in every other call.
    #[inline]
    pub(crate) fn connections(&self) -> Option<&'a ConnTable> {
        self.connections
    }

    /// The peer's address.
    #[inline]
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The time the current batch of events was polled: cheap, and the same for every
    /// callback of that batch.
    #[inline]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The reactor's counters.
    #[inline]
    pub fn stats(&self) -> &Stats {
        self.stats
    }
}

/// One connection's protocol state machine.
pub trait Session {
    /// Called once, right after the connection is accepted (a greeting, a join notice).
    fn on_open(&mut self, _cx: &mut Ctx<'_>) -> Flow {
        Flow::Continue
    }

    /// Called with every buffered, unconsumed input byte after each read.
    ///
    /// `input` may hold part of a message, one message or many; consume what is complete and
    /// leave the rest. Consuming nothing is fine: the reactor waits for more input, up to the
    /// service's [`Service::input_limit`]. A session that lets its input reach that limit
    /// without consuming anything gets its connection closed.
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step;

    /// Called after output was written and the output buffer is at or below the low-water
    /// mark, so a session streaming a long body can produce the next chunk. Declining (writing
    /// nothing) is fine: the session is asked again after the next write. After it returns, any
    /// buffered input is offered again through [`Session::on_input`].
    fn on_drain(&mut self, _cx: &mut Ctx<'_>) -> Flow {
        Flow::Continue
    }

    /// The peer has shut down its sending side (a read returned 0). Every byte read before
    /// has already been offered to [`Session::on_input`]; `input` is whatever was left
    /// unconsumed; a session that ends mid-message should report it here. By default the
    /// connection closes once the output is flushed. A session that returns `Continue` (it
    /// is still streaming an answer) is offered the same unconsumed input again through
    /// [`Session::on_input`] after its next [`Session::on_drain`].
    fn on_eof(&mut self, _input: &[u8], _cx: &mut Ctx<'_>) -> Flow {
        Flow::Close
    }

    /// The session deadline, or the idle timeout, has passed. The session may write a last
    /// answer (an HTTP 408) before the connection closes.
    fn on_timeout(&mut self, _cx: &mut Ctx<'_>) -> Flow {
        Flow::Close
    }

    /// Another connection of the same room broadcast `message` (see [`Ctx::broadcast`]). The
    /// default sends it as it is; a session with its own wire form (TLS, WebSocket) wraps it.
    /// Broadcasts made from here are dropped: a message is never relayed twice.
    fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
        cx.out().extend_from_slice(message);
        Flow::Continue
    }

    /// The server is stopping (SIGTERM, once the drain delay is over): the session may write
    /// a goodbye its protocol has (a WebSocket close frame with 1001, "going away"; a chat
    /// notice). The connection then closes as after [`Flow::Close`]: what is owed is flushed,
    /// and a session streaming an answer is still offered [`Session::on_drain`] to finish it.
    fn on_shutdown(&mut self, _cx: &mut Ctx<'_>) {}

    /// The connection is gone (any reason). Output written now is discarded, but broadcasts
    /// (a leave notice) are delivered.
    fn on_close(&mut self, _cx: &mut Ctx<'_>) {}
}

/// A boxed session is a session, so tests can drive what [`Service::new_session`] returns.
impl<S: Session + ?Sized> Session for Box<S> {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        (**self).on_open(cx)
    }
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        (**self).on_input(input, cx)
    }
    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        (**self).on_drain(cx)
    }
    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        (**self).on_eof(input, cx)
    }
    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        (**self).on_timeout(cx)
    }
    fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
        (**self).on_broadcast(message, cx)
    }
    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
        (**self).on_shutdown(cx)
    }
    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        (**self).on_close(cx)
    }
}

/// What a TCP listener serves: a factory of sessions plus the state they share.
pub trait Service {
    /// Short name used in logs: `listening <name> tcp 127.0.0.1:7007`.
    fn name(&self) -> &'static str;

    /// Makes the session for a newly accepted connection.
    fn new_session(&mut self, peer: SocketAddr) -> Box<dyn Session>;

    /// Bytes written (best effort, one non-blocking write) to a connection refused because the
    /// server is at its connection limit, just before it is closed. HTTP says 503 here.
    fn reject_message(&self) -> &[u8] {
        b""
    }

    /// Whether a connection that is idle (no partial message, nothing to send) may be closed
    /// to make room for a new one at the connection limit. True where idleness is only a
    /// courtesy, as an HTTP keep-alive connection between requests (nginx reuses those the
    /// same way); false where being idle is the point (a chat member waiting to hear).
    fn idle_disposable(&self) -> bool {
        false
    }

    /// The room this listener's connections start in; `None` (the default) makes each
    /// listener a group of its own.
    fn room(&self) -> Option<RoomId> {
        None
    }

    /// The most unconsumed input the reactor keeps for one connection. Large enough for the
    /// largest message head the protocol accepts.
    fn input_limit(&self) -> usize {
        64 * 1024
    }
}

/// What a UDP socket serves: one datagram in, at most one datagram back.
pub trait DatagramService {
    /// Short name used in logs: `listening <name> udp 127.0.0.1:7007`.
    fn name(&self) -> &'static str;

    /// Handles one datagram from `peer`. Whatever is appended to `reply` (which arrives empty)
    /// is sent back to `peer` when the function returns `true`.
    fn on_datagram(&mut self, data: &[u8], peer: SocketAddr, reply: &mut Vec<u8>) -> bool;

    /// Whether a datagram from `peer` may be answered at all. A refused one is dropped
    /// unread and counted (`udp_loops_dropped`). The reactor itself never answers its own
    /// UDP sockets; a service that answers every datagram also refuses the ports of other
    /// such services (see `UdpEcho`).
    fn answers(&self, peer: SocketAddr) -> bool {
        let _ = peer;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nested_context_counts_the_outer_pending_output_and_shares_the_rest() {
        let stats = Stats::default();
        let (mut out, mut broadcast, mut watch) =
            (b"abcdef".to_vec(), Vec::new(), Watch::default());
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let later: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let now = Instant::now();
        let mut cx =
            Ctx::new(&mut out, &mut broadcast, &mut watch, peer, now, &stats).with_written(2);
        let mut plain = b"xyz".to_vec();
        let mut inner = cx.nested(&mut plain);
        assert_eq!(inner.pending_output(), 4 + 3);
        inner.out().extend_from_slice(b"!");
        inner.broadcast(b"hi");
        inner.set_deadline(Some(now));
        inner.set_held(1000);
        assert_eq!(inner.pending_output(), 4 + 4);
        assert_eq!(inner.out().pending(), 4 + 4);
        assert_eq!(cx.with_peer(later).peer(), later);
        assert_eq!(cx.peer(), peer);
        assert_eq!(plain, b"xyz!");
        assert_eq!(broadcast, b"hi");
        assert_eq!(watch.deadline, Some(now));
        assert_eq!(
            watch.held, 1000,
            "the inner session's report reaches the reactor"
        );
    }
}
