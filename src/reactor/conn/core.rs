//! The rules of one connection, without its socket: a sans-IO core, as quinn-proto's
//! `Connection` and smoltcp's sockets are.
//!
//! [`ConnCore`] owns every decision `conn.rs` used to make beside its syscalls: whether to
//! read and how much, when reading pauses for backpressure and when it resumes (the low-water
//! mark), when the memory budget holds a connection back, what the write budgets allow in
//! this turn, when a closing connection shuts its write side and lingers, which deadline is
//! next (one that trickling cannot stretch: the minimum-rate window), and how readily the
//! connection may be evicted at the connection limit. It takes events — readiness, bytes read
//! or written, `WouldBlock`, EOF, the time `now`, the turn's budgets — and answers with what to
//! do. It never calls the operating system, not even for the time, so every rule is unit-tested
//! below without a socket.
//!
//! ```text
//!  phase   Open ──Flow::Close──► Closing ──flushed──► Lingering { until } ──EOF/until──► gone
//!            └──server stops──► Finishing ──stream done──┘ (Closing)
//!  read    Reading(Waiting ⇄ Ready ─peer shut─► ToEof) ⇄ Paused(same) ;  EOF ─► Closed
//!  write   Ready ⇄ Blocked (short write / WRITABLE) ;  Ready ⇄ Deferred (budget) ;  ─► Broken
//!  memory  Free ⇄ HeldBack (over --max-memory / released under 7/8 of it)
//!  drain   Offered ⇄ Owed (output produced or written since the last on_drain)
//! ```
//!
//! Every state is one enum with one setter that logs the transition at trace level
//! (connection id, from, to, why), as smoltcp's `set_state` does.

use std::time::{Duration, Instant};

use log::trace;

use crate::config::Limits;
use crate::reactor::WriteBudget;
use crate::stats::{Counter, Stats};

/// How long a connection must have moved less than the minimum rate before it may be closed
/// to make room at the connection limit. Short, because until then a full server refuses
/// newcomers (a wave of trickling attackers would hold every slot for this long); long
/// enough that a client must have had a few round trips to show its rate (at the default
/// 512 B/s, 128 bytes).
pub(super) const STALLED_AFTER: Duration = Duration::from_millis(250);

/// Bytes any connection may write in a turn even when the turn's budget is spent.
const WRITE_FLOOR: usize = 16 * 1024;

/// The bytes one read of a connection that speaks to a room may make the reactor copy to
/// the room's members (read size times members): its reads shrink as the room grows, so one
/// callback stays short however many listen (1,000 members: reads of 1 KiB).
const FANOUT_PER_READ: usize = 1024 * 1024;
/// The smallest read of a connection that speaks to a room, however large the room.
const MIN_FANOUT_READ: usize = 512;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Input is read and fed to the session.
    Open,
    /// The server is stopping (the session did not choose to close): pending output is
    /// flushed, input discarded, and the session is still offered drains until it writes no
    /// more, so a streamed body is finished.
    Finishing,
    /// The session is done: pending output is flushed; input is read and discarded.
    Closing,
    /// Our write side is shut down; input is discarded until the peer closes or `until`.
    Lingering {
        /// When to give up waiting for the peer's EOF.
        until: Instant,
    },
}

/// What the socket's read side is known to hold. mio's events are edge-triggered, so
/// readiness is remembered here until a read says it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// The last read said `WouldBlock` (or came up short): wait for a READABLE event.
    Waiting,
    /// An event said readable: read until the socket is drained (a short read means it is).
    Ready,
    /// The peer shut its side (EPOLLRDHUP): read until the 0, never stop at a short read.
    ToEof,
}

impl Readiness {
    /// Readiness after something says "read": waiting becomes ready, the rest stays.
    fn woken(self) -> Readiness {
        match self {
            Readiness::Waiting => Readiness::Ready,
            r => r,
        }
    }
}

/// The read side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadSide {
    /// Read when ready.
    Reading(Readiness),
    /// Backpressure: output passed `max_output` (or the session holds a full input buffer
    /// while output drains); not read until output is down to `low_water`. Readiness is
    /// still remembered, for when reading resumes.
    Paused(Readiness),
    /// A read returned 0: the peer will send nothing more.
    Closed,
}

/// Whether the socket may take bytes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteSide {
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

/// The connection's standing with the reactor's memory budget (`Limits::max_memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Memory {
    /// Not waiting for the budget.
    Free,
    /// On the reactor's list of connections held back until the total comes down.
    HeldBack,
}

/// Whether the session is owed an `on_drain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Drain {
    /// Offered since the last output: nothing new to offer.
    Offered,
    /// The session produced output, or output was written, since it was last offered
    /// `on_drain`: a streaming session may have more to give.
    Owed,
}

/// Which write budget the current write is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charge {
    /// The connection's and the turn's (`Limits::write_budget`, `turn_write_budget`).
    Budget,
    /// None: a broadcast, so that a receiver over its output limit is one whose peer does
    /// not read, never one whose turn had come to an end.
    Broadcast,
}

/// The interest registered with the poller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registered {
    /// READABLE only.
    Read,
    /// READABLE and WRITABLE: a write is waiting for room.
    ReadWrite,
}

/// What to do before the next read (see [`ConnCore::plan_read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadPlan {
    /// Read at most this many bytes.
    Read(usize),
    /// The session holds a full input buffer while output drains: reading paused.
    Paused,
    /// The session holds a full input buffer and nothing is owed: it can never progress.
    Stuck,
}

/// What a read of `n` bytes means (see [`ConnCore::on_read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// Bytes arrived.
    Data,
    /// The peer closed its side.
    Eof,
}

/// What a closing connection does next (see [`ConnCore::flush_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Keep it: output is owed, a stream may have more, or it lingers.
    Keep,
    /// Everything is written and the peer is gone (or the linger is over): remove it.
    Gone,
    /// Everything is written: shut the write side down, then [`ConnCore::linger`].
    ShutWrite,
}

/// What the reactor must do about the connection's place in the loop (see
/// [`ConnCore::interest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interest {
    /// Put it on the deferred list: its write budget ran out with output pending.
    pub defer: bool,
    /// Re-register the socket with this interest.
    pub reregister: Option<Registered>,
}

/// How a progress window ended (see [`ConnCore::window_ended`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The peer moved enough: the next window has begun.
    KeptUp,
    /// Too slow, and nothing more we write would reach the peer: cut it off.
    CutOff,
    /// Too slow while a message trickled in: let the session answer (HTTP's 408), then close.
    Answer,
}

/// What the connection owes its peer or session right now, as the glue sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Owed {
    /// Output not yet written, a queued file included (`Conn::pending`).
    pub pending: usize,
    /// Part of a message waits unconsumed in the connection's input.
    pub partial: bool,
    /// The session says it is in the middle of a message (`Ctx::set_receiving`).
    pub receiving: bool,
    /// Bytes the session holds that only the peer can release (`Ctx::set_held_for_peer`):
    /// HTTP/2 answers waiting for the peer's flow-control window.
    pub held_for_peer: usize,
}

/// What a connection with a queued file sends next (see [`file_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileStep {
    /// The output appended before the file: this many bytes, with `MSG_MORE` (the file
    /// follows at once, so a response head may leave in the file's first segment).
    Ahead(usize),
    /// The file, with `sendfile`.
    File,
    /// Nothing now: the socket has no room; the file waits.
    Wait,
    /// The file is out: the output appended behind it goes now, and the queue is empty.
    Behind,
}

/// The order of a queued file between outputs: first the `ahead` bytes buffered before it,
/// then its `left` bytes, then whatever sessions appended meanwhile. A count of the bytes
/// ahead (`QueuedFile::ahead`) keeps that order whatever the buffers do.
pub(super) fn file_step(ahead: usize, left: u64, can_write: bool) -> FileStep {
    if ahead > 0 {
        FileStep::Ahead(ahead)
    } else if left == 0 {
        FileStep::Behind
    } else if can_write {
        FileStep::File
    } else {
        FileStep::Wait
    }
}

