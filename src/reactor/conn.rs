//! One TCP connection: its socket, its buffers and its session, joined to its rules.
//!
//! The rules — when to read and how much, backpressure, the budgets, the memory budget's
//! hold-back, deadlines, eviction, closing and lingering — are [`ConnCore`]'s (`core.rs`),
//! which has no socket and is unit-tested on its own. This file is the glue: it makes the
//! syscalls (`read`, `write`, `sendfile`, `shutdown`, `reregister`) the core asks for, calls
//! the session, and tells the core what happened.
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
//! that the one that has been stalling longest ([`ConnCore::eviction_rank`]).
//!
//! Write budget. A connection writes at most `write_budget` bytes per turn, and all of them
//! together `turn_write_budget`; what is left waits on the deferred list for the next turn, so
//! a thousand large answers cannot stall the loop while the kernel copies them. The write path,
//! a queued file (`sendfile`) included, is `write.rs`.
//!
//! Rooms. What a connection broadcasts is copied to every member of its room, so its reads
//! cost the loop their size times the room's: such a connection reads at most
//! `FANOUT_PER_READ` (1 MiB) divided by its room's size, once per turn, and only while the
//! turn's deliveries (`TURN_FANOUT`) last.
//!
//! Readiness. mio is edge-triggered: an event says "something changed", so the connection
//! remembers it is readable (`Readiness::Ready`) until a read returns `WouldBlock` (or fewer bytes than asked, which on
//! Linux means the socket was drained — the same shortcut tokio takes — unless the peer also
//! closed, which must be read to the 0). WRITABLE interest is registered only while output is
//! pending and the last write came up short.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use log::debug;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::{Core, TURN_FANOUT};
use crate::session::inspect::ConnTable;
use crate::session::{Ctx, Flow, QueuedFile, RoomId, Session, Step, Watch};
use crate::stats::Counter;

mod core;
mod inspect;
mod write;

pub(super) use self::core::ConnCore;
use self::core::{Charge, Flush, Owed, Read as ReadResult, ReadPlan, Registered, Verdict};
use write::write_some;

/// The connection must go: deregister it and drop it. The one failure of every function that
/// drives a connection, so that the read path can use `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Gone;

/// What driving a connection leaves: `Ok` to keep it, `Err(Gone)` to remove it.
pub(super) type Status = Result<(), Gone>;

/// A connection: its socket, its buffers, its session, and its rules ([`ConnCore`]).
pub(super) struct Conn {
    /// Unique for the reactor's life; slab keys are reused, ids are not (timers use it).
    pub id: u64,
    /// Index of the listener that accepted it (its broadcast group).
    pub endpoint: usize,
    /// The peer's address.
    pub peer: SocketAddr,
    /// When the heap entry currently scheduled for this connection fires, if any.
    pub scheduled: Option<Instant>,
    socket: TcpStream,
    token: Token,
    session: Box<dyn Session>,
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
    /// Session-held bytes (`Watch::held`) already counted in `session_buffered`.
    accounted_held: usize,
    /// The deadline the session asked for, and whether it is mid-message.
    watch: Watch,
    /// Every rule of the connection, and its states.
    state: ConnCore,
    /// The open-connections gauge of the service it counts under (`Stats::services`):
    /// its listener's, or the one its session moved it to (`Ctx::count_as`).
    gauge: Arc<Counter>,
}

impl Conn {
    /// Wraps an accepted, registered socket, with the rules `state` (whose id it takes).
    pub(super) fn new(
        endpoint: usize,
        socket: TcpStream,
        token: Token,
        peer: SocketAddr,
        session: Box<dyn Session>,
        state: ConnCore,
        gauge: Arc<Counter>,
    ) -> Conn {
        Conn {
            id: state.id(),
            endpoint,
            peer,
            scheduled: None,
            socket,
            token,
            session,
            input: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            file: None,
            accounted: 0,
            accounted_in: 0,
            accounted_held: 0,
            watch: Watch::default(),
            state,
            gauge,
        }
    }

    /// Output bytes accepted but not yet written, a queued file's included: what the peer
    /// is owed.
    pub(super) fn pending(&self) -> usize {
        let file = self.file.as_ref().map_or(0, |q| q.slice.len);
        self.buffered()
            .saturating_add(usize::try_from(file).unwrap_or(usize::MAX))
    }

