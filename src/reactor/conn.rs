//! One TCP connection: its socket, its buffers, its session and where it is in its life.
//!
//! ```text
//!            Flow::Close / EOF                flushed           EOF or linger timeout
//!   Open ────────────────────────► Closing ─────────────► Lingering ────────────────────► gone
//!     │   (stop feeding the session;    (shutdown(Write); read and
//!     │    keep writing what is owed)    discard so no reset destroys
//!     │                                  the answer in flight)
//!     └── Flow::Abort, IO error, timeout while Closing/Lingering ───────────────────────► gone
//! ```
//!
//! Buffers. Reads go into the reactor's one shared read buffer; the session is handed those
//! bytes directly, and only what it leaves unconsumed (part of a message) is copied into the
//! connection's own `input`. Likewise the session writes into a shared output buffer when
//! nothing is pending, which is written at once; only what the socket did not take is copied
//! into the connection's own `out`. So the hot path allocates nothing, and an idle connection
//! owns no buffer at all. Input a session forwards (`Step::forward`, an echo) is written
//! straight from the read buffer when nothing is queued ahead of it: no copy at all unless the
//! socket does not take everything.
//!
//! Progress. The idle timeout is restarted by every byte, so on its own it lets a peer hold a
//! connection for ever with a byte every minute. So while a connection owes progress — a
//! partial message waits in its input, its session is mid-message (`Ctx::set_receiving`), or
//! output waits for the peer to read — it must move `min_rate` bytes a second, counted over
//! each `rate_window`: a peer that falls short is cut off (its session may still answer, an
//! HTTP 408, if the peer is reading). At the connection limit the reactor makes room for a
//! newcomer by closing an idle connection its service lets go (HTTP keep-alive), or failing
//! that the one that has been stalling longest ([`Conn::eviction_rank`]).
//!
//! Write budget. A connection writes at most `write_budget` bytes per turn, and all of them
//! together `turn_write_budget`; what is left waits on the deferred list for the next turn, so
//! a thousand large answers cannot stall the loop while the kernel copies them. The write path,
//! a queued file (`sendfile`) included, is `write.rs`.
//!
//! Rooms. What a connection broadcasts is copied to every member of its room, so its reads
//! cost the loop their size times the room's: such a connection reads at most
//! [`FANOUT_PER_READ`] divided by its room's size, once per turn, and only while the turn's
//! deliveries (`TURN_FANOUT`) last.
//!
//! Readiness. mio is edge-triggered: an event says "something changed", so the connection
//! remembers it is readable (`ReadSide::Ready`) until a read returns `WouldBlock` (or fewer bytes than asked, which on
//! Linux means the socket was drained — the same shortcut tokio takes — unless the peer also
//! closed, which must be read to the 0). WRITABLE interest is registered only while output is
//! pending and the last write came up short.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use log::{debug, trace};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::{Core, TURN_FANOUT};
use crate::session::inspect::ConnTable;
use crate::session::{Ctx, Flow, QueuedFile, RoomId, Session, Step, Watch};

mod inspect;
mod write;

use write::write_some;

/// How long a connection must have moved less than the minimum rate before it may be closed
/// to make room at the connection limit. Short, because until then a full server refuses
/// newcomers (a wave of trickling attackers would hold every slot for this long); long
/// enough that a client must have had a few round trips to show its rate (at the default
/// 512 B/s, 128 bytes).
pub const STALLED_AFTER: Duration = Duration::from_millis(250);

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Input is read and fed to the session.
    Open,
    /// The session is done (or the server is stopping): pending output is flushed; input is
    /// read and discarded.
    Closing,
    /// Our write side is shut down; input is discarded until the peer closes or `until`.
    Lingering {
        /// When to give up waiting for the peer's EOF.
        until: Instant,
    },
}

/// The bytes one read of a connection that speaks to a room may make the reactor copy to
/// the room's members (read size times members): its reads shrink as the room grows, so one
/// callback stays short however many listen (1,000 members: reads of 1 KiB).
const FANOUT_PER_READ: usize = 1024 * 1024;
/// The smallest read of a connection that speaks to a room, however large the room.
const MIN_FANOUT_READ: usize = 512;

/// A period over which a connection that owes progress must move `min_rate` bytes a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    start: Instant,
    /// `Conn::moved` when the window began.
    moved: u64,
}

