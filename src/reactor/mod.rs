//! The event loop: one `mio::Poll`, every socket of one thread, dispatch by token.
//!
//! ```text
//!  loop {
//!      poll(timeout = earliest deadline, or 0 if some work was deferred)
//!      run deferred work first (connections that used up a budget last turn)
//!      for each event:  token ─► listener: accept, within a budget
//!                             ─► connection: read → session → write   (conn.rs)
//!                             ─► UDP socket: recv_from → service → send_to (udp.rs)
//!                             ─► signal / waker: begin a graceful stop
//!      fire due timers (idle timeouts, session deadlines, rate windows, linger ends)
//!      release connections held back by the memory budget; deliver leave notices and
//!      room messages relayed from other workers
//!  }
//! ```
//!
//! docs/architecture.md shows the loop step by step, checked against `run` by tests/docs.rs.
//!
//! The reactor owns sockets, buffers, timers and counters, and nothing else: what the bytes
//! mean is the business of the [`Session`](crate::session::Session) behind each connection.
//! It never blocks and never sleeps except in `poll`, so an idle server uses no CPU.

mod conn;
mod inspect;
mod listener;
pub(crate) mod rooms;
pub(crate) mod socket;
mod timer;
pub(crate) mod token;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use log::{debug, info, trace, warn};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use rooms::SharedRooms;
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::config::{Limits, SocketOptions};
use crate::live::{Follower, Live};
use crate::session::{DatagramService, RoomId, Service};
use crate::stats::Stats;
use conn::{Conn, ConnCore, Status};
use listener::{Accepted, Listener};
use timer::{Entry, Timers};
use token::Target;
use udp::UdpEndpoint;

pub use inspect::install_tcp_info;

/// Everything a connection handler may use besides the connection itself. Kept apart from
/// the connection slab so a handler can borrow both at once.
pub(crate) struct Core {
    registry: Registry,
    limits: Limits,
    stats: Arc<Stats>,
    /// The time of the current batch of events.
    now: Instant,
    /// The shared read buffer every connection reads into.
    read_buf: Vec<u8>,
    /// The shared output buffer sessions write into when their connection has nothing pending.
    out_buf: Vec<u8>,
    /// Bytes a session asked to broadcast, delivered once its callback returns.
    broadcast: Vec<u8>,
    /// Tokens with work left after their budget ran out.
    deferred: Vec<Token>,
    /// Connections that spoke to their room in this turn: deferred at its end, behind those
    /// still waiting to speak, so that speakers take turns.
    spoke: Vec<Token>,
    /// Connections held back while over the memory budget (`Limits::max_memory`), driven
    /// again once the reactor holds less.
    held_back: Vec<Token>,
    /// What may still be written in this turn of the loop.
    turn_write_left: WriteBudget,
    timers: Timers,
    /// The addresses of this reactor's UDP sockets: a datagram from one of them is never
    /// answered (two of our services answering each other would loop forever).
    own_udp: Vec<SocketAddr>,
}

impl Core {
    /// Bytes every connection holds together: output waiting for peers, partial input, and
    /// what sessions hold in buffers of their own (`Ctx::set_held`).
    fn memory_held(&self) -> usize {
        (self.stats.buffered_out.get()
            + self.stats.buffered_in.get()
            + self.stats.session_buffered.get()) as usize
    }

    /// Over the memory budget: connections that hold bytes take no more.
    fn memory_tight(&self) -> bool {
        self.memory_held() > self.limits.max_memory
    }

    /// Far enough under the budget (seven eighths) to let held-back connections go on, so
    /// they do not flap at the edge of it.
    fn memory_relaxed(&self) -> bool {
        self.memory_held() <= self.limits.max_memory - self.limits.max_memory / 8
    }
}

/// Deliveries of broadcasts (a member's callback and its write) in one turn of the loop: a
/// few milliseconds' work. A connection speaking to a larger room still speaks once per turn.
const TURN_FANOUT: usize = 2048;

/// The most bytes of leave notices a group collects in one turn; more are dropped (and
/// counted): a room that lost more than a thousand members at once hears of the first. Also
/// the size of a batch of messages relayed from other workers.
const MAX_NOTICES: usize = 64 * 1024;

/// Batches of relayed room messages delivered per turn (see `Reactor::deliver_relayed`).
const RELAY_BATCHES: usize = 64;

/// The bytes connections may write in one turn of the loop (see `Limits::write_budget`).
#[derive(Debug)]
pub(crate) struct WriteBudget {
    /// Counts turns, so a connection can tell its own allowance is from an earlier one.
    turn: u64,
    /// What every connection may write in a turn.
    per_conn: usize,
    /// What all of them together may still write in this turn.
    left: usize,
    /// Broadcast deliveries still allowed in this turn (see [`TURN_FANOUT`]).
    fanout_left: usize,
}