/// A period over which a connection that owes progress must move `min_rate` bytes a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    start: Instant,
    /// `ConnCore::moved` when the window began.
    moved: u64,
    /// `ConnCore::released` when the window began.
    released: u64,
}

/// The rules of one connection (see the module docs).
#[derive(Debug)]
pub(crate) struct ConnCore {
    /// Unique for the reactor's life, for the trace.
    id: u64,
    /// Its service lets it go when idle, to make room at the connection limit (HTTP).
    idle_disposable: bool,
    /// The most unconsumed input its session may leave.
    input_limit: usize,
    phase: Phase,
    read: ReadSide,
    write: WriteSide,
    memory: Memory,
    drain: Drain,
    charge: Charge,
    registered: Registered,
    /// How many connections heard its last broadcast (0: it never broadcast).
    fanout: usize,
    last_active: Instant,
    /// When it was accepted.
    opened: Instant,
    /// Bytes read and written since the connection opened.
    moved: u64,
    /// Bytes the session has let go of what it held for its peer (`Owed::held_for_peer`
    /// going down), and that figure when last seen.
    released: u64,
    held_for_peer: usize,
    bytes_in: u64,
    bytes_out: u64,
    /// Set while the connection owes progress (see `track_progress`).
    window: Option<Window>,
    /// Bytes this connection may still write in the turn `allowance_turn`.
    write_allowance: usize,
    allowance_turn: u64,
}

impl ConnCore {
    /// The rules of a connection accepted at `now`.
    pub(crate) fn new(
        id: u64,
        input_limit: usize,
        idle_disposable: bool,
        now: Instant,
    ) -> ConnCore {
        ConnCore {
            id,
            idle_disposable,
            input_limit,
            phase: Phase::Open,
            read: ReadSide::Reading(Readiness::Waiting),
            write: WriteSide::Ready,
            memory: Memory::Free,
            drain: Drain::Offered,
            charge: Charge::Budget,
            registered: Registered::Read,
            fanout: 0,
            last_active: now,
            opened: now,
            moved: 0,
            released: 0,
            held_for_peer: 0,
            bytes_in: 0,
            bytes_out: 0,
            window: None,
            write_allowance: 0,
            allowance_turn: u64::MAX,
        }
    }

    // ---- the setters: the one place each state changes, traced ----

    fn set_phase(&mut self, to: Phase, why: &str) {
        if self.phase != to {
            trace!("conn {}: phase {:?} -> {to:?} ({why})", self.id, self.phase);
            self.phase = to;
        }
    }

    fn set_read(&mut self, to: ReadSide, why: &str) {
        if self.read != to {
            trace!("conn {}: read {:?} -> {to:?} ({why})", self.id, self.read);
            self.read = to;
        }
    }

    /// A broken socket stays broken.
    fn set_write(&mut self, to: WriteSide, why: &str) {
        if self.write != to && self.write != WriteSide::Broken {
            trace!("conn {}: write {:?} -> {to:?} ({why})", self.id, self.write);
            self.write = to;
        }
    }

    fn set_memory(&mut self, to: Memory, why: &str) {
        if self.memory != to {
            trace!(
                "conn {}: memory {:?} -> {to:?} ({why})",
                self.id, self.memory
            );
            self.memory = to;
        }
    }

    fn set_drain(&mut self, to: Drain, why: &str) {
        if self.drain != to {
            trace!("conn {}: drain {:?} -> {to:?} ({why})", self.id, self.drain);
            self.drain = to;
        }
    }

    /// Charges what is written until the next call to `to` (a broadcast is not budgeted).
    pub(crate) fn set_charge(&mut self, to: Charge, why: &str) {
        if self.charge != to {
            trace!(
                "conn {}: charge {:?} -> {to:?} ({why})",
                self.id, self.charge
            );
            self.charge = to;
        }
    }

    fn set_registered(&mut self, to: Registered, why: &str) {
        if self.registered != to {
            trace!(
                "conn {}: interest {:?} -> {to:?} ({why})",
                self.id, self.registered
            );
            self.registered = to;
        }
    }

    // ---- what the glue reads ----

    /// The connection's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Where it is in its life.
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Its read side.
    pub(crate) fn read_side(&self) -> ReadSide {
        self.read
    }

    /// Its write side.
    pub(crate) fn write_side(&self) -> WriteSide {
        self.write
    }

    /// Its standing with the memory budget.
    pub(crate) fn memory(&self) -> Memory {
        self.memory
    }

    /// Input is fed to the session (and broadcasts are accepted).
    pub(crate) fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// The session is owed an `on_drain`.
    pub(crate) fn drain_owed(&self) -> bool {
        self.drain == Drain::Owed
    }

    /// A write failed: the connection must go.
    pub(crate) fn is_broken(&self) -> bool {
        self.write == WriteSide::Broken
    }

    /// Whether a write may be tried now (a spent budget is checked by the write itself).
    pub(crate) fn can_write(&self) -> bool {
        matches!(self.write, WriteSide::Ready | WriteSide::Deferred)
    }

    /// Whether the session holds as much unconsumed input (`input_len`) as it may.
    pub(crate) fn input_full(&self, input_len: usize) -> bool {
        self.phase == Phase::Open && input_len >= self.input_limit
    }

    /// When it was accepted, last moved a byte, and the bytes it read and wrote.
    pub(crate) fn activity(&self) -> (Instant, Instant, u64, u64) {
        (self.opened, self.last_active, self.bytes_in, self.bytes_out)
    }

    // ---- events from the socket ----

    /// Opened (`on_open` is next): data may have arrived before the socket was registered,
    /// so it is read as if an event had said so.
    pub(crate) fn open(&mut self, now: Instant) {
        self.set_read(ReadSide::Reading(Readiness::Ready), "opened");
        self.last_active = now;
    }

    /// A readiness event: `readable` (readable or an error: the read will tell), the peer
    /// shut its side (`read_closed`), the socket has room (`writable`, or an error).
    pub(crate) fn on_event(&mut self, readable: bool, read_closed: bool, writable: bool) {
        let wake = |r: Readiness| match r {
            _ if read_closed => Readiness::ToEof,
            r if readable => r.woken(),
            r => r,
        };
        match self.read {
            ReadSide::Reading(r) => self.set_read(ReadSide::Reading(wake(r)), "event"),
            ReadSide::Paused(r) => self.set_read(ReadSide::Paused(wake(r)), "event"),
            ReadSide::Closed => {}
        }
        if writable && self.write == WriteSide::Blocked {
            self.set_write(WriteSide::Ready, "writable");
        }
    }

    /// Whether the next read may be tried (ready, and not paused).
    pub(crate) fn wants_read(&self) -> bool {
        matches!(
            self.read,
            ReadSide::Reading(Readiness::Ready | Readiness::ToEof)
        )
    }

    /// How much the next read may take: what the session's input limit leaves (nothing
    /// limits a closing connection, whose input is discarded), at most `buf` (the shared read
    /// buffer), less for one speaking to a large room. With a full input buffer, reading
    /// pauses while output is owed; with nothing owed, the session can never progress.
    pub(crate) fn plan_read(
        &mut self,
        input_len: usize,
        buf: usize,
        owed: Owed,
        stats: &Stats,
    ) -> ReadPlan {
        let room = match self.phase {
            Phase::Open => self.input_limit.saturating_sub(input_len),
            _ => usize::MAX,
        }
        .min(buf)
        .min(self.read_cap());
        if room > 0 {
            return ReadPlan::Read(room);
        }
        if owed.pending == 0 && !self.drain_owed() {
            return ReadPlan::Stuck;
        }
        self.pause(stats, "input buffer full while output drains");
        ReadPlan::Paused
    }