/// Whether the socket may have bytes to read. mio's events are edge-triggered, so readiness
/// is remembered here until a read says it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadSide {
    /// The last read said `WouldBlock` (or came up short): wait for a READABLE event.
    Waiting,
    /// An event said readable: read until the socket is drained.
    Ready,
    /// A read returned 0: the peer will send nothing more.
    Closed,
}

/// Whether the socket may take bytes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteSide {
    /// Write at once.
    Ready,
    /// The last write came up short: the send buffer is full, wait for WRITABLE.
    Blocked,
    /// This turn's write budget is spent with output pending: the socket has room, so no
    /// WRITABLE will come; the connection waits on the deferred list instead.
    Deferred,
    /// A write failed (reset, broken pipe): remove at the next opportunity.
    Broken,
}

/// The connection must go: deregister it and drop it. The one failure of every function that
/// drives a connection, so that the read path can use `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// What driving a connection leaves: `Ok` to keep it, `Err(Gone)` to remove it.
pub type Status = Result<(), Gone>;

/// A connection and everything the reactor keeps for it.
pub struct Conn {
    /// Unique for the reactor's life; slab keys are reused, ids are not (timers use it).
    pub id: u64,
    /// Index of the listener that accepted it (its broadcast group).
    pub endpoint: usize,
    /// The peer's address.
    pub peer: SocketAddr,
    /// When the heap entry currently scheduled for this connection fires, if any.
    pub scheduled: Option<Instant>,
    /// Its service lets it go when idle, to make room at the connection limit (HTTP).
    pub idle_disposable: bool,
    socket: TcpStream,
    token: Token,
    session: Box<dyn Session>,
    input_limit: usize,
    input: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    /// A file slice the session queued (`Ctx::send_file`), sent with `sendfile` between the
    /// output appended before it and the output appended after.
    file: Option<QueuedFile>,
    /// `out` bytes already counted in the reactor's `buffered_out` gauge.
    accounted: usize,
    /// `input` bytes already counted in the reactor's `buffered_in` gauge.
    accounted_in: usize,
    /// On the reactor's list of connections held back by the memory budget.
    held_back: bool,
    /// How many connections heard its last broadcast (0: it never broadcast).
    fanout: usize,
    phase: Phase,
    /// The read side (see [`ReadSide`]).
    read: ReadSide,
    /// The peer has shut down its side (EPOLLRDHUP seen): read until the 0, never stop at a
    /// short read.
    peer_shut: bool,
    /// Backpressure: reading is suspended until the output drains to the low-water mark.
    paused: bool,
    /// The write side (see [`WriteSide`]).
    write: WriteSide,
    /// WRITABLE is part of the registered interest.
    write_interest: bool,
    /// The session produced output, or output was written, since the session was last
    /// offered `on_drain`.
    want_drain: bool,
    /// Closing because the server is stopping, not because the session said so: drains are
    /// still offered until the session writes no more, so a streamed body is finished.
    finishing_stream: bool,
    last_active: Instant,
    /// The deadline the session asked for, and whether it is mid-message.
    watch: Watch,
    /// Bytes read and written since the connection opened.
    moved: u64,
    /// When it was accepted, and its bytes read and written apart (for `GET /connections`).
    opened: Instant,
    bytes_in: u64,
    bytes_out: u64,
    /// Set while the connection owes progress (see the module docs).
    window: Option<Window>,
    /// Bytes this connection may still write in the turn `allowance_turn`.
    write_allowance: usize,
    allowance_turn: u64,
    /// Writing a broadcast: not budgeted, so that a receiver over its output limit is one
    /// whose peer does not read, never one whose turn had come to an end.
    unbudgeted: bool,
}

impl Conn {
    /// Wraps an accepted, registered socket.
    pub fn new(
        id: u64,
        endpoint: usize,
        socket: TcpStream,
        token: Token,
        peer: SocketAddr,
        session: Box<dyn Session>,
        input_limit: usize,
    ) -> Conn {
        Conn {
            id,
            endpoint,
            peer,
            scheduled: None,
            idle_disposable: false,
            socket,
            token,
            session,
            input_limit,
            input: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            file: None,
            accounted: 0,
            accounted_in: 0,
            held_back: false,
            fanout: 0,
            phase: Phase::Open,
            read: ReadSide::Waiting,
            peer_shut: false,
            paused: false,
            write: WriteSide::Ready,
            write_interest: false,
            want_drain: false,
            finishing_stream: false,
            last_active: Instant::now(),
            watch: Watch::default(),
            moved: 0,
            opened: Instant::now(),
            bytes_in: 0,
            bytes_out: 0,
            window: None,
            write_allowance: 0,
            allowance_turn: u64::MAX,
            unbudgeted: false,
        }
    }