impl WriteBudget {
    fn new(limits: &Limits) -> WriteBudget {
        WriteBudget {
            turn: 0,
            per_conn: limits.write_budget,
            left: limits.turn_write_budget,
            fanout_left: TURN_FANOUT,
        }
    }

    fn next_turn(&mut self, limits: &Limits) {
        self.turn += 1;
        self.left = limits.turn_write_budget;
        self.fanout_left = TURN_FANOUT;
    }
}

/// A listener or UDP socket, addressed by the low tokens.
enum Endpoint {
    Tcp(Listener),
    Udp(UdpEndpoint),
    /// Closed at shutdown; its slot stays so indices keep their meaning.
    Closed,
}

/// A datagram sent on a schedule (a discovery beacon). The reactor knows only "these bytes,
/// to there, when the schedule says": what they mean is the caller's business.
struct Periodic {
    socket: std::net::UdpSocket,
    to: SocketAddr,
    /// Makes the next datagram (a signed beacon differs each time: its time and number).
    payload: Box<dyn FnMut() -> Vec<u8>>,
    next: Instant,
    schedule: Box<dyn FnMut() -> Duration>,
}

/// Where the reactor is in its life. The loop acts on this one value, changed only by
/// [`Reactor::set_lifecycle`]; a stop asked from another thread arrives as a request
/// ([`Handle`]'s atomic, `STOP_*`) that the loop turns into a transition after each batch.
///
/// ```text
///  Running ──stop──► Delaying { until } ──until, or a second stop──► Draining { until }
///     └───────────stop, no --drain-delay─────────────────────────────────┘      │
///                                       every connection gone, or until ──► Stopping
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// Serving.
    Running,
    /// A graceful stop has begun: health checks fail, beacons stop, but the listeners stay
    /// open until `until` (`--drain-delay`), so a load balancer notices first.
    Delaying { until: Instant },
    /// The listeners are closed; connections finish what they owe until `until`
    /// (`--drain-timeout`).
    Draining { until: Instant },
    /// Drained, or out of time: whatever is left is closed and `run` returns.
    Stopping,
}

impl Lifecycle {
    /// The time at which the loop must act even if no event comes.
    fn deadline(self) -> Option<Instant> {
        match self {
            Lifecycle::Delaying { until } | Lifecycle::Draining { until } => Some(until),
            Lifecycle::Running | Lifecycle::Stopping => None,
        }
    }
}

/// A stop asked from another thread (or passed on by the worker that owns the signals):
/// nothing, a graceful stop (the drain delay, then draining), or closing the listeners now
/// (a second signal during the delay).
const STOP_NONE: u8 = 0;
const STOP_GRACEFUL: u8 = 1;
const STOP_NOW: u8 = 2;

/// Stops a running reactor from another thread.
#[derive(Clone)]
pub struct Handle {
    stop: Arc<AtomicU8>,
    waker: Arc<Waker>,
}

impl Handle {
    /// Asks the reactor to stop gracefully, as SIGTERM would.
    pub fn stop(&self) {
        self.raise(STOP_GRACEFUL);
    }

    /// Asks the reactor to skip what is left of its drain delay and close its listeners now,
    /// as a second SIGTERM would.
    pub fn stop_now(&self) {
        self.raise(STOP_NOW);
    }

    fn raise(&self, level: u8) {
        self.stop.fetch_max(level, Ordering::AcqRel);
        if let Err(e) = self.waker.wake() {
            warn!("waking the reactor: {e}");
        }
    }
}

/// One single-threaded event loop and every socket it serves.
pub struct Reactor {
    poll: Poll,
    endpoints: Vec<Endpoint>,
    conns: Slab<Conn>,
    core: Core,
    socket_options: SocketOptions,
    signals: Option<Signals>,
    stop: Arc<AtomicU8>,
    /// Reactors this one passes its signals on to (the other `--workers`): only one reactor
    /// owns the signal handler, so a signal can never reach some workers and miss others.
    followers: Vec<Handle>,
    waker: Arc<Waker>,
    next_id: u64,
    accept_paused_until: Option<Instant>,
    last_fd_warning: Option<Instant>,
    /// Running, delaying, draining or stopping (see [`Lifecycle`]).
    lifecycle: Lifecycle,
    spare_deferred: Vec<Token>,
    /// Leave notices of connections closed in this turn, by group (see `deliver_notices`).
    notices: Vec<(Group, Vec<u8>)>,
    /// The rooms this reactor shares with the other workers of its server, and its number
    /// among them (see `rooms.rs`).
    shared_rooms: Option<(Arc<SharedRooms>, usize)>,
    periodic: Vec<Periodic>,
    /// The room of each listener's connections (`Service::room`), by endpoint index.
    rooms: Vec<Option<RoomId>>,
    /// Each listener's gauge in `Stats::services`, by endpoint index.
    services: Vec<Option<Arc<crate::stats::Counter>>>,
    /// Each listener's service name (`Service::name`), by endpoint index, for inspections.
    names: Vec<&'static str>,
    /// The turn of the loop that last described the connections (one inspection per turn).
    inspected_turn: Option<u64>,
    /// The limits a reload (SIGHUP) publishes, taken at the top of a turn (see `live.rs`).
    live_limits: Option<Follower<Limits>>,
}