    /// A read of at most `asked` bytes returned `n`. A short read means the socket is drained
    /// (on Linux; tokio takes the same shortcut), unless the peer shut its side, which must be
    /// read to the 0.
    pub(crate) fn on_read(&mut self, n: usize, asked: usize, now: Instant, stats: &Stats) -> Read {
        // Input a closing connection discards is no progress: what it waits for is the peer
        // reading its last answer. Counted, a peer that floods without reading (an HTTP/2
        // PING flood after our GOAWAY) would keep it open, and us reading, for ever.
        if !matches!(self.phase, Phase::Closing) {
            self.last_active = now;
            self.moved += n as u64;
        }
        self.bytes_in += n as u64;
        if n == 0 {
            self.set_read(ReadSide::Closed, "read 0");
            return Read::Eof;
        }
        stats.bytes_in.add(n as u64);
        if n < asked && self.read == ReadSide::Reading(Readiness::Ready) {
            self.set_read(ReadSide::Reading(Readiness::Waiting), "short read");
        }
        Read::Data
    }

    /// A read said `WouldBlock`: wait for the next READABLE.
    pub(crate) fn on_read_would_block(&mut self, stats: &Stats) {
        stats.reads_would_block.incr();
        self.set_read(ReadSide::Reading(Readiness::Waiting), "read would block");
    }

    // ---- backpressure ----

    fn pause(&mut self, stats: &Stats, why: &str) {
        if let ReadSide::Reading(r) = self.read {
            stats.read_pauses.incr();
            self.set_read(ReadSide::Paused(r), why);
        }
    }

    fn resume(&mut self, stats: &Stats, why: &str) {
        if let ReadSide::Paused(r) = self.read {
            stats.read_resumes.incr();
            self.set_read(ReadSide::Reading(r), why);
        }
    }

    /// After a write: pauses reading while more than `max_output` is buffered, resumes it once
    /// the output is down to `low_water` and the session's input buffer has room again.
    pub(crate) fn backpressure(
        &mut self,
        buffered: usize,
        input_len: usize,
        limits: &Limits,
        stats: &Stats,
    ) {
        match self.read {
            ReadSide::Reading(_) if buffered > limits.max_output => {
                self.pause(stats, "output over max_output")
            }
            ReadSide::Paused(_) if buffered <= limits.low_water && !self.input_full(input_len) => {
                self.resume(stats, "output at the low-water mark")
            }
            _ => {}
        }
    }

    /// The session consumed input it had left waiting: its input buffer has room again.
    pub(crate) fn input_consumed(&mut self, stats: &Stats) {
        self.resume(stats, "input consumed");
    }

    /// After a drain offer: resumes reading once the output is down to `low_water`.
    pub(crate) fn drained_to(&mut self, buffered: usize, low_water: usize, stats: &Stats) {
        if buffered <= low_water {
            self.resume(stats, "drained to the low-water mark");
        }
    }

    // ---- the memory budget ----

    /// Moves a server-wide gauge (`buffered_out`, `buffered_in`, `session_buffered`) by the
    /// change from `accounted`, the bytes of this connection it counts, to `now`.
    pub(crate) fn settle(gauge: &Counter, accounted: &mut usize, now: usize) {
        if now > *accounted {
            gauge.add((now - *accounted) as u64);
        } else {
            gauge.sub((*accounted - now) as u64);
        }
        *accounted = now;
    }

    /// Whether a connection holds bytes in memory, for the budget: output its peer has not
    /// read (`buffered`), part of a message (`input`), or what its session says it holds in
    /// buffers of its own (`session`, `Ctx::set_held`).
    pub(crate) fn holds(buffered: usize, input: usize, session: usize) -> bool {
        buffered > 0 || input > 0 || session > 0
    }

    /// Whether the memory budget holds the connection back: over the budget (`tight`), one
    /// that holds bytes (`holds`), or whose words fill its room's buffers, takes no more.
    pub(crate) fn held_back(&self, holds: bool, tight: bool) -> bool {
        self.phase == Phase::Open && (holds || self.fanout > 0) && tight
    }

    /// Holds it back. Returns whether it was free until now: then the reactor must put it on
    /// its list (once).
    pub(crate) fn hold_back(&mut self, stats: &Stats) -> bool {
        if self.memory == Memory::HeldBack {
            return false;
        }
        stats.memory_waits.incr();
        self.set_memory(Memory::HeldBack, "over the memory budget");
        true
    }

    /// Takes it off the memory budget's list. Returns whether it was held back: a token left
    /// on the list by a connection since closed may name a newer one in the same slot.
    pub(crate) fn release(&mut self) -> bool {
        let held = self.memory == Memory::HeldBack;
        self.set_memory(Memory::Free, "released under the memory budget");
        held
    }

    // ---- rooms ----

    /// Records how many connections heard its broadcast, which bounds its next reads.
    pub(crate) fn note_fanout(&mut self, receivers: usize) {
        self.fanout = receivers;
    }

    /// Whether its next read would make its room hear more than this turn has left
    /// (`fanout_left` deliveries, at most `turn_fanout` a turn): it speaks next turn.
    pub(crate) fn must_wait_to_speak(&self, turn_fanout: usize, fanout_left: usize) -> bool {
        self.fanout.min(turn_fanout) > fanout_left
    }

    /// The most one read may take: less for a connection speaking to a large room.
    fn read_cap(&self) -> usize {
        match FANOUT_PER_READ.checked_div(self.fanout) {
            Some(cap) => cap.max(MIN_FANOUT_READ),
            None => usize::MAX,
        }
    }

    // ---- writing ----

    /// The session produced output, or output was written: offer it a drain.
    pub(crate) fn produced(&mut self) {
        self.set_drain(Drain::Owed, "output");
    }

    /// Whether to offer the session `on_drain` now: owed one, still producing (open, or
    /// finishing a stream at a stop), and the peer has read its output down to `low_water`.
    pub(crate) fn drain_due(&self, pending: usize, low_water: usize) -> bool {
        self.drain == Drain::Owed
            && matches!(self.phase, Phase::Open | Phase::Finishing)
            && pending <= low_water
    }

    /// `on_drain` is being offered. A session finishing a stream at a stop that does not
    /// answer `Continue` is done with it: plain closing from now on.
    pub(crate) fn offer_drain(&mut self) {
        self.set_drain(Drain::Offered, "on_drain offered");
    }

    /// The drain offer answered `continued` (`Flow::Continue`) or not.
    pub(crate) fn drain_answered(&mut self, continued: bool) {
        if !continued && self.phase == Phase::Finishing {
            self.set_phase(Phase::Closing, "stream finished");
        }
    }

    /// How many bytes the next write may take, within the write budgets (the connection's
    /// for this turn, the turn's for every connection, with a small floor so that a short
    /// answer never waits behind a thousand downloads). 0: the budget is spent, and the
    /// connection waits on the deferred list (no WRITABLE would come).
    pub(crate) fn write_allowed(&mut self, budget: &WriteBudget) -> usize {
        if self.allowance_turn != budget.turn {
            self.allowance_turn = budget.turn;
            self.write_allowance = budget.per_conn;
        }
        let floor = WRITE_FLOOR.saturating_sub(budget.per_conn - self.write_allowance);
        let allowed = match self.charge {
            Charge::Broadcast => usize::MAX,
            Charge::Budget => self.write_allowance.min(budget.left.max(floor)),
        };
        if allowed == 0 {
            self.set_write(WriteSide::Deferred, "write budget spent");
        }
        allowed
    }