    /// Output bytes accepted but not yet written, a queued file's included: what the peer
    /// is owed.
    pub fn pending(&self) -> usize {
        let file = self.file.as_ref().map_or(0, |q| q.slice.len);
        self.buffered()
            .saturating_add(usize::try_from(file).unwrap_or(usize::MAX))
    }

    /// Output bytes held in memory, waiting to be written (a queued file is not in memory).
    pub fn buffered(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// The room the session joined (see `Ctx::join`), if any.
    pub fn room(&self) -> Option<RoomId> {
        self.watch.room
    }

    /// Whether the connection still accepts broadcasts.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// When this connection next needs attention if nothing happens.
    pub fn deadline(&self, core: &Core) -> Instant {
        let idle = self.last_active + core.limits.idle_timeout;
        let own = match self.phase {
            Phase::Open => self.watch.deadline.map_or(idle, |d| d.min(idle)),
            Phase::Closing => idle,
            Phase::Lingering { until } => until,
        };
        match self.window {
            Some(w) => own.min(w.start + core.limits.rate_window),
            None => own,
        }
    }

    /// Whether the connection is waiting on its peer in the middle of something: a partial
    /// message, a message its session is receiving, or output the peer has not read.
    fn owes_progress(&self) -> bool {
        match self.phase {
            Phase::Open => !self.input.is_empty() || self.watch.receiving || self.pending() > 0,
            Phase::Closing => self.pending() > 0,
            Phase::Lingering { .. } => false,
        }
    }

    /// Opens a progress window when the connection starts owing progress, and closes it when
    /// it no longer does. Called after every time the connection was driven.
    pub fn track_progress(&mut self, core: &Core) {
        if core.limits.min_rate == 0 || !self.owes_progress() {
            self.window = None;
        } else if self.window.is_none() {
            self.window = Some(Window {
                start: core.now,
                moved: self.moved,
            });
        }
    }

    /// Whether this connection may be closed to make room for a new one, and how readily:
    /// lower ranks go first. One already lingering, or an idle one its service lets go (a
    /// keep-alive connection between requests) that has been idle for [`STALLED_AFTER`],
    /// ranks 0, by how long it has been idle; one that has stalled below the minimum rate for
    /// at least [`STALLED_AFTER`] ranks 1, by how long it has been stalling. Anything making
    /// progress is never chosen.
    pub fn eviction_rank(&self, core: &Core) -> Option<(u8, Instant)> {
        if matches!(self.phase, Phase::Lingering { .. }) {
            return Some((0, self.last_active));
        }
        if self.is_idle() {
            // Not at once: a client just accepted, whose request is still on its way, or one
            // between two requests it is about to send, is not done with the connection.
            let idle = core.now.saturating_duration_since(self.last_active);
            return (idle >= STALLED_AFTER).then_some((0, self.last_active));
        }
        let w = self.window?;
        let elapsed = core.now.saturating_duration_since(w.start);
        let expected = core.limits.min_rate as f64 * elapsed.as_secs_f64();
        let stalling = elapsed >= STALLED_AFTER && ((self.moved - w.moved) as f64) < expected;
        stalling.then_some((1, w.start))
    }

    /// When this connection will rank for eviction if nothing changes: for an idle one its
    /// service lets go, [`STALLED_AFTER`] after it went idle; for one owing progress, the end
    /// of its first [`STALLED_AFTER`], if it has moved less than the minimum rate asks for that
    /// long. `None` if it is already ranked, making progress, or owes nothing.
    pub fn evictable_at(&self, core: &Core) -> Option<Instant> {
        if self.is_idle() {
            let at = self.last_active + STALLED_AFTER;
            return (core.now < at).then_some(at);
        }
        let w = self.window?;
        let at = w.start + STALLED_AFTER;
        let expected = core.limits.min_rate as f64 * STALLED_AFTER.as_secs_f64();
        (core.now < at && ((self.moved - w.moved) as f64) < expected).then_some(at)
    }

    /// Open, owing nothing, and of a service that lets idle connections go (HTTP keep-alive).
    fn is_idle(&self) -> bool {
        self.idle_disposable && self.phase == Phase::Open && !self.owes_progress()
    }

    /// Deregisters the socket, hands the session its last call, and releases the gauge.
    pub fn close(mut self, core: &mut Core) {
        if let Err(e) = core.registry.deregister(&mut self.socket) {
            debug!("deregister {}: {e}", self.peer);
        }
        core.stats.buffered_out.sub(self.accounted as u64);
        core.stats.buffered_in.sub(self.accounted_in as u64);
        // The session may broadcast a leave notice; anything it writes for this peer is moot.
        let mut discard = Vec::new();
        let mut cx = Ctx::new(
            &mut discard,
            &mut core.broadcast,
            &mut self.watch,
            self.peer,
            core.now,
            &core.stats,
        );
        self.session.on_close(&mut cx);
    }

    /// Calls `on_open`, then drives the connection as if it were readable: data may have
    /// arrived before the socket was registered.
    pub fn open(&mut self, core: &mut Core) -> Status {
        self.set_read(ReadSide::Ready);
        self.last_active = core.now;
        let flow = self.call(core, |s, cx| s.on_open(cx));
        self.apply(flow, core).and_then(|()| self.drive(core))
    }

    /// Records a readiness event and does all the work it allows.
    pub fn ready(&mut self, core: &mut Core, event: &mio::event::Event) -> Status {
        if (event.is_readable() || event.is_read_closed() || event.is_error())
            && self.read == ReadSide::Waiting
        {
            self.set_read(ReadSide::Ready);
        }
        if event.is_read_closed() {
            self.peer_shut = true;
        }
        if (event.is_writable() || event.is_error()) && self.write == WriteSide::Blocked {
            self.set_write(WriteSide::Ready);
        }
        self.drive(core)
    }

    /// Starts a graceful stop: no more input is served; what is owed is written, then the
    /// connection closes as any other does (the drain deadline bounds the whole).
    pub fn begin_shutdown(&mut self, core: &mut Core) -> Status {
        // The session did not choose to close: one streaming a body from `on_drain` (a
        // download) is still asked for the rest, so the body is not cut short.
        self.finishing_stream = self.phase == Phase::Open;
        if self.phase == Phase::Open {
            self.call(core, |s, cx| s.on_shutdown(cx));
        }
        self.apply(Flow::Close, core)
            .and_then(|()| self.drive(core))
    }

    /// The deadline passed.
    pub fn timed_out(&mut self, core: &mut Core) -> Status {
        if let Some(w) = self.window
            && core.now >= w.start + core.limits.rate_window
        {
            return self.window_ended(w, core);
        }
        if self.phase != Phase::Open {
            debug!("{}: timed out while closing", self.peer);
            return Err(Gone);
        }
        let flow = self.call(core, |s, cx| s.on_timeout(cx));
        let flow = match flow {
            // A session that keeps going must have moved its deadline, or it would fire again.
            Flow::Continue if self.deadline(core) <= core.now => Flow::Close,
            flow => flow,
        };
        self.apply(flow, core).and_then(|()| self.drive(core))
    }

    /// A progress window is over: start the next one if the peer kept up, else cut it off.
    fn window_ended(&mut self, w: Window, core: &mut Core) -> Status {
        let moved = self.moved - w.moved;
        let needed = core
            .limits
            .min_rate
            .saturating_mul(core.limits.rate_window.as_secs().max(1));
        if moved >= needed {
            self.window = Some(Window {
                start: core.now,
                moved: self.moved,
            });
            return Ok(());
        }
        debug!(
            "{}: too slow: {moved} bytes in {:?}, {needed} needed",
            self.peer, core.limits.rate_window
        );
        core.stats.too_slow.incr();
        self.window = None;
        if self.phase != Phase::Open || self.pending() > 0 {
            // The peer is not reading: nothing more we write would reach it.
            return Err(Gone);
        }
        // A message trickling in: the session may answer it (HTTP's 408) before the close.
        let flow = match self.call(core, |s, cx| s.on_timeout(cx)) {
            Flow::Continue => Flow::Close,
            flow => flow,
        };
        self.apply(flow, core).and_then(|()| self.drive(core))
    }

    /// Does every piece of work the connection's readiness allows, within the read budget.
    /// Returns with `core.deferred` holding this connection if the budget ran out first.
    pub fn drive(&mut self, core: &mut Core) -> Status {
        let status = self.work(core);
        self.account(core);
        status?;
        self.update_interest(core);
        Ok(())
    }

    /// Takes the connection off the memory budget's waiting list: the reactor drives it
    /// again now that the server holds less.
    /// Returns whether it was held back: a token left on the list by a connection since
    /// closed may name a newer one in the same slot, which was not.
    pub fn release(&mut self) -> bool {
        std::mem::replace(&mut self.held_back, false)
    }

    /// Whether it is on the reactor's list of connections held back by the memory budget.
    pub fn is_held_back(&self) -> bool {
        self.held_back
    }

    fn work(&mut self, core: &mut Core) -> Status {
        self.send(core).map_err(|_| Gone)?;
        for _ in 0..core.limits.read_budget {
            let mut progress = false;
            // Over the memory budget, a connection that already holds bytes, or whose words
            // fill its room's buffers, takes no more: it is neither read nor its stream
            // refilled until the total comes down. Those holding nothing go on, so a client
            // with a small request is still served.
            let held_back = self.phase == Phase::Open
                && (self.holds() || self.fanout > 0)
                && core.memory_tight();
            if self.want_drain
                && (self.phase == Phase::Open || self.finishing_stream)
                && self.pending() <= core.limits.low_water
            {
                if held_back {
                    self.hold_back(core);
                } else {
                    progress |= self.offer_drain(core)?;
                }
            }
            if self.read == ReadSide::Ready && !self.paused {
                if held_back {
                    self.hold_back(core);
                } else if self.fanout.min(TURN_FANOUT) > core.turn_write_left.fanout_left {
                    // Its room has heard as much as one turn allows: speak next turn.
                    core.stats.deferred.incr();
                    core.deferred.push(self.token);
                    return Ok(());
                } else {
                    progress |= self.read_once(core)?;
                }
            }
            if self.write == WriteSide::Broken || self.finish_if_flushed(core).is_err() {
                return Err(Gone);
            }
            if !progress {
                return Ok(());
            }
            if !core.broadcast.is_empty() {
                // Every member of the room hears it before its sender is read again: one
                // fan-out per turn, however much the sender has queued; the next turn lets
                // those still waiting to speak go first.
                core.stats.deferred.incr();
                core.spoke.push(self.token);
                return Ok(());
            }
        }
        // Out of budget with work left: let other connections run, come back next turn.
        core.stats.deferred.incr();
        core.deferred.push(self.token);
        Ok(())
    }

    /// Records how many connections heard its broadcast, which bounds its next reads (see
    /// [`FANOUT_PER_READ`]).
    pub fn note_fanout(&mut self, receivers: usize) {
        self.fanout = receivers;
    }

    /// The most one read may take: less for a connection speaking to a large room.
    fn read_cap(&self) -> usize {
        match FANOUT_PER_READ.checked_div(self.fanout) {
            Some(cap) => cap.max(MIN_FANOUT_READ),
            None => usize::MAX,
        }
    }

    /// Whether the connection holds bytes in memory: output its peer has not read yet, or
    /// part of a message.
    fn holds(&self) -> bool {
        self.buffered() > 0 || !self.input.is_empty()
    }

    /// Puts the connection on the reactor's list of those waiting for the memory budget.
    fn hold_back(&mut self, core: &mut Core) {
        if !self.held_back {
            self.held_back = true;
            core.stats.memory_waits.incr();
            core.held_back.push(self.token);
        }
    }

    /// One `read`, its bytes fed to the session (or discarded when closing).
    fn read_once(&mut self, core: &mut Core) -> Result<bool, Gone> {
        let room = match self.phase {
            Phase::Open => self.input_limit.saturating_sub(self.input.len()),
            _ => usize::MAX,
        }
        .min(core.read_buf.len())
        .min(self.read_cap());
        if room == 0 {
            // The session holds a full input buffer. If it is waiting for output to drain,
            // that is backpressure; if nothing is pending, it can never make progress.
            if self.pending() == 0 && !self.want_drain {
                debug!("{}: input limit reached without progress", self.peer);
                return Err(Gone);
            }
            core.stats.read_pauses.add(u64::from(!self.paused));
            self.paused = true;
            return Ok(false);
        }
        core.stats.reads.incr();
        let n = match self.socket.read(&mut core.read_buf[..room]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                core.stats.reads_would_block.incr();
                self.set_read(ReadSide::Waiting);
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
            Err(e) => {
                debug!("{}: read: {e}", self.peer);
                return Err(Gone);
            }
        };
        self.last_active = core.now;
        self.moved += n as u64;
        self.bytes_in += n as u64;
        if n == 0 {
            self.set_read(ReadSide::Closed);
            return self.on_peer_eof(core).map(|()| true);
        }
        core.stats.bytes_in.add(n as u64);
        if n < room && !self.peer_shut {
            self.set_read(ReadSide::Waiting);
        }
        if self.phase == Phase::Open {
            self.feed(core, n)?;
        }
        Ok(true)
    }

    /// Hands the session the unconsumed input followed by the `fresh` bytes just read into the
    /// shared read buffer, keeping only what it leaves.
    fn feed(&mut self, core: &mut Core, fresh: usize) -> Status {
        let from_shared = self.input.is_empty();
        if !from_shared {
            self.input.extend_from_slice(&core.read_buf[..fresh]);
        }
        let before = self.prepare_out();
        let tight = core.memory_tight();
        let Core {
            read_buf,
            out_buf,
            broadcast,
            now,
            stats,
            turn_write_left,
            ..
        } = core;
        let input: &[u8] = if from_shared {
            &read_buf[..fresh]
        } else {
            &self.input
        };
        let (out, written) = output_for(before, out_buf, &mut self.out, self.out_pos);
        let mut cx = Ctx::new(out, broadcast, &mut self.watch, self.peer, *now, stats)
            .with_written(written)
            .with_memory_tight(tight)
            .with_file_queue(&mut self.file);
        let step = self.session.on_input(input, &mut cx);
        let consumed = step.consumed.min(input.len());
        let forward = step.forward.min(consumed);
        let aborted = step.flow == Flow::Abort;
        if forward > 0 && !aborted {
            self.want_drain = true;
            if from_shared
                && before.is_none()
                && out_buf.is_empty()
                && self.file.is_none()
                && self.can_write()
            {
                // Nothing is queued ahead of these bytes: write them from the read buffer
                // where they are, and keep (copy) only what the socket does not take.
                let bytes = &read_buf[..forward];
                let sent = self
                    .write_out(forward, *now, stats, turn_write_left, |s, done, max| {
                        write_some(s, &bytes[done..done + max], false, stats)
                    })
                    .unwrap_or_else(|_| {
                        self.set_write(WriteSide::Broken);
                        forward
                    });
                out_buf.extend_from_slice(&read_buf[sent..forward]);
            } else if before.is_none() {
                out_buf.extend_from_slice(&input[..forward]);
            } else {
                self.out.extend_from_slice(&input[..forward]);
            }
        }
        if from_shared {
            self.input.extend_from_slice(&read_buf[consumed..fresh]);
        } else {
            self.input.drain(..consumed);
            self.release_input();
        }
        self.after_call(before, core, aborted);
        self.apply(step.flow, core)
    }

    /// Lets a session that produced output produce more (a streamed body), then offers it any
    /// input it left waiting (a pipelined request queued behind that body).
    fn offer_drain(&mut self, core: &mut Core) -> Result<bool, Gone> {
        self.want_drain = false;
        let flow = self.call(core, |s, cx| s.on_drain(cx));
        if flow != Flow::Continue {
            self.finishing_stream = false;
        }
        self.apply(flow, core)?;
        let produced = self.want_drain;
        if self.phase == Phase::Open && !self.input.is_empty() {
            let input = std::mem::take(&mut self.input);
            let step = self.call(core, |s, cx| {
                let step = s.on_input(&input, cx);
                let forward = step.forward.min(step.consumed).min(input.len());
                cx.out().extend_from_slice(&input[..forward]);
                step
            });
            self.input = input;
            let consumed = step.consumed.min(self.input.len());
            self.input.drain(..consumed);
            self.release_input();
            self.apply(step.flow, core)?;
            if consumed > 0 {
                core.stats.read_resumes.add(u64::from(self.paused));
                self.paused = false;
                return Ok(true);
            }
        }
        if self.paused && self.buffered() <= core.limits.low_water {
            core.stats.read_resumes.incr();
            self.paused = false;
        }
        Ok(produced)
    }

    fn on_peer_eof(&mut self, core: &mut Core) -> Status {
        if self.phase != Phase::Open {
            return Ok(()); // closing or lingering: the peer's EOF is what we waited for
        }
        let input = std::mem::take(&mut self.input);
        let flow = self.call(core, |s, cx| s.on_eof(&input, cx));
        // A session that goes on (finishing a streamed answer) is offered what it left
        // unconsumed again after its next drain: requests queued behind the stream.
        self.input = input;
        self.apply(flow, core)
    }

    /// Runs a session callback with a context whose output goes where it must (see the module
    /// docs), then sends what it produced.
    fn call<R: Outcome>(
        &mut self,
        core: &mut Core,
        f: impl FnOnce(&mut dyn Session, &mut Ctx<'_>) -> R,
    ) -> R {
        self.call_with(core, None, f)
    }

    /// [`Conn::call`], lending the session the connection table it asked for, if any
    /// (`Ctx::inspect`).
    fn call_with<R: Outcome>(
        &mut self,
        core: &mut Core,
        table: Option<&ConnTable>,
        f: impl FnOnce(&mut dyn Session, &mut Ctx<'_>) -> R,
    ) -> R {
        let before = self.prepare_out();
        let tight = core.memory_tight();
        let Core {
            out_buf,
            broadcast,
            now,
            stats,
            ..
        } = core;
        let (out, written) = output_for(before, out_buf, &mut self.out, self.out_pos);
        let mut cx = Ctx::new(out, broadcast, &mut self.watch, self.peer, *now, stats)
            .with_written(written)
            .with_memory_tight(tight)
            .with_file_queue(&mut self.file);
        if let Some(table) = table {
            cx = cx.with_connections(table);
        }
        let r = f(&mut *self.session, &mut cx);
        self.after_call(before, core, r.aborts());
        r
    }

    /// Chooses where the session writes. Returns `None` when nothing is pending (the session
    /// writes into the shared buffer), else the current length of `out`. Between callbacks
    /// the shared buffer is always empty: whatever a callback left there was written or
    /// handed to its connection by `send`. The bytes already
    /// written are dropped from `out` only once they are at least half of it, so a connection
    /// under backpressure pays an amortised memmove, not one per read.
    fn prepare_out(&mut self) -> Option<usize> {
        debug_assert!(
            self.out_pos <= self.out.len(),
            "write position past the output"
        );
        if self.buffered() == 0 {
            self.out.clear();
            self.out_pos = 0;
            None
        } else {
            if self.out_pos >= self.out.len() / 2 {
                self.out.drain(..self.out_pos);
                self.out_pos = 0;
            }
            Some(self.out.len())
        }
    }

    /// Notes whether the session produced output, and writes it — unless the session aborted
    /// the connection in the same call: `Flow::Abort` discards pending output, that call's
    /// included.
    fn after_call(&mut self, before: Option<usize>, core: &mut Core, aborted: bool) {
        if aborted {
            match before {
                None => core.out_buf.clear(),
                Some(len) => self.out.truncate(len),
            }
            return;
        }
        let produced = match before {
            None => !core.out_buf.is_empty(),
            Some(len) => self.out.len() > len,
        };
        if produced {
            self.want_drain = true;
        }
        if self.send(core).is_err() {
            // Callers may be deep in a read or a broadcast: note it, and the drive loop (or
            // the broadcast) removes the connection when control comes back to it.
            self.set_write(WriteSide::Broken);
        }
    }

    /// The one place the read side changes (traced, as smoltcp traces its states).
    fn set_read(&mut self, to: ReadSide) {
        if self.read != to {
            trace!("{}: read {:?} -> {to:?}", self.peer, self.read);
            self.read = to;
        }
    }

    /// The one place the write side changes. A broken socket stays broken.
    fn set_write(&mut self, to: WriteSide) {
        if self.write != to && self.write != WriteSide::Broken {
            trace!("{}: write {:?} -> {to:?}", self.peer, self.write);
            self.write = to;
        }
    }

    /// Whether a write may be tried now (a spent budget is checked by the write itself).
    fn can_write(&self) -> bool {
        matches!(self.write, WriteSide::Ready | WriteSide::Deferred)
    }

    fn input_full(&self) -> bool {
        self.phase == Phase::Open && self.input.len() >= self.input_limit
    }

    /// Gives back an emptied input buffer that grew large.
    fn release_input(&mut self) {
        if self.input.is_empty() && self.input.capacity() > 4096 {
            self.input = Vec::new();
        }
    }

    fn account(&mut self, core: &Core) {
        debug_assert!(
            self.out_pos <= self.out.len(),
            "write position past the output"
        );
        let now = self.buffered();
        if now > self.accounted {
            core.stats.buffered_out.add((now - self.accounted) as u64);
        } else {
            core.stats.buffered_out.sub((self.accounted - now) as u64);
        }
        self.accounted = now;
        let now = self.input.len();
        if now > self.accounted_in {
            core.stats.buffered_in.add((now - self.accounted_in) as u64);
        } else {
            core.stats.buffered_in.sub((self.accounted_in - now) as u64);
        }
        self.accounted_in = now;
    }

    fn apply(&mut self, flow: Flow, core: &mut Core) -> Status {
        if self.write == WriteSide::Broken {
            return Err(Gone);
        }
        match flow {
            Flow::Continue => Ok(()),
            Flow::Abort => Err(Gone),
            Flow::Close => {
                if self.phase == Phase::Open {
                    self.phase = Phase::Closing;
                    self.input = Vec::new();
                    self.paused = false;
                    if self.read == ReadSide::Waiting {
                        self.set_read(ReadSide::Ready);
                    }
                }
                self.finish_if_flushed(core)
            }
        }
    }

    /// Once a closing connection has written everything, shuts down the write side and
    /// lingers, or goes at once if the peer already closed.
    fn finish_if_flushed(&mut self, core: &mut Core) -> Status {
        if let Phase::Lingering { .. } = self.phase {
            // The peer's EOF is what lingering waits for.
            return if self.read == ReadSide::Closed {
                Err(Gone)
            } else {
                Ok(())
            };
        }
        if self.phase != Phase::Closing
            || self.pending() > 0
            || (self.finishing_stream && self.want_drain)
        {
            // Output owed, or a stream not yet asked whether it has more.
            return Ok(());
        }
        if self.read == ReadSide::Closed {
            return Err(Gone);
        }
        if let Err(e) = self.socket.shutdown(Shutdown::Write) {
            debug!("{}: shutdown: {e}", self.peer);
            return Err(Gone);
        }
        self.phase = Phase::Lingering {
            until: core.now + core.limits.linger_timeout,
        };
        self.set_read(ReadSide::Ready);
        Ok(())
    }

    /// Registers WRITABLE interest only while a write is waiting for room, and puts the
    /// connection on the deferred list when its write budget ran out with output pending
    /// (the socket has room, so no WRITABLE event would come).
    fn update_interest(&mut self, core: &mut Core) {
        if self.write == WriteSide::Deferred {
            self.set_write(WriteSide::Ready);
            if self.pending() > 0 {
                core.deferred.push(self.token);
            }
        }
        let want_write = self.write == WriteSide::Blocked && self.pending() > 0;
        let interest = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if want_write != self.write_interest {
            if let Err(e) = core
                .registry
                .reregister(&mut self.socket, self.token, interest)
            {
                debug!("{}: reregister: {e}", self.peer);
            }
            self.write_interest = want_write;
        }
    }

    /// Hands the session a message from elsewhere (a broadcast), lets it write it in its own
    /// form (as is, encrypted, framed), and tries to send it.
    pub fn push(&mut self, bytes: &[u8], core: &mut Core) -> Status {
        self.unbudgeted = true;
        let flow = self.call(core, |s, cx| s.on_broadcast(bytes, cx));
        self.unbudgeted = false;
        let status = self.apply(flow, core);
        self.update_interest(core);
        status
    }

    /// Registers a freshly accepted socket.
    pub fn register(socket: &mut TcpStream, token: Token, registry: &Registry) -> io::Result<()> {
        registry.register(socket, token, Interest::READABLE)
    }
}

/// Where a callback's output goes (see `Conn::prepare_out`): the shared buffer when nothing is
/// pending, else after the connection's own pending bytes, of which `out_pos` are written.
fn output_for<'a>(
    before: Option<usize>,
    shared: &'a mut Vec<u8>,
    own: &'a mut Vec<u8>,
    out_pos: usize,
) -> (&'a mut Vec<u8>, usize) {
    match before {
        None => {
            debug_assert!(
                shared.is_empty(),
                "shared output left over between callbacks"
            );
            (shared, 0)
        }
        Some(_) => (own, out_pos),
    }
}

/// What a session callback returned, as far as the connection's output is concerned.
trait Outcome {
    /// Whether it aborts the connection, so that what it wrote must not be sent.
    fn aborts(&self) -> bool;
}

impl Outcome for Flow {
    fn aborts(&self) -> bool {
        *self == Flow::Abort
    }
}

/// A callback that cannot abort (`on_shutdown`).
impl Outcome for () {
    fn aborts(&self) -> bool {
        false
    }
}

impl Outcome for Step {
    fn aborts(&self) -> bool {
        self.flow == Flow::Abort
    }
}