    /// Output bytes held in memory, waiting to be written (a queued file is not in memory).
    pub(super) fn buffered(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// What the connection owes, for its core's progress rules.
    fn owed(&self) -> Owed {
        Owed {
            pending: self.pending(),
            partial: !self.input.is_empty(),
            receiving: self.watch.receiving,
            held_for_peer: self.watch.held_for_peer,
        }
    }

    /// The room the session joined (see `Ctx::join`), if any.
    pub(super) fn room(&self) -> Option<RoomId> {
        self.watch.room
    }

    /// Whether the connection still accepts broadcasts.
    pub(super) fn is_open(&self) -> bool {
        self.state.is_open()
    }

    /// When this connection next needs attention if nothing happens.
    pub(super) fn deadline(&self, core: &Core) -> Instant {
        self.state.deadline(self.watch.deadline, &core.limits)
    }

    /// Opens or closes its progress window (see `ConnCore::track_progress`). Called after
    /// every time the connection was driven.
    pub(super) fn track_progress(&mut self, core: &Core) {
        let owed = self.owed();
        self.state
            .track_progress(owed, core.limits.min_rate, core.now);
    }

    /// Whether this connection may be closed to make room for a new one, and how readily
    /// (see `ConnCore::eviction_rank`).
    pub(super) fn eviction_rank(&self, core: &Core) -> Option<(u8, Instant)> {
        self.state
            .eviction_rank(self.owed(), core.now, core.limits.min_rate)
    }

    /// When this connection will rank for eviction if nothing changes (see
    /// `ConnCore::evictable_at`).
    pub(super) fn evictable_at(&self, core: &Core) -> Option<Instant> {
        self.state
            .evictable_at(self.owed(), core.now, core.limits.min_rate)
    }

    /// Deregisters the socket, hands the session its last call, and releases the gauge.
    pub(super) fn close(mut self, core: &mut Core) {
        if let Err(e) = core.registry.deregister(&mut self.socket) {
            debug!("deregister {}: {e}", self.peer);
        }
        core.stats.buffered_out.sub(self.accounted as u64);
        core.stats.buffered_in.sub(self.accounted_in as u64);
        core.stats.session_buffered.sub(self.accounted_held as u64);
        self.gauge.sub(1);
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
    pub(super) fn open(&mut self, core: &mut Core) -> Status {
        self.state.open(core.now);
        let flow = self.call(core, |s, cx| s.on_open(cx));
        self.apply(flow, core).and_then(|()| self.drive(core))
    }

    /// Records a readiness event and does all the work it allows.
    pub(super) fn ready(&mut self, core: &mut Core, event: &mio::event::Event) -> Status {
        let error = event.is_error();
        self.state.on_event(
            event.is_readable() || error,
            event.is_read_closed(),
            event.is_writable() || error,
        );
        self.drive(core)
    }

    /// Starts a graceful stop: no more input is served; what is owed is written, then the
    /// connection closes as any other does (the drain deadline bounds the whole).
    pub(super) fn begin_shutdown(&mut self, core: &mut Core) -> Status {
        // The session did not choose to close: one streaming a body from `on_drain` (a
        // download) is still asked for the rest, so the body is not cut short.
        if self.state.is_open() {
            self.call(core, |s, cx| s.on_shutdown(cx));
            if self.state.finish() {
                self.input = Vec::new();
            }
        }
        self.apply(Flow::Close, core)
            .and_then(|()| self.drive(core))
    }

    /// The deadline passed.
    pub(super) fn timed_out(&mut self, core: &mut Core) -> Status {
        if self.state.window_over(core.now, core.limits.rate_window) {
            return self.window_ended(core);
        }
        if !self.state.is_open() {
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

    /// A progress window is over: the next one begins if the peer kept up, else it is cut off.
    fn window_ended(&mut self, core: &mut Core) -> Status {
        let owed = self.owed();
        match self
            .state
            .window_ended(owed, core.now, &core.limits, &core.stats)
        {
            Verdict::KeptUp => Ok(()),
            Verdict::CutOff => {
                // The peer is not reading: nothing more we write would reach it.
                debug!("{}: too slow, cut off", self.peer);
                Err(Gone)
            }
            Verdict::Answer => {
                // A message trickling in: the session may answer it (HTTP's 408) first.
                debug!("{}: too slow, answered and closed", self.peer);
                let flow = match self.call(core, |s, cx| s.on_timeout(cx)) {
                    Flow::Continue => Flow::Close,
                    flow => flow,
                };
                self.apply(flow, core).and_then(|()| self.drive(core))
            }
        }
    }

    /// Does every piece of work the connection's readiness allows, within the read budget.
    /// Returns with `core.deferred` holding this connection if the budget ran out first.
    pub(super) fn drive(&mut self, core: &mut Core) -> Status {
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
    pub(super) fn release(&mut self) -> bool {
        self.state.release()
    }

    /// Whether it is on the reactor's list of connections held back by the memory budget.
    pub(super) fn is_held_back(&self) -> bool {
        self.state.memory() == self::core::Memory::HeldBack
    }

    fn work(&mut self, core: &mut Core) -> Status {
        self.send(core).map_err(|_| Gone)?;
        for _ in 0..core.limits.read_budget {
            let mut progress = false;
            // Over the memory budget, a connection that already holds bytes, or whose words
            // fill its room's buffers, takes no more: it is neither read nor its stream
            // refilled until the total comes down. Those holding nothing go on, so a client
            // with a small request is still served.
            let held_back = self.state.held_back(self.holds(), core.memory_tight());
            if self.state.drain_due(self.pending(), core.limits.low_water) {
                if held_back {
                    self.hold_back(core);
                } else {
                    progress |= self.offer_drain(core)?;
                }
            }
            if self.state.wants_read() {
                if held_back {
                    self.hold_back(core);
                } else if self
                    .state
                    .must_wait_to_speak(TURN_FANOUT, core.turn_write_left.fanout_left)
                {
                    // Its room has heard as much as one turn allows: speak next turn.
                    core.stats.deferred.incr();
                    core.deferred.push(self.token);
                    return Ok(());
                } else {
                    progress |= self.read_once(core)?;
                    // What the session holds counts before its next read: the budget then
                    // stops it within one read, not one read budget.
                    if self.session_held() != self.accounted_held {
                        self.account_session(core);
                    }
                }
            }
            if self.state.is_broken() {
                return Err(Gone);
            }
            self.finish_if_flushed(core)?;
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

    /// Records how many connections heard its broadcast, which bounds its next reads.
    pub(super) fn note_fanout(&mut self, receivers: usize) {
        self.state.note_fanout(receivers);
    }

    /// Whether the connection holds bytes in memory: output its peer has not read yet, or
    /// part of a message. Not what its session holds for the peer (`Ctx::set_held_for_peer`):
    /// only a read can release those, so they are counted but never hold the reads back.
    fn holds(&self) -> bool {
        ConnCore::holds(self.buffered(), self.input.len(), self.watch.held)
    }

    /// Puts the connection on the reactor's list of those waiting for the memory budget.
    fn hold_back(&mut self, core: &mut Core) {
        if self.state.hold_back(&core.stats) {
            core.held_back.push(self.token);
        }
    }

    /// One `read`, its bytes fed to the session (or discarded when closing).
    fn read_once(&mut self, core: &mut Core) -> Result<bool, Gone> {
        let owed = self.owed();
        let room =
            match self
                .state
                .plan_read(self.input.len(), core.read_buf.len(), owed, &core.stats)
            {
                ReadPlan::Read(room) => room,
                // Backpressure: the session waits for its output to drain.
                ReadPlan::Paused => return Ok(false),
                ReadPlan::Stuck => {
                    debug!("{}: input limit reached without progress", self.peer);
                    return Err(Gone);
                }
            };
        core.stats.reads.incr();
        let n = match self.socket.read(&mut core.read_buf[..room]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.state.on_read_would_block(&core.stats);
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
            Err(e) => {
                debug!("{}: read: {e}", self.peer);
                return Err(Gone);
            }
        };
        match self.state.on_read(n, room, core.now, &core.stats) {
            ReadResult::Eof => self.on_peer_eof(core).map(|()| true),
            ReadResult::Data if self.state.is_open() => self.feed(core, n).map(|()| true),
            ReadResult::Data => Ok(true),
        }
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
            self.state.produced();
            if from_shared
                && before.is_none()
                && out_buf.is_empty()
                && self.file.is_none()
                && self.state.can_write()
            {
                // Nothing is queued ahead of these bytes: write them from the read buffer
                // where they are, and keep (copy) only what the socket does not take.
                let bytes = &read_buf[..forward];
                let sent = self
                    .write_out(forward, *now, stats, turn_write_left, |s, done, max| {
                        write_some(s, &bytes[done..done + max], false, stats)
                    })
                    .unwrap_or_else(|_| {
                        self.state.on_write_error();
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
        self.state.offer_drain();
        let flow = self.call(core, |s, cx| s.on_drain(cx));
        self.state.drain_answered(flow == Flow::Continue);
        self.apply(flow, core)?;
        let produced = self.state.drain_owed();
        if self.state.is_open() && !self.input.is_empty() {
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
                self.state.input_consumed(&core.stats);
                return Ok(true);
            }
        }
        self.state
            .drained_to(self.buffered(), core.limits.low_water, &core.stats);
        Ok(produced)
    }

    fn on_peer_eof(&mut self, core: &mut Core) -> Status {
        if !self.state.is_open() {
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
            self.state.produced();
        }
        if self.send(core).is_err() {
            // Callers may be deep in a read or a broadcast: note it, and the drive loop (or
            // the broadcast) removes the connection when control comes back to it.
            self.state.on_write_error();
        }
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
        let buffered = self.buffered();
        ConnCore::settle(&core.stats.buffered_out, &mut self.accounted, buffered);
        ConnCore::settle(
            &core.stats.buffered_in,
            &mut self.accounted_in,
            self.input.len(),
        );
        self.state.note_held_for_peer(self.watch.held_for_peer);
        if let Some(name) = self.watch.count_as.take() {
            self.count_as(name, core);
        }
        // A session that holds nothing costs this one comparison.
        if self.session_held() != self.accounted_held {
            self.account_session(core);
        }
    }

    /// Moves the connection from the gauge it counts in to the service `name`'s.
    #[cold]
    fn count_as(&mut self, name: &'static str, core: &Core) {
        self.gauge.sub(1);
        self.gauge = core.stats.services.register(name);
        self.gauge.incr();
    }

    /// What the session says it holds, both figures: `Ctx::set_held` and the bytes only its
    /// peer can release (`Ctx::set_held_for_peer`), which count in the budget but do not
    /// hold the connection back (see `holds`).
    fn session_held(&self) -> usize {
        self.watch.held.saturating_add(self.watch.held_for_peer)
    }

    /// Settles what the session says it holds (`Ctx::set_held`, `Ctx::set_held_for_peer`)
    /// into `session_buffered`.
    fn account_session(&mut self, core: &Core) {
        let held = self.session_held();
        ConnCore::settle(&core.stats.session_buffered, &mut self.accounted_held, held);
    }

    fn apply(&mut self, flow: Flow, core: &mut Core) -> Status {
        if self.state.is_broken() {
            return Err(Gone);
        }
        match flow {
            Flow::Continue => Ok(()),
            Flow::Abort => Err(Gone),
            Flow::Close => {
                if self.state.close() {
                    self.input = Vec::new();
                }
                self.finish_if_flushed(core)
            }
        }
    }

    /// Once a closing connection has written everything, shuts down the write side and
    /// lingers, or goes at once if the peer already closed.
    fn finish_if_flushed(&mut self, core: &mut Core) -> Status {
        match self.state.flush_state(self.pending()) {
            Flush::Keep => Ok(()),
            Flush::Gone => Err(Gone),
            Flush::ShutWrite => {
                if let Err(e) = self.socket.shutdown(Shutdown::Write) {
                    debug!("{}: shutdown: {e}", self.peer);
                    return Err(Gone);
                }
                self.state.linger(core.now + core.limits.linger_timeout);
                Ok(())
            }
        }
    }

    /// Registers WRITABLE interest only while a write is waiting for room, and puts the
    /// connection on the deferred list when its write budget ran out with output pending
    /// (the socket has room, so no WRITABLE event would come).
    fn update_interest(&mut self, core: &mut Core) {
        let wants = self.state.interest(self.pending());
        if wants.defer {
            core.deferred.push(self.token);
        }
        if let Some(registered) = wants.reregister {
            let interest = match registered {
                Registered::Read => Interest::READABLE,
                Registered::ReadWrite => Interest::READABLE | Interest::WRITABLE,
            };
            if let Err(e) = core
                .registry
                .reregister(&mut self.socket, self.token, interest)
            {
                debug!("{}: reregister: {e}", self.peer);
            }
        }
    }

    /// Hands the session a message from elsewhere (a broadcast), lets it write it in its own
    /// form (as is, encrypted, framed), and tries to send it.
    pub(super) fn push(&mut self, bytes: &[u8], core: &mut Core) -> Status {
        self.state.set_charge(Charge::Broadcast, "broadcast");
        let flow = self.call(core, |s, cx| s.on_broadcast(bytes, cx));
        self.state.set_charge(Charge::Budget, "broadcast written");
        let status = self.apply(flow, core);
        self.update_interest(core);
        status
    }

    /// Registers a freshly accepted socket.
    pub(super) fn register(
        socket: &mut TcpStream,
        token: Token,
        registry: &Registry,
    ) -> io::Result<()> {
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