    /// A write of at most `asked` bytes took `n` (> 0). Returns whether to write on: a short
    /// write means the send buffer is full, so it waits for WRITABLE rather than spend a
    /// syscall to hear `WouldBlock`.
    pub(crate) fn on_written(
        &mut self,
        n: usize,
        asked: usize,
        budget: &mut WriteBudget,
        now: Instant,
        stats: &Stats,
    ) -> bool {
        self.write_allowance = self.write_allowance.saturating_sub(n);
        budget.left = budget.left.saturating_sub(n);
        self.moved += n as u64;
        self.bytes_out += n as u64;
        // Output drained: a streaming session must be asked again for more, even if it
        // declined last time (it may have been just over its own mark).
        self.produced();
        self.last_active = now;
        stats.bytes_out.add(n as u64);
        if n < asked {
            stats.short_writes.incr();
            self.set_write(WriteSide::Blocked, "short write");
            return false;
        }
        true
    }

    /// A write said `WouldBlock`: wait for WRITABLE.
    pub(crate) fn on_write_would_block(&mut self, stats: &Stats) {
        stats.short_writes.incr();
        self.set_write(WriteSide::Blocked, "write would block");
    }

    /// A write failed (reset, broken pipe).
    pub(crate) fn on_write_error(&mut self) {
        self.set_write(WriteSide::Broken, "write failed");
    }

    /// After the connection was driven: WRITABLE interest only while a write waits for room,
    /// and the deferred list when the budget ran out with output `pending`.
    pub(crate) fn interest(&mut self, pending: usize) -> Interest {
        let mut defer = false;
        if self.write == WriteSide::Deferred {
            self.set_write(WriteSide::Ready, "next turn");
            defer = pending > 0;
        }
        let want = if self.write == WriteSide::Blocked && pending > 0 {
            Registered::ReadWrite
        } else {
            Registered::Read
        };
        let reregister = (want != self.registered).then(|| {
            self.set_registered(want, "output waits for room, or no longer");
            want
        });
        Interest { defer, reregister }
    }

    // ---- closing ----

    /// The session closes (`Flow::Close`). Returns whether it was open: its unconsumed input
    /// is then dropped. Input is now read and discarded, so reading resumes at once.
    pub(crate) fn close(&mut self) -> bool {
        self.stop_serving(Phase::Closing, "session closed")
    }

    /// The server is stopping: like [`ConnCore::close`], but the session is still offered
    /// drains until it has written its stream to the end.
    pub(crate) fn finish(&mut self) -> bool {
        self.stop_serving(Phase::Finishing, "server stopping")
    }

    fn stop_serving(&mut self, to: Phase, why: &str) -> bool {
        if self.phase != Phase::Open {
            return false;
        }
        self.set_phase(to, why);
        match self.read {
            ReadSide::Reading(r) | ReadSide::Paused(r) => {
                self.set_read(ReadSide::Reading(r.woken()), "input is discarded now")
            }
            ReadSide::Closed => {}
        }
        true
    }

    /// What a closing connection with `pending` output does next.
    pub(crate) fn flush_state(&self, pending: usize) -> Flush {
        match self.phase {
            Phase::Open => Flush::Keep,
            // The peer's EOF is what lingering waits for.
            Phase::Lingering { .. } if self.read == ReadSide::Closed => Flush::Gone,
            Phase::Lingering { .. } => Flush::Keep,
            // Output owed, or a stream not yet asked whether it has more.
            _ if pending > 0 => Flush::Keep,
            Phase::Finishing if self.drain_owed() => Flush::Keep,
            _ if self.read == ReadSide::Closed => Flush::Gone,
            _ => Flush::ShutWrite,
        }
    }

    /// The write side is shut down: read and discard until the peer's EOF or `until`.
    pub(crate) fn linger(&mut self, until: Instant) {
        self.set_phase(Phase::Lingering { until }, "flushed");
        if let ReadSide::Reading(r) | ReadSide::Paused(r) = self.read {
            self.set_read(ReadSide::Reading(r.woken()), "lingering");
        }
    }

    // ---- deadlines and progress ----

    /// When this connection next needs attention if nothing happens: the idle timeout since
    /// it last moved, the session's own deadline (`own`) while open, the linger's end, and
    /// the end of its progress window.
    pub(crate) fn deadline(&self, own: Option<Instant>, limits: &Limits) -> Instant {
        let idle = self.last_active + limits.idle_timeout;
        let next = match self.phase {
            Phase::Open => own.map_or(idle, |d| d.min(idle)),
            Phase::Finishing | Phase::Closing => idle,
            Phase::Lingering { until } => until,
        };
        match self.window {
            Some(w) => next.min(w.start + limits.rate_window),
            None => next,
        }
    }

    /// Whether the connection is waiting on its peer in the middle of something: a partial
    /// message, a message its session is receiving, or output the peer has not read.
    pub(crate) fn owes_progress(&self, owed: Owed) -> bool {
        match self.phase {
            Phase::Open => {
                owed.partial || owed.receiving || owed.pending > 0 || owed.held_for_peer > 0
            }
            Phase::Finishing | Phase::Closing => owed.pending > 0 || owed.held_for_peer > 0,
            Phase::Lingering { .. } => false,
        }
    }

    /// Opens a progress window when the connection starts owing progress, and closes it when
    /// it no longer does. Called after every time the connection was driven. The window is
    /// not restarted by a byte: that is what makes it a deadline trickling cannot stretch.
    pub(crate) fn track_progress(&mut self, owed: Owed, min_rate: u64, now: Instant) {
        if min_rate == 0 || !self.owes_progress(owed) {
            self.window = None;
        } else if self.window.is_none() {
            self.window = Some(Window {
                start: now,
                moved: self.moved,
                released: self.released,
            });
        }
    }

    /// Notes what the session now holds for its peer; what it let go of since counts as
    /// the peer's progress when nothing else is owed (see [`ConnCore::window_ended`]).
    #[inline]
    pub(crate) fn note_held_for_peer(&mut self, held: usize) {
        self.released += self.held_for_peer.saturating_sub(held) as u64;
        self.held_for_peer = held;
    }

    /// Whether the deadline that passed is the end of the progress window.
    pub(crate) fn window_over(&self, now: Instant, rate_window: Duration) -> bool {
        self.window.is_some_and(|w| now >= w.start + rate_window)
    }

    /// The progress window is over: the next one begins if the peer moved `min_rate` bytes a
    /// second, else it is too slow (`too_slow` counts it). One with output pending, or no
    /// longer open, is cut off (it is not reading); one with a message trickling in, or
    /// answers held for its window, is answered first (HTTP's 408, HTTP/2's GOAWAY).
    ///
    /// What counts as moving: bytes read and written, except when all the connection owes
    /// is what its session holds for the peer. Then only the bytes the peer let go count
    /// (`note_held_for_peer`): an HTTP/2 peer that keeps its window shut and sends PINGs
    /// reads and writes bytes, but takes none of its answers.
    pub(crate) fn window_ended(
        &mut self,
        owed: Owed,
        now: Instant,
        limits: &Limits,
        stats: &Stats,
    ) -> Verdict {
        let Some(w) = self.window else {
            return Verdict::KeptUp;
        };
        let only_held =
            owed.held_for_peer > 0 && !owed.partial && !owed.receiving && owed.pending == 0;
        let moved = if only_held {
            self.released - w.released
        } else {
            self.moved - w.moved
        };
        let needed = limits
            .min_rate
            .saturating_mul(limits.rate_window.as_secs().max(1));
        if moved >= needed {
            self.window = Some(Window {
                start: now,
                moved: self.moved,
                released: self.released,
            });
            return Verdict::KeptUp;
        }
        trace!(
            "conn {}: too slow: {moved} bytes in {:?}, {needed} needed",
            self.id, limits.rate_window
        );
        stats.too_slow.incr();
        self.window = None;
        if self.phase != Phase::Open || owed.pending > 0 {
            Verdict::CutOff
        } else {
            Verdict::Answer
        }
    }

