//! One load thread: a mio `Poll`, the thread's share of connections, and the loop that
//! drives them until the run's deadline or request count.
//!
//! The loop is the same for TCP connections and UDP sockets; what differs sits behind
//! [`Slot`]. Each turn of the loop:
//!
//! ```text
//!   stop?     deadline passed, every request of a counted run granted and ended, or the
//!             stop flag set (Ctrl-C; seen within a tick)
//!   open      the next batch of connections, until all are open (OPEN_BATCH per turn)
//!   release   open loop: requests now due go to their slots, which write them
//!   tick      every few ms (a tenth of the timeout, at most 100 ms): expire requests,
//!             retry failed connections, publish the progress counters
//!   poll      until the next of: deadline, tick, next scheduled request
//!   dispatch  each event to its slot (token = slot index), which reads, judges replies,
//!             takes new requests from the pacing and writes them in one call
//! ```
//!
//! An open loop due to send within the millisecond sleeps that fraction rather than poll,
//! whose timeout has millisecond resolution.
//!
//! Time is read once per turn (`Instant::now()` after `poll` returns) and shared by every
//! event of that turn: cheap, and never later than the truth by more than the turn takes.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Poll, Registry};

use super::Report;
use super::driver::Driver;
use super::pacing::Pacing;
use super::progress::Counters;
use super::tls::TlsClient;

/// Bytes read per `read` call; any leftover a driver keeps (a partial head) is far smaller.
pub(super) const SCRATCH: usize = 64 * 1024;

/// Readiness events taken per `poll`.
const EVENTS: usize = 1024;

/// The granularity of a poll timeout.
const EPOLL_RESOLUTION: Duration = Duration::from_millis(1);

/// Connections opened per turn of the loop, at most.
const OPEN_BATCH: usize = 256;

/// The longest interval between maintenance ticks.
const MAX_TICK: Duration = Duration::from_millis(100);

/// What one thread is to do.
pub(super) struct Plan<'a> {
    /// The server.
    pub addr: SocketAddr,
    /// TLS over every connection, if set.
    pub tls: Option<&'a TlsClient>,
    /// Connections (UDP: sockets) this thread owns.
    pub slots: usize,
    /// The protocol.
    pub driver: &'a Driver,
    /// When requests may go out, and how many.
    pub pacing: Pacing,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// A request unanswered this long is a timeout.
    pub timeout: Duration,
    /// HTTP keep-alive; if false every reply ends its connection as planned.
    pub keep_alive: bool,
    /// When the run started (latency and elapsed time count from here).
    pub start: Instant,
    /// When the run stops, whatever is in flight.
    pub deadline: Instant,
    /// Where to publish the running totals for the progress line.
    pub counters: &'a Counters,
    /// When set, stop now (Ctrl-C).
    pub stop: Option<&'a AtomicBool>,
}

/// Everything a slot needs besides itself.
pub(super) struct Ctx<'a> {
    /// To register sockets with this thread's poll.
    pub registry: Registry,
    /// The server.
    pub addr: SocketAddr,
    /// TLS over every connection, if set.
    pub tls: Option<&'a TlsClient>,
    /// The protocol.
    pub driver: &'a Driver,
    /// When requests may go out.
    pub pacing: Pacing,
    /// What has been measured.
    pub report: Report,
    /// The read buffer all slots of the thread share.
    pub scratch: Box<[u8]>,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// A request unanswered this long is a timeout.
    pub timeout: Duration,
    /// HTTP keep-alive.
    pub keep_alive: bool,
}

/// A TCP connection or a UDP socket, as the loop sees it.
pub(super) trait Slot: Sized {
    /// Opens slot `i` (its token is `Token(i)`). An error here ends the run.
    fn open(i: usize, ctx: &mut Ctx, now: Instant) -> io::Result<Self>;
    /// Handles a readiness event.
    fn on_event(&mut self, i: usize, event: &Event, ctx: &mut Ctx, now: Instant);
    /// Takes as many requests as the pipeline and the pacing allow, and writes them.
    fn fill(&mut self, i: usize, ctx: &mut Ctx, now: Instant);
    /// Periodic upkeep: timeouts, reconnecting.
    fn tick(&mut self, i: usize, ctx: &mut Ctx, now: Instant);
}

/// Runs one thread's share of the load with slots of type `S`.
pub(super) fn run<S: Slot>(plan: Plan) -> io::Result<Report> {
    let mut poll = Poll::new()?;
    let mut ctx = Ctx {
        registry: poll.registry().try_clone()?,
        addr: plan.addr,
        tls: plan.tls,
        driver: plan.driver,
        pacing: plan.pacing,
        report: Report::new(),
        scratch: vec![0u8; SCRATCH].into_boxed_slice(),
        pipeline: plan.pipeline,
        timeout: plan.timeout,
        keep_alive: plan.keep_alive,
    };
    let tick = (plan.timeout / 10).clamp(Duration::from_millis(1), MAX_TICK);
    // Connections are opened a batch per turn of the loop, not all before it: at -c 100000
    // the deadline, a request count and Ctrl-C are heard between batches, and the first
    // connections carry load while the rest are opened.
    let mut slots: Vec<S> = Vec::with_capacity(plan.slots);
    let mut events = Events::with_capacity(EVENTS);
    let mut next_tick = Instant::now() + tick;
    loop {
        let now = Instant::now();
        let counted_out = ctx.pacing.exhausted() && ctx.report.completed() >= ctx.pacing.granted();
        let stopped = plan.stop.is_some_and(|s| s.load(Ordering::Relaxed));
        if now >= plan.deadline || counted_out || stopped {
            break;
        }
        let opened = slots.len();
        for i in opened..plan.slots.min(opened + OPEN_BATCH) {
            let mut slot = S::open(i, &mut ctx, now)?;
            slot.fill(i, &mut ctx, now);
            slots.push(slot);
        }
        for i in ctx.pacing.release(now) {
            // A request due to a slot not opened yet waits for it, its latency counting.
            if let Some(slot) = slots.get_mut(i) {
                slot.fill(i, &mut ctx, now);
            }
        }
        if now >= next_tick {
            for (i, slot) in slots.iter_mut().enumerate() {
                slot.tick(i, &mut ctx, now);
            }
            plan.counters.publish(&ctx.report);
            next_tick = now + tick;
        }
        let release = ctx.pacing.next_release();
        let wake = release
            .map_or(next_tick, |t| t.min(next_tick))
            .min(plan.deadline);
        let mut wait = wake.saturating_duration_since(now);
        if slots.len() < plan.slots {
            wait = Duration::ZERO; // more to open: look at what arrived, then go on
        }
        if release == Some(wake) && wait < EPOLL_RESOLUTION {
            // epoll waits whole milliseconds, rounded up: the request would leave up to a
            // millisecond late, and its latency (from the schedule) would include that.
            // Sleep the fraction instead, then take whatever arrived meanwhile.
            std::thread::sleep(wait);
            wait = Duration::ZERO;
        }
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in events.iter() {
            let i = event.token().0;
            if let Some(slot) = slots.get_mut(i) {
                slot.on_event(i, event, &mut ctx, now);
            }
        }
    }
    plan.counters.publish(&ctx.report);
    ctx.report.elapsed = Instant::now().saturating_duration_since(plan.start);
    Ok(ctx.report)
}