/// Who hears a connection's broadcasts: its room, or else the other connections of its
/// listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Room(RoomId),
    Listener(usize),
}

impl Group {
    /// The group of `conn`: the room it joined, else its listener's room, else its listener.
    fn of(conn: &Conn, rooms: &[Option<RoomId>]) -> Group {
        match conn
            .room()
            .or_else(|| rooms.get(conn.endpoint).copied().flatten())
        {
            Some(room) => Group::Room(room),
            None => Group::Listener(conn.endpoint),
        }
    }
}

impl Reactor {
    /// A reactor with no sockets yet.
    pub fn new(limits: Limits, socket_options: SocketOptions) -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Arc::new(Waker::new(poll.registry(), token::WAKER)?);
        // Big enough for one TCP read chunk and for the largest datagram plus the byte that
        // reveals a datagram was larger still.
        let read_len = limits.read_chunk.max(limits.max_datagram + 1);
        Ok(Reactor {
            poll,
            endpoints: Vec::new(),
            conns: Slab::new(),
            core: Core {
                registry,
                stats: Arc::new(Stats::default()),
                now: Instant::now(),
                read_buf: vec![0; read_len],
                out_buf: Vec::with_capacity(limits.read_chunk),
                broadcast: Vec::new(),
                deferred: Vec::new(),
                spoke: Vec::new(),
                held_back: Vec::new(),
                turn_write_left: WriteBudget::new(&limits),
                timers: Timers::default(),
                own_udp: Vec::new(),
                limits,
            },
            socket_options,
            signals: None,
            stop: Arc::new(AtomicU8::new(STOP_NONE)),
            followers: Vec::new(),
            waker,
            next_id: 0,
            accept_paused_until: None,
            last_fd_warning: None,
            lifecycle: Lifecycle::Running,
            spare_deferred: Vec::new(),
            notices: Vec::new(),
            shared_rooms: None,
            periodic: Vec::new(),
            rooms: Vec::new(),
            services: Vec::new(),
            names: Vec::new(),
            inspected_turn: None,
            live_limits: None,
        })
    }

    /// Binds a TCP listener on `addr` serving `service`. Returns the address actually bound.
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        service: Box<dyn Service>,
    ) -> io::Result<SocketAddr> {
        let index = self.next_endpoint()?;
        let mut socket = socket::tcp_listener(addr, &self.socket_options)?;
        let bound = socket.local_addr()?;
        self.poll
            .registry()
            .register(&mut socket, token::endpoint(index), Interest::READABLE)?;
        info!("listening {} tcp {bound}", service.name());
        self.rooms.resize(index, None);
        self.rooms.push(service.room());
        self.services.resize(index, None);
        self.services
            .push(Some(self.core.stats.services.register(service.name())));
        self.names.resize(index, "udp");
        self.names.push(service.name());
        debug!(
            "listener {bound}: {}",
            socket::describe(socket2::SockRef::from(&socket))
        );
        self.endpoints.push(Endpoint::Tcp(Listener {
            socket,
            service,
            addr: bound,
        }));
        Ok(bound)
    }

    /// Binds a UDP socket on `addr` serving `service`. Returns the address actually bound.
    pub fn bind_udp(
        &mut self,
        addr: SocketAddr,
        service: Box<dyn DatagramService>,
    ) -> io::Result<SocketAddr> {
        let index = self.next_endpoint()?;
        let mut socket = socket::udp_socket(addr, &self.socket_options)?;
        let bound = socket.local_addr()?;
        let token = token::endpoint(index);
        self.poll
            .registry()
            .register(&mut socket, token, Interest::READABLE)?;
        info!("listening {} udp {bound}", service.name());
        debug!(
            "udp {bound}: {}",
            socket::describe(socket2::SockRef::from(&socket))
        );
        self.endpoints.push(Endpoint::Udp(UdpEndpoint::new(
            socket, service, bound, token,
        )));
        self.core.own_udp.push(bound);
        Ok(bound)
    }

    /// Sends a datagram made by `payload` just before each send to `to`, from a socket bound on
    /// `bind`, now and then after every delay `schedule` returns. `SO_BROADCAST` is set, so
    /// `to` may be a broadcast address. A send that would block is dropped and counted: a late
    /// beacon is worth nothing.
    pub(crate) fn add_periodic(
        &mut self,
        bind: SocketAddr,
        to: SocketAddr,
        payload: Box<dyn FnMut() -> Vec<u8>>,
        schedule: Box<dyn FnMut() -> Duration>,
    ) -> io::Result<SocketAddr> {
        let socket = std::net::UdpSocket::bind(bind)?;
        socket.set_broadcast(true)?;
        socket.set_nonblocking(true)?;
        let bound = socket.local_addr()?;
        self.periodic.push(Periodic {
            socket,
            to,
            payload,
            next: Instant::now(),
            schedule,
        });
        Ok(bound)
    }

    fn send_periodic(&mut self) {
        let now = self.core.now;
        for p in &mut self.periodic {
            if p.next > now {
                continue;
            }
            match p.socket.send_to(&(p.payload)(), p.to) {
                Ok(_) => self.core.stats.datagrams_out.incr(),
                Err(e) => {
                    debug!("periodic datagram to {}: {e}", p.to);
                    self.core.stats.datagrams_dropped.incr();
                }
            }
            p.next = now + (p.schedule)();
        }
    }

    fn next_endpoint(&self) -> io::Result<usize> {
        let index = self.endpoints.len();
        if index >= token::MAX_ENDPOINTS {
            return Err(io::Error::other("too many listeners on one reactor"));
        }
        Ok(index)
    }

    /// Stops gracefully on SIGINT or SIGTERM. (Not done by default, so a reactor embedded in
    /// a test or a benchmark leaves the process's signal handling alone.)
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals =
            Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
        self.poll
            .registry()
            .register(&mut signals, token::SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Passes every signal this reactor receives on to `followers` (the other workers of one
    /// server), which do not handle signals themselves.
    pub(crate) fn forward_signals_to(&mut self, followers: Vec<Handle>) {
        self.followers = followers;
    }

    /// Takes the limits `live` holds whenever a reload publishes new ones, at the top of the
    /// next turn of the loop. Connections open by then keep their timers until these next
    /// fire; every check made from then on uses the new values. `read_chunk` and
    /// `max_datagram`, which size the buffers made at start, keep their first values.
    pub(crate) fn follow_limits(&mut self, live: &Arc<Live<Limits>>) {
        self.live_limits = Some(live.follow());
    }

    /// Puts in the limits a reload published, if any.
    fn take_new_limits(&mut self) {
        let Some(limits) = self.live_limits.as_mut().and_then(Follower::changed) else {
            return;
        };
        let old = &self.core.limits;
        self.core.limits = Limits {
            read_chunk: old.read_chunk,
            max_datagram: old.max_datagram,
            ..(*limits).clone()
        };
        debug!("limits reloaded: {:?}", self.core.limits);
    }

    /// A handle that stops this reactor from another thread.
    pub fn handle(&self) -> Handle {
        Handle {
            stop: self.stop.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Makes this reactor worker `me` of a server whose rooms are `rooms`: what its members
    /// say in a room reaches the other workers' members, and theirs reach its own.
    pub(crate) fn share_rooms(&mut self, rooms: Arc<SharedRooms>, me: usize) {
        rooms.join(me, self.waker.clone());
        self.shared_rooms = Some((rooms, me));
    }

    /// This reactor's counters, readable from any thread.
    pub fn stats(&self) -> Arc<Stats> {
        self.core.stats.clone()
    }

    /// Runs until stopped (signal or [`Handle::stop`]) and drained.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Lifecycle::Draining { until } = self.lifecycle {
                if self.conns.is_empty() {
                    self.set_lifecycle(Lifecycle::Stopping, "every connection drained");
                } else if self.core.now >= until {
                    self.set_lifecycle(Lifecycle::Stopping, "drain timeout");
                }
            }
            if self.lifecycle == Lifecycle::Stopping {
                break;
            }
            let timeout = self.poll_timeout();
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.core.now = Instant::now();
            self.take_new_limits();
            self.core.turn_write_left.next_turn(&self.core.limits);
            // Work deferred from the last turn goes first: it has waited a turn already, and
            // this turn's write budget must not go to the newly ready alone.
            self.run_deferred();
            let mut n = 0;
            for event in events.iter() {
                n += 1;
                self.dispatch(event);
            }
            self.core.stats.record_poll(n);
            self.resume_accepting();
            self.fire_timers();
            self.core.stats.timers.set(self.core.timers.len() as u64);
            self.send_periodic();
            self.release_held_back();
            self.deliver_notices();
            self.deliver_relayed();
            let spoke = &mut self.core.spoke;
            self.core.deferred.append(spoke);
            match self.stop.load(Ordering::Acquire) {
                STOP_NONE => {}
                STOP_GRACEFUL => self.begin_shutdown(),
                _ => {
                    self.begin_shutdown();
                    self.close_and_drain();
                }
            }
            if let Lifecycle::Delaying { until } = self.lifecycle
                && self.core.now >= until
            {
                self.close_and_drain();
            }
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        if !keys.is_empty() {
            warn!("drain timeout: closing {} connections", keys.len());
        }
        for key in keys {
            self.remove(key);
        }
        // A few readable lines at info; the ~60 counters on one line for who asks.
        for line in self.core.stats.summary() {
            info!("{line}");
        }
        debug!("stopped: {}", self.core.stats);
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Duration> {
        // Deferred work, and leave notices of connections that delivering the last ones
        // closed, are this turn's business: do not sleep on them.
        let mail = self
            .shared_rooms
            .as_ref()
            .is_some_and(|(rooms, me)| rooms.has_mail(*me));
        if !self.core.deferred.is_empty() || !self.notices.is_empty() || mail {
            return Some(Duration::ZERO);
        }
        let next = [
            self.core.timers.next_deadline(),
            self.accept_paused_until,
            self.lifecycle.deadline(),
            self.periodic.iter().map(|p| p.next).min(),
        ]
        .into_iter()
        .flatten()
        .min()?;
        // Round up: waking a hair early would only mean a second, empty, poll.
        Some(next.saturating_duration_since(Instant::now()) + Duration::from_millis(1))
    }

    fn dispatch(&mut self, event: &mio::event::Event) {
        match token::target(event.token()) {
            Target::Endpoint(index) => self.endpoint_ready(index, event),
            Target::Conn(key) => {
                let Some(conn) = self.conns.get_mut(key) else {
                    return; // closed earlier in this batch
                };
                let status = conn.ready(&mut self.core, event);
                self.finish(key, status);
            }
            Target::Signals => {
                let received: Vec<i32> = self
                    .signals
                    .as_mut()
                    .map(|s| s.pending().collect())
                    .unwrap_or_default();
                if !received.is_empty() {
                    let names: Vec<&str> = received
                        .iter()
                        .map(|&s| match s {
                            signal_hook::consts::SIGINT => "SIGINT",
                            signal_hook::consts::SIGTERM => "SIGTERM",
                            _ => "a signal",
                        })
                        .collect();
                    info!("{} received", names.join(", "));
                    if matches!(self.lifecycle, Lifecycle::Delaying { .. }) {
                        // A second signal during the delay: the operator wants it now.
                        info!("second signal: closing the listeners now");
                        self.followers.iter().for_each(Handle::stop_now);
                        self.close_and_drain();
                    } else {
                        self.followers.iter().for_each(Handle::stop);
                        self.begin_shutdown();
                    }
                }
            }
            Target::Waker => {} // the stop flag is checked after every batch
        }
    }

    fn endpoint_ready(&mut self, index: usize, event: &mio::event::Event) {
        match self.endpoints.get_mut(index) {
            Some(Endpoint::Tcp(_)) => self.accept(index),
            Some(Endpoint::Udp(udp)) => {
                if udp.ready(&mut self.core, event.is_readable(), event.is_writable()) {
                    self.core.deferred.push(token::endpoint(index));
                }
            }
            Some(Endpoint::Closed) | None => {}
        }
    }

    /// Accepts until the backlog is empty, the budget is spent, or descriptors run out.
    fn accept(&mut self, index: usize) {
        if self.accept_paused_until.is_some() {
            return; // resume_accepting will come back to every listener
        }
        self.core.stats.accept_wakeups.incr();
        for _ in 0..self.core.limits.read_budget * 8 {
            let full = self.conns.len() >= self.core.limits.max_connections;
            let victim = if full { self.victim() } else { None };
            if full
                && victim.is_none()
                && let Some(at) = self.soonest_victim()
            {
                // Full, and no one to close yet, but a connection that has moved nothing
                // will be a candidate within moments: leave newcomers in the kernel's
                // queue until then rather than refuse them (a wave of fresh attackers
                // would otherwise lock them out for that long).
                self.accept_paused_until = Some(at);
                return;
            }
            let Some(Endpoint::Tcp(listener)) = self.endpoints.get_mut(index) else {
                return;
            };
            if self.core.turn_write_left.fanout_left == 0 && listener.service.room().is_some() {
                // A newcomer to a room is announced to every member: that waits for the
                // next turn's budget of deliveries, as the room's speakers do.
                break;
            }
            let (stream, peer) = match listener.accept(self.core.now, &mut self.last_fd_warning) {
                Accepted::Conn(stream, peer) => (stream, peer),
                Accepted::Done => return,
                Accepted::Pause(until) => {
                    self.core.stats.emfile_pauses.incr();
                    self.accept_paused_until = Some(until);
                    return;
                }
            };
            if full {
                match victim {
                    Some(key) => {
                        if let Some(conn) = self.conns.get(key) {
                            info!("{}: closed to make room for {peer}", conn.peer);
                        }
                        self.core.stats.evicted.incr();
                        self.remove(key);
                    }
                    None => {
                        if let Some(Endpoint::Tcp(listener)) = self.endpoints.get_mut(index) {
                            listener.reject(stream, peer);
                        }
                        self.core.stats.rejected.incr();
                        continue;
                    }
                }
            }
            let Some(Endpoint::Tcp(listener)) = self.endpoints.get_mut(index) else {
                return;
            };
            let session = listener.service.new_session(peer);
            let input_limit = listener.service.input_limit();
            let idle_disposable = listener.service.idle_disposable();
            self.add_conn(index, stream, peer, session, input_limit, idle_disposable);
        }
        self.core.deferred.push(token::endpoint(index));
    }

    fn add_conn(
        &mut self,
        endpoint: usize,
        mut stream: mio::net::TcpStream,
        peer: SocketAddr,
        session: Box<dyn crate::session::Session>,
        input_limit: usize,
        idle_disposable: bool,
    ) {
        if self.socket_options.nodelay
            && let Err(e) = stream.set_nodelay(true)
        {
            debug!("{peer}: TCP_NODELAY: {e}");
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let token = token::conn(key);
        if let Err(e) = Conn::register(&mut stream, token, &self.core.registry) {
            warn!("register {peer}: {e}");
            return;
        }
        debug!("accepted {peer} as {token:?}");
        self.next_id += 1;
        let state = ConnCore::new(self.next_id, input_limit, idle_disposable, self.core.now);
        let gauge = match self.services.get(endpoint) {
            Some(Some(gauge)) => Arc::clone(gauge),
            _ => Arc::default(),
        };
        gauge.incr();
        let conn = Conn::new(endpoint, stream, token, peer, session, state, gauge);
        entry.insert(conn);
        self.core.stats.accepted.incr();
        self.core.stats.active.incr();
        let status = self.conns[key].open(&mut self.core);
        self.finish(key, status);
    }

    /// At the connection limit: the connection to close for a newcomer, if any may go (see
    /// [`Conn::eviction_rank`]). A scan of every connection, but only when full, and cheaper
    /// than the alternative: a lockout, where a few thousand stalling clients keep every
    /// well-behaved one out.
    fn victim(&self) -> Option<usize> {
        self.conns
            .iter()
            .filter_map(|(key, conn)| Some((conn.eviction_rank(&self.core)?, key)))
            .min()
            .map(|(_, key)| key)
    }

    /// The earliest time a connection that is stalling, but not yet for long enough, will
    /// rank for eviction (see `Conn::evictable_at`).
    fn soonest_victim(&self) -> Option<Instant> {
        self.conns
            .iter()
            .filter_map(|(_, conn)| conn.evictable_at(&self.core))
            .min()
    }

    fn resume_accepting(&mut self) {
        match self.accept_paused_until {
            Some(until) if until <= self.core.now => {
                self.accept_paused_until = None;
                for index in 0..self.endpoints.len() {
                    if matches!(self.endpoints[index], Endpoint::Tcp(_)) {
                        self.accept(index);
                    }
                }
            }
            _ => {}
        }
    }

    fn run_deferred(&mut self) {
        std::mem::swap(&mut self.core.deferred, &mut self.spare_deferred);
        let mut work = std::mem::take(&mut self.spare_deferred);
        for token in work.drain(..) {
            match token::target(token) {
                Target::Conn(key) => {
                    if let Some(conn) = self.conns.get_mut(key) {
                        let status = conn.drive(&mut self.core);
                        self.finish(key, status);
                    }
                }
                Target::Endpoint(index) => match self.endpoints.get_mut(index) {
                    Some(Endpoint::Tcp(_)) => self.accept(index),
                    Some(Endpoint::Udp(udp)) => {
                        let more = udp.ready(&mut self.core, true, false);
                        if more {
                            self.core.deferred.push(token);
                        }
                    }
                    _ => {}
                },
                Target::Signals | Target::Waker => {}
            }
        }
        self.spare_deferred = work;
    }

    /// Once the reactor holds far enough under its memory budget, drives the connections held
    /// back by it again (next turn, as deferred work: they were ready when held, and no new
    /// event would say so).
    fn release_held_back(&mut self) {
        if self.core.held_back.is_empty() {
            return;
        }
        if !self.core.memory_relaxed() {
            // Still tight. Connections held back and then closed (cut off as too slow, say)
            // leave their tokens here: while clients come and go under a budget that stays
            // exhausted, drop those, so the list stays within the connections that exist.
            if self.core.held_back.len() > 2 * self.conns.len() + 64 {
                let conns = &self.conns;
                // A slot reused by several held connections in turn left one token each.
                self.core.held_back.sort_unstable_by_key(|t| t.0);
                self.core.held_back.dedup();
                self.core
                    .held_back
                    .retain(|&token| match token::target(token) {
                        Target::Conn(key) => conns.get(key).is_some_and(Conn::is_held_back),
                        _ => false,
                    });
            }
            return;
        }
        for token in std::mem::take(&mut self.core.held_back) {
            if let Target::Conn(key) = token::target(token)
                && let Some(conn) = self.conns.get_mut(key)
                && conn.release()
            {
                self.core.deferred.push(token);
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = self.core.now;
        while let Some(entry) = self.core.timers.pop_due(now) {
            let Some(conn) = self.conns.get_mut(entry.key) else {
                continue;
            };
            if conn.id != entry.id || conn.scheduled != Some(entry.when) {
                continue; // stale: the connection is gone or was rescheduled sooner
            }
            conn.scheduled = None;
            let status = if conn.deadline(&self.core) <= now {
                conn.timed_out(&mut self.core)
            } else {
                Ok(()) // activity moved the deadline; finish() reschedules
            };
            self.finish(entry.key, status);
        }
    }

    /// After a connection was driven: deliver its broadcasts, then reschedule or remove it.
    fn finish(&mut self, key: usize, status: Status) {
        let status = status.and_then(|()| self.fulfil_inspection(key));
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        // Most calls broadcast nothing: only then is the sender's group worth looking up.
        let group = (!self.core.broadcast.is_empty()).then(|| Group::of(conn, &self.rooms));
        if status.is_ok() {
            conn.track_progress(&self.core);
            let when = conn.deadline(&self.core);
            if conn.scheduled.is_none_or(|s| when < s) {
                self.core.timers.push(Entry {
                    when,
                    id: conn.id,
                    key,
                });
                conn.scheduled = Some(when);
            }
        }
        let mut doomed = Vec::new();
        if status.is_err() {
            doomed.push(key);
        }
        if let Some(group) = group {
            self.deliver_broadcast(group, key, true, &mut doomed);
        }
        for key in doomed {
            self.remove(key);
        }
    }

    /// Sends the pending broadcast to every other open connection of `group` (a room shared by
    /// several listeners, or one listener's connections); receivers that cannot keep up are
    /// added to `doomed`. Still one pass over the slab: rooms are small and few, and a list per
    /// room would have to be kept in step with every open and close. With `relay`, a message
    /// to a room goes to the other workers too (see `rooms.rs`).
    fn deliver_broadcast(
        &mut self,
        group: Group,
        from: usize,
        relay: bool,
        doomed: &mut Vec<usize>,
    ) {
        if self.core.broadcast.is_empty() {
            return;
        }
        let msg = std::mem::take(&mut self.core.broadcast);
        if relay && let (Group::Room(room), Some((rooms, me))) = (group, &self.shared_rooms) {
            let full = rooms.post(*me, room, &msg);
            if full > 0 {
                self.core.stats.room_relays_dropped.add(full as u64);
                debug!("a room message was not relayed to {full} busy workers");
            }
        }
        let mut receivers = 0;
        for (key, conn) in self.conns.iter_mut() {
            if key == from || Group::of(conn, &self.rooms) != group || !conn.is_open() {
                continue;
            }
            receivers += 1;
            if conn.push(&msg, &mut self.core).is_err() {
                // Its peer is gone (a reset, a broken pipe): the write said so first.
                debug!("{}: closed while a broadcast was written to it", conn.peer);
                doomed.push(key);
            } else if conn.buffered() > self.core.limits.max_output {
                info!("{}: slow consumer disconnected", conn.peer);
                doomed.push(key);
            }
        }
        self.core.broadcast = msg;
        self.core.broadcast.clear();
        let budget = &mut self.core.turn_write_left;
        budget.fanout_left = budget.fanout_left.saturating_sub(receivers);
        if let Some(sender) = self.conns.get_mut(from) {
            sender.note_fanout(receivers);
        }
    }

    /// Closes a connection. What its session broadcasts as it goes (a leave notice) joins
    /// the group's notices, delivered at the end of the turn.
    fn remove(&mut self, key: usize) {
        let Some(conn) = self.conns.try_remove(key) else {
            return;
        };
        let group = Group::of(&conn, &self.rooms);
        debug!("closed {}", conn.peer);
        conn.close(&mut self.core);
        self.core.stats.closed.incr();
        self.core.stats.active.sub(1);
        if self.core.broadcast.is_empty() {
            return;
        }
        let notices = match self.notices.iter_mut().find(|(g, _)| *g == group) {
            Some((_, notices)) => notices,
            None => {
                self.notices.push((group, Vec::new()));
                &mut self.notices.last_mut().expect("just pushed").1
            }
        };
        if notices.len() + self.core.broadcast.len() <= MAX_NOTICES {
            notices.extend_from_slice(&self.core.broadcast);
        } else {
            self.core.stats.notices_dropped.incr();
        }
        self.core.broadcast.clear();
    }

    /// Delivers the leave notices of the connections closed in this turn, all of a group's
    /// in one message: when a thousand members of a room leave at once, each remaining one
    /// gets one delivery, not a thousand (a thousand times a thousand would stall the loop
    /// for a second). Receivers they overwhelm are closed, their notices left for the next
    /// turn.
    fn deliver_notices(&mut self) {
        if self.notices.is_empty() {
            return;
        }
        let mut doomed = Vec::new();
        for (group, notices) in std::mem::take(&mut self.notices) {
            self.core.broadcast = notices;
            // No sender to leave out: every member of the group hears it.
            self.deliver_broadcast(group, usize::MAX, true, &mut doomed);
        }
        for key in doomed {
            self.remove(key);
        }
    }

    /// Delivers what the other workers' members said in shared rooms, within what is left of
    /// the turn's deliveries (what is left over waits in the inbox for the next turn). Each
    /// delivery is a pass over every connection, members or not, so messages go in batches
    /// of up to [`MAX_NOTICES`] bytes, at most [`RELAY_BATCHES`] a turn, whether or not this
    /// worker has members to hear them.
    fn deliver_relayed(&mut self) {
        let (rooms, me) = match &self.shared_rooms {
            Some((rooms, me)) if rooms.has_mail(*me) => (Arc::clone(rooms), *me),
            _ => return,
        };
        let mut doomed = Vec::new();
        for _ in 0..RELAY_BATCHES {
            if self.core.turn_write_left.fanout_left == 0 {
                break;
            }
            let Some((room, message)) = rooms.take(me, MAX_NOTICES) else {
                break;
            };
            self.core.broadcast = message;
            // From elsewhere: no sender here to leave out, and not to be relayed again.
            self.deliver_broadcast(Group::Room(room), usize::MAX, false, &mut doomed);
        }
        for key in doomed {
            self.remove(key);
        }
    }

    /// The one place the reactor's lifecycle changes (traced).
    fn set_lifecycle(&mut self, to: Lifecycle, why: &str) {
        if self.lifecycle != to {
            trace!("reactor: {:?} -> {to:?} ({why})", self.lifecycle);
            self.lifecycle = to;
        }
    }

    /// Begins a graceful stop: marks the reactor draining (health checks now fail) and stops
    /// beaconing; after the drain delay, if any, closes the listeners and drains.
    fn begin_shutdown(&mut self) {
        if self.lifecycle != Lifecycle::Running {
            return;
        }
        self.core.stats.draining.store(true, Ordering::Relaxed);
        // No more beacons: discovery forgets a server that is going away.
        self.periodic.clear();
        let delay = self.core.limits.drain_delay;
        if !delay.is_zero() {
            self.core.now = Instant::now();
            let until = self.core.now + delay;
            self.set_lifecycle(Lifecycle::Delaying { until }, "stop asked, drain delay");
            info!(
                "draining: health checks fail for {delay:?}, then the listeners close \
                 (signal again to close now)"
            );
            return;
        }
        self.close_and_drain();
    }

    /// Stops accepting, lets pending output drain, and arms the drain deadline.
    fn close_and_drain(&mut self) {
        if matches!(
            self.lifecycle,
            Lifecycle::Draining { .. } | Lifecycle::Stopping
        ) {
            return;
        }
        let now = Instant::now();
        self.core.now = now;
        let until = now + self.core.limits.drain_timeout;
        self.set_lifecycle(Lifecycle::Draining { until }, "closing the listeners");
        info!(
            "shutting down: draining {} connections for up to {:?}",
            self.conns.len(),
            self.core.limits.drain_timeout
        );
        for endpoint in &mut self.endpoints {
            let old = std::mem::replace(endpoint, Endpoint::Closed);
            let result = match old {
                Endpoint::Tcp(mut l) => self.core.registry.deregister(&mut l.socket),
                Endpoint::Udp(mut u) => self.core.registry.deregister(&mut u.socket),
                Endpoint::Closed => Ok(()),
            };
            if let Err(e) = result {
                debug!("deregister endpoint: {e}");
            }
        }
        self.periodic.clear();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                let status = conn.begin_shutdown(&mut self.core);
                self.finish(key, status);
            }
        }
    }
}