    /// Open, owing nothing, and of a service that lets idle connections go (HTTP keep-alive).
    fn is_idle(&self, owed: Owed) -> bool {
        self.idle_disposable && self.phase == Phase::Open && !self.owes_progress(owed)
    }

    /// Whether this connection may be closed to make room for a new one, and how readily:
    /// lower ranks go first. One already lingering, or an idle one its service lets go (a
    /// keep-alive connection between requests) that has been idle for [`STALLED_AFTER`],
    /// ranks 0, by how long it has been idle; one that has stalled below the minimum rate for
    /// at least [`STALLED_AFTER`] ranks 1, by how long it has been stalling. Anything making
    /// progress is never chosen.
    pub(crate) fn eviction_rank(
        &self,
        owed: Owed,
        now: Instant,
        min_rate: u64,
    ) -> Option<(u8, Instant)> {
        if matches!(self.phase, Phase::Lingering { .. }) {
            return Some((0, self.last_active));
        }
        if self.is_idle(owed) {
            // Not at once: a client just accepted, whose request is still on its way, or one
            // between two requests it is about to send, is not done with the connection.
            let idle = now.saturating_duration_since(self.last_active);
            return (idle >= STALLED_AFTER).then_some((0, self.last_active));
        }
        let w = self.window?;
        let elapsed = now.saturating_duration_since(w.start);
        let expected = min_rate as f64 * elapsed.as_secs_f64();
        let stalling = elapsed >= STALLED_AFTER && ((self.moved - w.moved) as f64) < expected;
        stalling.then_some((1, w.start))
    }

    /// When this connection will rank for eviction if nothing changes: for an idle one its
    /// service lets go, [`STALLED_AFTER`] after it went idle; for one owing progress, the end
    /// of its first [`STALLED_AFTER`], if it has moved less than the minimum rate asks for that
    /// long. `None` if it is already ranked, making progress, or owes nothing.
    pub(crate) fn evictable_at(&self, owed: Owed, now: Instant, min_rate: u64) -> Option<Instant> {
        if self.is_idle(owed) {
            let at = self.last_active + STALLED_AFTER;
            return (now < at).then_some(at);
        }
        let w = self.window?;
        let at = w.start + STALLED_AFTER;
        let expected = min_rate as f64 * STALLED_AFTER.as_secs_f64();
        (now < at && ((self.moved - w.moved) as f64) < expected).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    //! Every state and transition of [`ConnCore`], driven by hand: no socket, no clock.

    use super::*;

    const ID: u64 = 7;
    const INPUT_LIMIT: usize = 1000;

    fn limits() -> Limits {
        Limits {
            max_output: 1000,
            low_water: 250,
            write_budget: 64 * 1024,
            turn_write_budget: 100 * 1024,
            min_rate: 100,
            rate_window: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ..Limits::default()
        }
    }

    /// A connection opened at `t0`, its first read ahead.
    fn opened(t0: Instant) -> ConnCore {
        let mut c = ConnCore::new(ID, INPUT_LIMIT, false, t0);
        c.open(t0);
        c
    }

    fn nothing_owed() -> Owed {
        Owed::default()
    }

    fn pending(n: usize) -> Owed {
        Owed {
            pending: n,
            ..Owed::default()
        }
    }

    fn budget(l: &Limits) -> WriteBudget {
        WriteBudget::new(l)
    }

    // ---- the read side ----

    #[test]
    fn a_new_connection_waits_until_opened_then_reads() {
        let t0 = Instant::now();
        let c = ConnCore::new(ID, INPUT_LIMIT, false, t0);
        assert_eq!(c.read_side(), ReadSide::Reading(Readiness::Waiting));
        assert!(!c.wants_read());
        let c = opened(t0);
        assert_eq!(c.read_side(), ReadSide::Reading(Readiness::Ready));
        assert!(c.wants_read());
        assert_eq!(c.phase(), Phase::Open);
        assert_eq!(c.write_side(), WriteSide::Ready);
        assert_eq!(c.memory(), Memory::Free);
        assert!(!c.drain_owed());
    }

    #[test]
    fn a_short_read_means_drained_a_full_one_reads_on() {
        let t0 = Instant::now();
        let stats = Stats::default();
        let mut c = opened(t0);
        assert_eq!(c.on_read(100, 100, t0, &stats), Read::Data);
        assert_eq!(c.read_side(), ReadSide::Reading(Readiness::Ready));
        assert_eq!(c.on_read(10, 100, t0, &stats), Read::Data);
        assert_eq!(c.read_side(), ReadSide::Reading(Readiness::Waiting));
        assert_eq!(stats.bytes_in.get(), 110);
        assert_eq!(c.activity().2, 110);
    }

    #[test]
    fn would_block_waits_for_the_next_event_and_an_event_wakes_it() {
        let t0 = Instant::now();
        let stats = Stats::default();
        let mut c = opened(t0);
        c.on_read_would_block(&stats);
        assert_eq!(stats.reads_would_block.get(), 1);
        assert!(!c.wants_read());
        c.on_event(false, false, true);
        assert!(!c.wants_read(), "a writable event says nothing of reading");
        c.on_event(true, false, false);
        assert_eq!(c.read_side(), ReadSide::Reading(Readiness::Ready));
    }

    #[test]
    fn a_peer_that_shut_its_side_is_read_to_the_zero_past_short_reads() {
        let t0 = Instant::now();
        let stats = Stats::default();
        let mut c = opened(t0);
        c.on_read_would_block(&stats);
        c.on_event(false, true, false);
        assert_eq!(c.read_side(), ReadSide::Reading(Readiness::ToEof));
        assert_eq!(c.on_read(10, 100, t0, &stats), Read::Data);
        assert!(c.wants_read(), "a short read does not end reading to EOF");
        assert_eq!(c.on_read(0, 100, t0, &stats), Read::Eof);
        assert_eq!(c.read_side(), ReadSide::Closed);
        assert!(!c.wants_read());
        c.on_event(true, true, false);
        assert_eq!(c.read_side(), ReadSide::Closed, "EOF is final");
    }

    #[test]
    fn backpressure_pauses_over_max_output_and_resumes_at_the_low_water_mark() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut c = opened(t0);
        c.backpressure(l.max_output, 0, &l, &stats);
        assert!(c.wants_read(), "at the limit is not over it");
        c.backpressure(l.max_output + 1, 0, &l, &stats);
        assert_eq!(c.read_side(), ReadSide::Paused(Readiness::Ready));
        assert!(!c.wants_read());
        c.backpressure(l.max_output + 500, 0, &l, &stats);
        assert_eq!(stats.read_pauses.get(), 1, "a pause is counted once");
        c.backpressure(l.low_water + 1, 0, &l, &stats);
        assert!(!c.wants_read(), "above the low-water mark it stays paused");
        c.backpressure(l.low_water, 0, &l, &stats);
        assert_eq!(c.read_side(), ReadSide::Reading(Readiness::Ready));
        assert_eq!(stats.read_resumes.get(), 1);
    }

    #[test]
    fn a_paused_read_side_remembers_readiness_for_when_it_resumes() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut c = opened(t0);
        c.on_read_would_block(&stats);
        c.backpressure(l.max_output + 1, 0, &l, &stats);
        assert_eq!(c.read_side(), ReadSide::Paused(Readiness::Waiting));
        c.on_event(true, false, false);
        assert_eq!(c.read_side(), ReadSide::Paused(Readiness::Ready));
        c.on_event(false, true, false);
        assert_eq!(c.read_side(), ReadSide::Paused(Readiness::ToEof));
        c.drained_to(0, l.low_water, &stats);
        assert_eq!(c.read_side(), ReadSide::Reading(Readiness::ToEof));
    }

    #[test]
    fn a_full_input_buffer_pauses_while_output_drains_and_is_stuck_without_it() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut c = opened(t0);
        assert_eq!(
            c.plan_read(INPUT_LIMIT - 1, 65536, nothing_owed(), &stats),
            ReadPlan::Read(1)
        );
        assert_eq!(
            c.plan_read(INPUT_LIMIT, 65536, nothing_owed(), &stats),
            ReadPlan::Stuck
        );
        assert_eq!(
            c.plan_read(INPUT_LIMIT, 65536, pending(10), &stats),
            ReadPlan::Paused
        );
        assert_eq!(stats.read_pauses.get(), 1);
        // Output drained, but the input buffer is still full: it stays paused...
        c.backpressure(0, INPUT_LIMIT, &l, &stats);
        assert!(!c.wants_read());
        // ...until the session consumes what it held.
        c.input_consumed(&stats);
        assert!(c.wants_read());
        assert_eq!(stats.read_resumes.get(), 1);
        // A drain offered output owed the same way as pending output.
        c.produced();
        assert_eq!(
            c.plan_read(INPUT_LIMIT, 65536, nothing_owed(), &stats),
            ReadPlan::Paused
        );
    }

    #[test]
    fn reads_are_capped_by_the_shared_buffer_and_the_room_a_speaker_fills() {
        let t0 = Instant::now();
        let stats = Stats::default();
        let mut c = ConnCore::new(ID, usize::MAX, false, t0);
        c.open(t0);
        assert_eq!(
            c.plan_read(0, 65536, nothing_owed(), &stats),
            ReadPlan::Read(65536)
        );
        c.note_fanout(1000);
        assert_eq!(
            c.plan_read(0, 65536, nothing_owed(), &stats),
            ReadPlan::Read(1048)
        );
        c.note_fanout(1_000_000);
        assert_eq!(
            c.plan_read(0, 65536, nothing_owed(), &stats),
            ReadPlan::Read(512)
        );
        assert!(
            c.must_wait_to_speak(2048, 2047),
            "the turn has too few deliveries left"
        );
        assert!(
            !c.must_wait_to_speak(2048, 2048),
            "one turn's deliveries suffice"
        );
    }

    #[test]
    fn a_closing_connection_reads_and_discards_whatever_its_input_limit() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut c = opened(t0);
        c.on_read_would_block(&stats);
        c.backpressure(l.max_output + 1, 0, &l, &stats);
        assert!(c.close(), "it was open");
        assert_eq!(c.phase(), Phase::Closing);
        assert_eq!(
            c.read_side(),
            ReadSide::Reading(Readiness::Ready),
            "unpaused, and read at once: the input is discarded now"
        );
        assert_eq!(
            c.plan_read(INPUT_LIMIT * 5, 4096, nothing_owed(), &stats),
            ReadPlan::Read(4096)
        );
        assert!(!c.close(), "closing twice changes nothing");
        assert!(!c.is_open());
    }

    #[test]
    fn eof_with_a_partial_message_owes_the_session_an_answer_then_goes() {
        let t0 = Instant::now();
        let stats = Stats::default();
        let mut c = opened(t0);
        c.on_read(5, 100, t0, &stats);
        let partial = Owed {
            partial: true,
            ..Owed::default()
        };
        assert!(c.owes_progress(partial));
        assert_eq!(c.on_read(0, 100, t0, &stats), Read::Eof);
        // The session heard on_eof with its partial message and answers, then closes.
        assert!(c.is_open(), "EOF alone does not close: the session decides");
        c.close();
        assert_eq!(c.flush_state(20), Flush::Keep, "its answer is still owed");
        assert_eq!(
            c.flush_state(0),
            Flush::Gone,
            "written, and the peer is gone"
        );
    }

    // ---- the write side ----

    #[test]
    fn a_short_write_blocks_until_writable_with_interest_registered_once() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut b = budget(&l);
        let mut c = opened(t0);
        let allowed = c.write_allowed(&b);
        assert!(!c.on_written(100, 200, &mut b, t0, &stats));
        assert_eq!(allowed, l.write_budget);
        assert_eq!(c.write_side(), WriteSide::Blocked);
        assert!(!c.can_write());
        assert_eq!(stats.short_writes.get(), 1);
        assert_eq!(
            c.interest(100),
            Interest {
                defer: false,
                reregister: Some(Registered::ReadWrite)
            }
        );
        assert_eq!(c.interest(100).reregister, None, "registered once");
        c.on_event(false, false, true);
        assert_eq!(c.write_side(), WriteSide::Ready);
        assert_eq!(c.interest(100).reregister, Some(Registered::Read));
        // WouldBlock is a short write of nothing.
        c.on_write_would_block(&stats);
        assert_eq!(c.write_side(), WriteSide::Blocked);
        assert_eq!(
            c.interest(0).reregister,
            None,
            "nothing pending: no WRITABLE"
        );
    }

    #[test]
    fn a_broken_write_side_stays_broken() {
        let t0 = Instant::now();
        let mut c = opened(t0);
        c.on_write_error();
        assert!(c.is_broken());
        c.on_event(true, false, true);
        c.on_write_would_block(&Stats::default());
        assert_eq!(c.write_side(), WriteSide::Broken);
        assert!(!c.can_write());
    }

    #[test]
    fn a_connection_writes_its_budget_per_turn_then_waits_on_the_deferred_list() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut b = budget(&l);
        let mut c = opened(t0);
        let n = c.write_allowed(&b);
        assert!(c.on_written(n, n, &mut b, t0, &stats));
        assert_eq!(c.write_allowed(&b), 0);
        assert_eq!(c.write_side(), WriteSide::Deferred);
        assert!(c.can_write(), "the socket has room: no WRITABLE will come");
        let wants = c.interest(10);
        assert!(
            wants.defer,
            "output pending: the deferred list brings it back"
        );
        assert_eq!(wants.reregister, None);
        assert_eq!(c.write_side(), WriteSide::Ready);
        b.next_turn(&l);
        assert_eq!(
            c.write_allowed(&b),
            l.write_budget,
            "a new turn, a new allowance"
        );
    }

    #[test]
    fn a_turn_budget_exhausted_mid_pipeline_leaves_each_connection_its_floor() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut b = budget(&l);
        let mut big = opened(t0);
        let mut small = opened(t0);
        // One connection spends the turn's budget (over two writes: its own budget first).
        let n = big.write_allowed(&b);
        big.on_written(n, n, &mut b, t0, &stats);
        assert_eq!(big.write_allowed(&b), 0);
        b.left = 0;
        // A pipelined answer of another still gets WRITE_FLOOR out this turn...
        assert_eq!(small.write_allowed(&b), WRITE_FLOOR);
        small.on_written(4096, 4096, &mut b, t0, &stats);
        assert_eq!(small.write_allowed(&b), WRITE_FLOOR - 4096);
        small.on_written(WRITE_FLOOR - 4096, WRITE_FLOOR - 4096, &mut b, t0, &stats);
        // ...and the rest waits for the next.
        assert_eq!(small.write_allowed(&b), 0);
        assert!(small.interest(1).defer);
        assert!(!small.interest(1).defer, "deferred once per spent budget");
        b.next_turn(&l);
        assert_eq!(small.write_allowed(&b), l.write_budget);
    }

    #[test]
    fn a_broadcast_is_written_outside_the_budget() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut b = budget(&l);
        let mut c = opened(t0);
        let n = c.write_allowed(&b);
        c.on_written(n, n, &mut b, t0, &stats);
        b.left = 0;
        c.set_charge(Charge::Broadcast, "test");
        assert_eq!(c.write_allowed(&b), usize::MAX);
        c.set_charge(Charge::Budget, "test");
        assert_eq!(c.write_allowed(&b), 0);
    }

    // ---- drains ----

    #[test]
    fn a_drain_is_offered_once_output_moved_and_the_peer_read_to_the_low_water_mark() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut b = budget(&l);
        let mut c = opened(t0);
        assert!(
            !c.drain_due(0, l.low_water),
            "nothing produced, nothing to offer"
        );
        c.produced();
        assert!(!c.drain_due(l.low_water + 1, l.low_water));
        assert!(c.drain_due(l.low_water, l.low_water));
        c.offer_drain();
        assert!(!c.drain_due(0, l.low_water), "offered once");
        c.write_allowed(&b);
        c.on_written(10, 10, &mut b, t0, &stats);
        assert!(c.drain_due(0, l.low_water), "output written: ask again");
        c.close();
        assert!(
            !c.drain_due(0, l.low_water),
            "a closing session is not asked"
        );
    }

    #[test]
    fn a_short_write_during_a_drain_at_a_stop_keeps_the_stream_until_it_is_done() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut b = budget(&l);
        let mut c = opened(t0);
        assert!(c.finish(), "the server stops while the session streams");
        assert_eq!(c.phase(), Phase::Finishing);
        c.produced();
        assert!(
            c.drain_due(0, l.low_water),
            "a finishing stream is still offered drains"
        );
        c.offer_drain();
        c.drain_answered(true);
        c.produced();
        c.write_allowed(&b);
        assert!(!c.on_written(100, 300, &mut b, t0, &stats), "short write");
        assert_eq!(c.write_side(), WriteSide::Blocked);
        assert_eq!(c.flush_state(200), Flush::Keep, "its chunk is still owed");
        c.on_event(false, false, true);
        c.write_allowed(&b);
        c.on_written(200, 200, &mut b, t0, &stats);
        assert_eq!(c.flush_state(0), Flush::Keep, "the stream may have more");
        c.offer_drain();
        c.drain_answered(false);
        assert_eq!(c.phase(), Phase::Closing, "the stream is done");
        assert_eq!(c.flush_state(0), Flush::ShutWrite);
        let until = t0 + Duration::from_secs(2);
        c.linger(until);
        assert_eq!(c.phase(), Phase::Lingering { until });
        assert!(c.wants_read(), "lingering reads and discards");
        assert_eq!(c.flush_state(0), Flush::Keep);
        c.on_read(0, 100, t0, &stats);
        assert_eq!(
            c.flush_state(0),
            Flush::Gone,
            "the peer's EOF ends the linger"
        );
    }

    #[test]
    fn a_finishing_stream_that_writes_nothing_more_is_flushed_at_once() {
        let t0 = Instant::now();
        let mut c = opened(t0);
        c.finish();
        assert_eq!(
            c.flush_state(0),
            Flush::ShutWrite,
            "no drain owed: nothing more comes"
        );
        assert!(!c.finish(), "only an open connection finishes");
    }

    // ---- the memory budget ----

    #[test]
    fn over_the_memory_budget_only_an_open_connection_that_holds_or_speaks_is_held_back() {
        let t0 = Instant::now();
        let mut c = opened(t0);
        assert!(c.held_back(true, true));
        assert!(!c.held_back(true, false), "under the budget: free");
        assert!(!c.held_back(false, true), "holding nothing: served");
        c.note_fanout(3);
        assert!(
            c.held_back(false, true),
            "its words fill its room's buffers"
        );
        c.close();
        assert!(!c.held_back(true, true), "a closing connection only drains");
    }

    #[test]
    fn bytes_a_session_holds_make_the_connection_hold_bytes() {
        assert!(
            !ConnCore::holds(0, 0, 0),
            "nothing buffered anywhere: served"
        );
        assert!(ConnCore::holds(0, 0, 1), "only the session's own buffer");
        assert!(ConnCore::holds(1, 0, 0));
        assert!(ConnCore::holds(0, 1, 0));
        let c = ConnCore::new(1, 1024, false, Instant::now());
        assert!(c.held_back(ConnCore::holds(0, 0, 1 << 20), true));
        assert!(!c.held_back(ConnCore::holds(0, 0, 0), true));
    }

    #[test]
    fn a_gauge_follows_what_a_connection_holds_and_returns_to_zero() {
        let gauge = Counter::default();
        let (mut a, mut b) = (0, 0);
        ConnCore::settle(&gauge, &mut a, 1000);
        ConnCore::settle(&gauge, &mut b, 24);
        assert_eq!(gauge.get(), 1024);
        ConnCore::settle(&gauge, &mut a, 10);
        assert_eq!((gauge.get(), a), (34, 10));
        ConnCore::settle(&gauge, &mut a, 0);
        ConnCore::settle(&gauge, &mut b, 0);
        assert_eq!(gauge.get(), 0, "released: nothing left counted");
    }

    #[test]
    fn a_hold_back_is_listed_and_counted_once_and_released_once() {
        let t0 = Instant::now();
        let stats = Stats::default();
        let mut c = opened(t0);
        assert!(c.hold_back(&stats), "first: put it on the list");
        assert!(!c.hold_back(&stats), "already there");
        assert_eq!(c.memory(), Memory::HeldBack);
        assert_eq!(stats.memory_waits.get(), 1);
        assert!(c.release());
        assert_eq!(c.memory(), Memory::Free);
        assert!(!c.release(), "a stale token releases nothing");
    }

    #[test]
    fn a_hold_back_released_after_the_peer_closed_lets_it_finish() {
        let t0 = Instant::now();
        let stats = Stats::default();
        let mut c = opened(t0);
        c.hold_back(&stats);
        // Meanwhile the peer's FIN arrived: the event is remembered, not acted on.
        c.on_event(true, true, false);
        assert!(c.release());
        assert!(c.wants_read(), "driven again, it reads to the EOF");
        assert_eq!(c.on_read(0, 100, t0, &stats), Read::Eof);
        c.close();
        assert_eq!(
            c.flush_state(500),
            Flush::Keep,
            "what it held is still written"
        );
        assert_eq!(c.flush_state(0), Flush::Gone);
    }

    // ---- a queued file ----

    #[test]
    fn a_queued_file_goes_after_the_output_ahead_of_it_and_before_the_output_behind() {
        assert_eq!(file_step(120, 4096, true), FileStep::Ahead(120));
        assert_eq!(
            file_step(120, 4096, false),
            FileStep::Ahead(120),
            "the glue's write finds the socket full itself"
        );
        assert_eq!(file_step(0, 4096, true), FileStep::File);
        assert_eq!(file_step(0, 4096, false), FileStep::Wait);
        assert_eq!(file_step(0, 0, true), FileStep::Behind);
        assert_eq!(file_step(0, 0, false), FileStep::Behind);
    }

    // ---- deadlines, progress windows, eviction ----

    #[test]
    fn the_deadline_is_the_earliest_of_idle_own_linger_and_window() {
        let t0 = Instant::now();
        let l = limits();
        let mut c = opened(t0);
        assert_eq!(c.deadline(None, &l), t0 + l.idle_timeout);
        let own = t0 + Duration::from_secs(5);
        assert_eq!(c.deadline(Some(own), &l), own);
        c.track_progress(pending(1), l.min_rate, t0);
        assert_eq!(c.deadline(None, &l), t0 + l.rate_window);
        c.close();
        assert_eq!(
            c.deadline(Some(own), &l),
            t0 + l.rate_window,
            "a closing session's own deadline is over"
        );
        c.track_progress(nothing_owed(), l.min_rate, t0);
        assert_eq!(c.deadline(Some(own), &l), t0 + l.idle_timeout);
        let until = t0 + Duration::from_secs(1);
        c.linger(until);
        assert_eq!(c.deadline(None, &l), until);
    }

    #[test]
    fn a_trickling_peer_cannot_stretch_its_window_and_is_cut_off_at_its_end() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut c = opened(t0);
        let receiving = Owed {
            partial: true,
            ..Owed::default()
        };
        c.track_progress(receiving, l.min_rate, t0);
        let end = t0 + l.rate_window;
        // A byte a second: the idle timeout moves with every one, the window does not.
        for s in 1..10 {
            let now = t0 + Duration::from_secs(s);
            c.on_read(1, 100, now, &stats);
            c.track_progress(receiving, l.min_rate, now);
            assert_eq!(c.deadline(None, &l), end);
            assert!(!c.window_over(now, l.rate_window));
        }
        assert!(c.window_over(end, l.rate_window));
        assert_eq!(
            c.window_ended(receiving, end, &l, &stats),
            Verdict::Answer,
            "a message trickling in is answered (HTTP 408) before the close"
        );
        assert_eq!(stats.too_slow.get(), 1);
        assert!(
            !c.window_over(end + l.rate_window, l.rate_window),
            "no window now"
        );
    }

    #[test]
    fn a_peer_that_does_not_read_is_cut_off_and_one_that_keeps_up_gets_a_new_window() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut b = budget(&l);
        let mut c = opened(t0);
        c.track_progress(pending(5000), l.min_rate, t0);
        let end = t0 + l.rate_window;
        assert_eq!(
            c.window_ended(pending(5000), end, &l, &stats),
            Verdict::CutOff
        );

        let mut c = opened(t0);
        c.track_progress(pending(5000), l.min_rate, t0);
        let needed = (l.min_rate * l.rate_window.as_secs()) as usize;
        c.write_allowed(&b);
        c.on_written(needed, needed, &mut b, t0, &stats);
        assert_eq!(
            c.window_ended(pending(5000), end, &l, &stats),
            Verdict::KeptUp
        );
        assert_eq!(c.deadline(None, &l), end + l.rate_window, "the next window");
        assert_eq!(stats.too_slow.get(), 1);
    }

    #[test]
    fn answers_held_for_a_shut_window_count_only_what_the_peer_lets_go() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let held = |n| Owed {
            held_for_peer: n,
            ..Owed::default()
        };
        let needed = (l.min_rate * l.rate_window.as_secs()) as usize;
        let end = t0 + l.rate_window;

        // An HTTP/2 peer that keeps its window shut and PINGs: bytes both ways, none of the
        // answers taken. It is answered (GOAWAY) and closed at the window's end.
        let mut c = opened(t0);
        c.note_held_for_peer(5000);
        assert!(c.owes_progress(held(5000)));
        c.track_progress(held(5000), l.min_rate, t0);
        assert_eq!(
            c.deadline(None, &l),
            end,
            "the window, not the idle timeout"
        );
        for s in 1..10 {
            let now = t0 + Duration::from_secs(s);
            c.on_read(needed, needed, now, &stats);
            c.track_progress(held(5000), l.min_rate, now);
        }
        assert_eq!(c.window_ended(held(5000), end, &l, &stats), Verdict::Answer);
        assert_eq!(stats.too_slow.get(), 1);

        // One that opens its window as it reads: what the session let go counts.
        let mut c = opened(t0);
        c.note_held_for_peer(needed * 3);
        c.track_progress(held(needed * 3), l.min_rate, t0);
        c.note_held_for_peer(needed * 2);
        c.note_held_for_peer(needed * 2 + 10); // an event stream adds to its backlog
        assert_eq!(
            c.window_ended(held(needed * 2 + 10), end, &l, &stats),
            Verdict::KeptUp
        );
        assert_eq!(stats.too_slow.get(), 1);

        // Held answers beside output the peer is not reading: bytes moved count, and it is
        // cut off as any peer that does not read.
        let mut c = opened(t0);
        let both = Owed {
            pending: 100,
            ..held(5000)
        };
        c.track_progress(both, l.min_rate, t0);
        assert_eq!(c.window_ended(both, end, &l, &stats), Verdict::CutOff);

        // Nothing held, nothing else owed: no window.
        let mut c = opened(t0);
        c.note_held_for_peer(5000);
        c.note_held_for_peer(0);
        c.track_progress(held(0), l.min_rate, t0);
        assert_eq!(c.deadline(None, &l), t0 + l.idle_timeout);
    }

    #[test]
    fn a_closing_peer_that_sends_but_does_not_read_is_cut_off() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let mut c = opened(t0);
        assert!(c.close(), "it was open");
        c.track_progress(pending(5000), l.min_rate, t0);
        // Far more than the minimum rate asks, all of it discarded input.
        let needed = (l.min_rate * l.rate_window.as_secs()) as usize;
        c.on_read(
            needed * 10,
            needed * 10,
            t0 + Duration::from_secs(1),
            &stats,
        );
        let end = t0 + l.rate_window;
        assert_eq!(
            c.window_ended(pending(5000), end, &l, &stats),
            Verdict::CutOff
        );
    }

    #[test]
    fn no_window_without_a_minimum_rate_or_anything_owed() {
        let t0 = Instant::now();
        let l = limits();
        let mut c = opened(t0);
        c.track_progress(pending(10), 0, t0);
        assert!(!c.window_over(t0 + Duration::from_secs(3600), l.rate_window));
        c.track_progress(nothing_owed(), l.min_rate, t0);
        assert!(!c.window_over(t0 + Duration::from_secs(3600), l.rate_window));
        let receiving = Owed {
            receiving: true,
            ..Owed::default()
        };
        c.track_progress(receiving, l.min_rate, t0);
        assert!(c.window_over(t0 + l.rate_window, l.rate_window));
    }

    #[test]
    fn eviction_ranks_lingering_and_idle_first_then_the_longest_stalling() {
        let t0 = Instant::now();
        let (l, stats) = (limits(), Stats::default());
        let later = t0 + STALLED_AFTER;

        // Idle, of a service that lets idle ones go: not before STALLED_AFTER.
        let mut idle = ConnCore::new(ID, INPUT_LIMIT, true, t0);
        idle.open(t0);
        assert_eq!(idle.eviction_rank(nothing_owed(), t0, l.min_rate), None);
        assert_eq!(
            idle.evictable_at(nothing_owed(), t0, l.min_rate),
            Some(later)
        );
        assert_eq!(
            idle.eviction_rank(nothing_owed(), later, l.min_rate),
            Some((0, t0))
        );
        assert_eq!(idle.evictable_at(nothing_owed(), later, l.min_rate), None);

        // Idle, but its service counts on it (not disposable): never.
        let keep = opened(t0);
        assert_eq!(keep.eviction_rank(nothing_owed(), later, l.min_rate), None);
        assert_eq!(keep.evictable_at(nothing_owed(), t0, l.min_rate), None);

        // Lingering: rank 0 at once.
        let mut lingering = opened(t0);
        lingering.close();
        lingering.linger(t0 + Duration::from_secs(1));
        assert_eq!(
            lingering.eviction_rank(nothing_owed(), t0, l.min_rate),
            Some((0, t0))
        );

        // Owing progress and moving nothing: rank 1 once stalled STALLED_AFTER.
        let mut stalled = opened(t0);
        stalled.track_progress(pending(10), l.min_rate, t0);
        assert_eq!(stalled.eviction_rank(pending(10), t0, l.min_rate), None);
        assert_eq!(
            stalled.evictable_at(pending(10), t0, l.min_rate),
            Some(later)
        );
        assert_eq!(
            stalled.eviction_rank(pending(10), later, l.min_rate),
            Some((1, t0))
        );

        // Owing progress and keeping up: never.
        let mut b = budget(&l);
        let mut moving = opened(t0);
        moving.track_progress(pending(10), l.min_rate, t0);
        moving.write_allowed(&b);
        moving.on_written(1000, 1000, &mut b, t0, &stats);
        assert_eq!(moving.evictable_at(pending(10), t0, l.min_rate), None);
        assert_eq!(moving.eviction_rank(pending(10), later, l.min_rate), None);
    }
}
