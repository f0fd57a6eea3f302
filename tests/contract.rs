//! One set of contract tests, run against both `testing::Harness` and a real `Reactor`.
//!
//! Every protocol is unit-tested through the harness, so the harness must behave as the
//! reactor does, or those tests prove nothing (they drifted once: leftovers at EOF). Each
//! scenario here is a scripted session plus a client script; the script is played twice:
//!
//! ```text
//!   script ──► harness driver: input(piece), drain…, eof, timeout (clock advanced)  ──┐
//!          └─► std TcpStream ──► Reactor on 127.0.0.1 ──► the same session          ──┴─► same bytes,
//!                                                                                     same callbacks
//! ```
//!
//! Sessions are wrapped in [`Logged`], which records every callback into a shared log (the
//! reactor runs them on its own thread). What the contract promises is compared exactly; what
//! it leaves to timing is normalised away first ([`canonical`]): how reads split the input (an
//! offer that consumed nothing; consecutive consumptions are merged) and when drains come (a
//! drain that wrote nothing is dropped; productive drains are counted, not placed).
//!
//! The reactor client waits on signals from the log, never on a sleep: after each piece it
//! sends, it waits until the session has been offered it, so the reactor sees the same pieces
//! as the harness.
//!
//! What the reactor lends a session is lent on both sides: a file queue (`Ctx::send_file`),
//! memory pressure (`Ctx::memory_tight`, from a budget the harness driver models for one
//! connection) and rooms (`Ctx::broadcast`, `Ctx::join`: several connections play one script,
//! the harness side routing broadcasts to each member's group as the reactor does, the reactor
//! side waiting after each step until every member has heard what it heard in the harness).
//! A graceful stop (`on_shutdown`) is played on both sides too.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use evserve::config::Limits;
use evserve::reactor::Handle;
use evserve::session::{Ctx, Flow, RoomId, Service, Session, Step};
use evserve::testing::Harness;
use util::inproc::{InProcess, wait_until};

// ---------------------------------------------------------------------------------------------
// The log

/// One callback as the session saw it, with what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Open(Flow),
    Input {
        offered: Vec<u8>,
        /// Bytes at the end of `offered` never offered before.
        fresh: usize,
        consumed: usize,
        flow: Flow,
    },
    Drain {
        wrote: bool,
        flow: Flow,
    },
    Eof(Vec<u8>, Flow),
    Timeout(Flow),
    Broadcast(Vec<u8>, Flow),
    /// `on_shutdown`: the server is stopping.
    Shutdown,
    Close,
    /// Something the scripted session itself reports (a body finished).
    Note(String),
}

impl Event {
    fn flow(&self) -> Option<Flow> {
        match self {
            Event::Open(f)
            | Event::Input { flow: f, .. }
            | Event::Drain { flow: f, .. }
            | Event::Eof(_, f)
            | Event::Timeout(f)
            | Event::Broadcast(_, f) => Some(*f),
            Event::Shutdown | Event::Close | Event::Note(_) => None,
        }
    }
}

/// A connection's callbacks, shared between the reactor thread and the test.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Event>>>);

impl Log {
    fn push(&self, e: Event) {
        self.0.lock().unwrap().push(e);
    }

    fn note(&self, s: impl Into<String>) {
        self.push(Event::Note(s.into()));
    }

    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until `ok` holds of the log.
    fn wait(&self, what: &str, ok: impl Fn(&[Event]) -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if ok(&self.0.lock().unwrap()) {
                return;
            }
            assert!(
                Instant::now() < until,
                "waited 10 s for {what}; log: {:?}",
                short(&self.events())
            );
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Whether the session has said Close or Abort, or is gone.
fn ended(log: &[Event]) -> bool {
    log.iter()
        .any(|e| e == &Event::Close || e.flow().is_some_and(|f| f != Flow::Continue))
}

fn fresh_total(log: &[Event]) -> usize {
    log.iter()
        .map(|e| match e {
            Event::Input { fresh, .. } => *fresh,
            _ => 0,
        })
        .sum()
}

/// The log with long byte strings cut, for failure messages.
fn short(log: &[Event]) -> Vec<String> {
    log.iter()
        .map(|e| {
            let s = format!("{e:?}");
            if s.len() > 200 {
                format!("{}…", &s[..200])
            } else {
                s
            }
        })
        .collect()
}

/// Records every callback of `inner` into `log`.
struct Logged {
    inner: Box<dyn Session>,
    log: Log,
    /// Bytes left unconsumed by the last input offer.
    leftover: usize,
}

impl Session for Logged {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let flow = self.inner.on_open(cx);
        self.log.push(Event::Open(flow));
        flow
    }

    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let step = self.inner.on_input(input, cx);
        let fresh = input.len().saturating_sub(self.leftover);
        self.leftover = input.len() - step.consumed.min(input.len());
        self.log.push(Event::Input {
            offered: input.to_vec(),
            fresh,
            consumed: step.consumed,
            flow: step.flow,
        });
        step
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let before = cx.pending_output();
        let flow = self.inner.on_drain(cx);
        let wrote = cx.pending_output() > before;
        self.log.push(Event::Drain { wrote, flow });
        flow
    }

    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        let flow = self.inner.on_eof(input, cx);
        self.log.push(Event::Eof(input.to_vec(), flow));
        flow
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let flow = self.inner.on_timeout(cx);
        self.log.push(Event::Timeout(flow));
        flow
    }

    fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
        let flow = self.inner.on_broadcast(message, cx);
        self.log.push(Event::Broadcast(message.to_vec(), flow));
        flow
    }

    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
        self.inner.on_shutdown(cx);
        self.log.push(Event::Shutdown);
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        self.inner.on_close(cx);
        self.log.push(Event::Close);
    }
}

/// Makes a scripted session that may write notes into the log.
type Make = fn(Log) -> Box<dyn Session>;

fn logged(make: Make) -> (Logged, Log) {
    let log = Log::default();
    let session = Logged {
        inner: make(log.clone()),
        log: log.clone(),
        leftover: 0,
    };
    (session, log)
}

// ---------------------------------------------------------------------------------------------
// What the contract promises, and what is left to timing

/// Checks one run's log against the contract: opened first and closed last, once; every offer
/// starts with what the last one left; `on_eof` gets exactly that leftover, once, and after it
/// only the leftover is offered again; nothing but `on_close` after a Close or an Abort.
fn check_contract(who: &str, log: &[Event]) {
    let log_s = || short(log);
    assert!(
        matches!(log.first(), Some(Event::Open(_))),
        "{who}: not opened first: {:?}",
        log_s()
    );
    assert_eq!(log.last(), Some(&Event::Close), "{who}: {:?}", log_s());
    let (mut leftover, mut eof, mut done) = (Vec::new(), false, false);
    for (i, e) in log.iter().enumerate() {
        match e {
            Event::Close => assert_eq!(i, log.len() - 1, "{who}: closed twice"),
            Event::Note(_) => {}
            _ => assert!(!done, "{who}: {e:?} after Close/Abort: {:?}", log_s()),
        }
        match e {
            Event::Input {
                offered, consumed, ..
            } => {
                assert!(
                    offered.starts_with(&leftover),
                    "{who}: offer {i} lost the leftover: {:?}",
                    log_s()
                );
                assert!(
                    !eof || offered == &leftover,
                    "{who}: new bytes after EOF: {:?}",
                    log_s()
                );
                leftover = offered[*consumed..].to_vec();
            }
            Event::Eof(input, _) => {
                assert!(!eof, "{who}: on_eof twice");
                assert_eq!(input, &leftover, "{who}: on_eof without the leftover");
                eof = true;
            }
            _ => {}
        }
        done |= e.flow().is_some_and(|f| f != Flow::Continue);
    }
}

/// The log without what timing decides: offers that consumed nothing and went on (how reads
/// split), consecutive consumptions merged into one, and drains that went on (when the socket
/// took the output).
fn canonical(log: &[Event]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for e in log {
        match e {
            Event::Drain {
                flow: Flow::Continue,
                ..
            }
            | Event::Input {
                consumed: 0,
                flow: Flow::Continue,
                ..
            } => {}
            Event::Input {
                offered,
                consumed,
                flow,
                ..
            } => {
                if let Some(Event::Input {
                    offered: o,
                    consumed: c,
                    flow: f,
                    ..
                }) = out.last_mut()
                {
                    o.extend_from_slice(&offered[..*consumed]);
                    *c += consumed;
                    *f = *flow;
                } else {
                    out.push(Event::Input {
                        offered: offered[..*consumed].to_vec(),
                        fresh: 0,
                        consumed: *consumed,
                        flow: *flow,
                    });
                }
            }
            e => out.push(e.clone()),
        }
    }
    out
}

fn productive_drains(log: &[Event]) -> usize {
    log.iter()
        .filter(|e| matches!(e, Event::Drain { wrote: true, .. }))
        .count()
}

fn notes(log: &[Event]) -> Vec<String> {
    log.iter()
        .filter_map(|e| match e {
            Event::Note(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    assert!(
        got == want,
        "{what}: {} bytes, {} expected, first difference at {:?}; got {:?}",
        got.len(),
        want.len(),
        got.iter().zip(want).position(|(a, b)| a != b),
        String::from_utf8_lossy(&got[..got.len().min(200)])
    );
}

fn assert_same_runs(harness: &[Event], reactor: &[Event]) {
    check_contract("harness", harness);
    check_contract("reactor", reactor);
    assert_eq!(
        short(&canonical(harness)),
        short(&canonical(reactor)),
        "callbacks differ (harness left, reactor right)"
    );
    assert_eq!(
        productive_drains(harness),
        productive_drains(reactor),
        "productive drains"
    );
}

// ---------------------------------------------------------------------------------------------
// The shared driver: one client script, played through the harness and through a reactor

/// What the client does, in order.
#[derive(Debug, Clone)]
enum Act {
    /// Sends a piece (and, against the reactor, waits until the session was offered it).
    Send(&'static [u8]),
    /// Reads exactly this many bytes: the client reads, so output drains.
    Read(usize),
    /// `shutdown(Write)`: the session hears `on_eof`.
    Shutdown,
    /// The session's deadline passes (the harness's clock is moved to it).
    Timeout,
    /// Reads until the server closes.
    ReadToEnd,
    /// The server stops gracefully (SIGTERM, `Handle::stop`): the session hears
    /// `on_shutdown`, and the connection closes once what is owed is written.
    Stop,
}

/// How much output the harness lets through while the client is not reading: a socket's
/// buffers, roughly. It only decides whether a stream stalls before its end, and the scenarios
/// that care stream far more than any socket buffers.
const WINDOW: usize = 1 << 20;

/// The harness with a pretend socket in front of it.
struct HarnessRun {
    h: Harness<Logged>,
    /// The reactor's memory budget (`Limits::max_memory`): the harness is told memory is
    /// tight while what this connection holds is over it, as the reactor would say.
    max_memory: usize,
    got: Vec<u8>,
    /// Output let through since the client last read.
    unread: usize,
    /// The session produced output, or output was written, since its last drain offer.
    want_drain: bool,
    ended: bool,
}

impl HarnessRun {
    fn new(session: Logged) -> HarnessRun {
        HarnessRun::with_limits(session, &Limits::default())
    }

    fn with_limits(session: Logged, limits: &Limits) -> HarnessRun {
        let mut run = HarnessRun {
            // The reactor lends a file queue on plain TCP; so does the harness here.
            h: Harness::new(session).lending_files(),
            max_memory: limits.max_memory,
            got: Vec::new(),
            unread: 0,
            want_drain: false,
            ended: false,
        };
        run.weigh();
        let flow = run.h.open();
        run.after(flow, false);
        run
    }

    /// Tells the session whether memory is tight, as the reactor does before every call:
    /// whether the bytes held (output not yet taken, unconsumed input, and what the session
    /// says it holds, for itself or for its peer) are over the budget. A model of one
    /// connection: the scenarios that use it hold far more than anything else could.
    fn weigh(&mut self) {
        let held = self.h.output().len()
            + self.h.pending_input().len()
            + self.h.held()
            + self.h.held_for_peer();
        self.h.set_memory_tight(held > self.max_memory);
    }

    /// Lets output through to the client, as much as the socket would take. Output produced
    /// (or written) earns the session a drain offer, as in the reactor; nothing else does.
    fn take(&mut self, reading: bool) -> usize {
        self.want_drain |= !self.h.output().is_empty() || self.h.queued_file().is_some();
        let room = if reading {
            usize::MAX
        } else {
            WINDOW.saturating_sub(self.unread)
        };
        let bytes = self.h.take_output_upto(room);
        if !reading {
            self.unread += bytes.len();
        }
        self.got.extend_from_slice(&bytes);
        bytes.len()
    }

    /// What the reactor does after a callback returned `flow`.
    fn after(&mut self, flow: Flow, reading: bool) {
        match flow {
            Flow::Continue => {
                self.take(reading);
                self.drain(reading);
            }
            Flow::Close => {
                // Everything owed is delivered, then the connection goes.
                self.take(true);
                self.end();
            }
            Flow::Abort => {
                self.h.take_output();
                self.end();
            }
        }
    }

    fn end(&mut self) {
        self.ended = true;
        self.h.close();
        assert!(self.h.output().is_empty(), "on_close output is discarded");
    }

    /// Offers drains while they make progress (output taken or input consumed).
    fn drain(&mut self, reading: bool) {
        for _ in 0..1_000_000 {
            if self.ended {
                return;
            }
            if !std::mem::take(&mut self.want_drain) {
                return;
            }
            let input = self.h.pending_input().len();
            self.weigh();
            let flow = self.h.drain();
            if flow != Flow::Continue {
                return self.after(flow, reading);
            }
            if self.take(reading) == 0 && self.h.pending_input().len() == input {
                return;
            }
        }
        panic!("the session never stops producing");
    }

    /// Plays one act of the client's script.
    fn step(&mut self, act: &Act) {
        if self.ended {
            return;
        }
        self.weigh();
        match act {
            Act::Send(bytes) => {
                let flow = self.h.input(bytes).flow;
                self.after(flow, false);
            }
            Act::Read(_) | Act::ReadToEnd => {
                self.take(true);
                self.drain(true);
                self.unread = 0;
            }
            Act::Shutdown => {
                let flow = self.h.eof(b"");
                self.after(flow, false);
            }
            Act::Timeout => {
                let deadline = self.h.deadline().expect("Timeout with no deadline set");
                let by = deadline.saturating_duration_since(self.h.now());
                self.h.advance(by);
                let flow = self.h.timeout();
                self.after(flow, false);
            }
            Act::Stop => {
                // As after a Close, but a session streaming an answer is still offered
                // drains until it has written it all.
                self.h.shutdown();
                self.want_drain = true;
                self.drain(true);
                if !self.ended {
                    self.after(Flow::Close, true);
                }
            }
        }
    }

    fn play(mut self, script: &[Act]) -> Vec<u8> {
        for act in script {
            self.step(act);
        }
        assert!(
            self.ended,
            "the harness run ended with the session open: the reactor would wait for the client"
        );
        self.got
    }
}

fn run_harness(limits: &Limits, make: Make, script: &[Act]) -> (Vec<u8>, Vec<Event>) {
    let (session, log) = logged(make);
    let got = HarnessRun::with_limits(session, limits).play(script);
    (got, log.events())
}

/// Makes a logged session per accepted connection and keeps each one's log.
struct LoggedService {
    make: Make,
    logs: Arc<Mutex<Vec<Log>>>,
    /// The room its connections start in (`Service::room`).
    room: Option<RoomId>,
}

impl Service for LoggedService {
    fn name(&self) -> &'static str {
        "contract"
    }

    fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
        let (session, log) = logged(self.make);
        self.logs.lock().unwrap().push(log);
        Box::new(session)
    }

    fn room(&self) -> Option<RoomId> {
        self.room
    }
}

/// A reactor on its own thread serving logged sessions, stopped and joined on drop.
struct Server {
    reactor: InProcess,
    logs: Arc<Mutex<Vec<Log>>>,
}

impl Server {
    fn with_limits(limits: Limits, make: Make) -> Server {
        Server::serving(limits, None, make)
    }

    /// Serves `make`'s sessions on a listener whose connections start in `room`.
    fn serving(limits: Limits, room: Option<RoomId>, make: Make) -> Server {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let service_logs = logs.clone();
        let reactor = InProcess::start(limits, move || {
            Box::new(LoggedService {
                make,
                logs: service_logs,
                room,
            })
        });
        Server { reactor, logs }
    }

    /// Connects, and waits until the reactor has opened the session.
    fn connect(&self) -> (TcpStream, Log) {
        let n = self.logs.lock().unwrap().len();
        let s = self.reactor.connect();
        wait_until("the reactor to accept", || {
            self.logs.lock().unwrap().len() > n
        });
        let log = self.logs.lock().unwrap()[n].clone();
        log.wait("on_open", |l| !l.is_empty());
        (s, log)
    }
}

fn read_exact(s: &mut TcpStream, n: usize, got: &mut Vec<u8>) {
    let start = got.len();
    got.resize(start + n, 0);
    s.read_exact(&mut got[start..])
        .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
}

/// Reads until the server closes (a reset after an abort counts as closed).
fn read_to_end(s: &mut TcpStream, got: &mut Vec<u8>) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("reading to the end: {e}"),
        }
    }
}

/// The client side of one connection to the reactor, playing a script act by act.
struct Client {
    s: TcpStream,
    log: Log,
    /// Stops the server ([`Act::Stop`]).
    stop: Handle,
    /// Bytes sent so far, and timeouts waited for.
    sent: usize,
    timeouts: usize,
    got: Vec<u8>,
}

impl Client {
    fn open(server: &Server) -> Client {
        let (s, log) = server.connect();
        Client {
            s,
            log,
            stop: server.reactor.handle.clone(),
            sent: 0,
            timeouts: 0,
            got: Vec::new(),
        }
    }

    /// Plays one act, and waits until the session has seen what it should have.
    fn step(&mut self, act: &Act) {
        let Client { s, log, .. } = self;
        match act {
            Act::Send(bytes) => {
                if s.write_all(bytes).is_err() {
                    assert!(ended(&log.events()), "write failed with the session open");
                }
                self.sent += bytes.len();
                let sent = self.sent;
                log.wait("the session to be offered the piece", |l| {
                    fresh_total(l) >= sent || ended(l)
                });
            }
            Act::Read(n) => read_exact(s, *n, &mut self.got),
            Act::Shutdown => {
                // After an abort the socket may be gone already.
                let _ = s.shutdown(Shutdown::Write);
                log.wait("on_eof", |l| {
                    l.iter().any(|e| matches!(e, Event::Eof(..))) || ended(l)
                });
            }
            Act::Timeout => {
                self.timeouts += 1;
                let timeouts = self.timeouts;
                log.wait("on_timeout", |l| {
                    l.iter().filter(|e| matches!(e, Event::Timeout(_))).count() >= timeouts
                });
            }
            Act::ReadToEnd => read_to_end(s, &mut self.got),
            Act::Stop => {
                self.stop.stop();
                log.wait("on_shutdown", |l| l.contains(&Event::Shutdown) || ended(l));
            }
        }
    }

    /// Hangs up, and returns what it read and the session's callbacks once it is closed.
    fn finish(self) -> (Vec<u8>, Vec<Event>) {
        drop(self.s);
        self.log.wait("on_close", |l| l.contains(&Event::Close));
        (self.got, self.log.events())
    }
}

fn run_reactor(limits: &Limits, make: Make, script: &[Act]) -> (Vec<u8>, Vec<Event>) {
    let server = Server::with_limits(limits.clone(), make);
    let mut client = Client::open(&server);
    for act in script {
        client.step(act);
    }
    client.finish()
}

/// Plays `script` both ways; asserts the output is `want` both times and the callbacks agree.
/// Returns the harness's log.
fn run_both(make: Make, script: &[Act], want: &[u8]) -> Vec<Event> {
    run_both_with(&Limits::default(), make, script, want)
}

/// [`run_both`] with the reactor's `limits` (and the harness told what they imply).
fn run_both_with(limits: &Limits, make: Make, script: &[Act], want: &[u8]) -> Vec<Event> {
    let (h_got, h_log) = run_harness(limits, make, script);
    let (r_got, r_log) = run_reactor(limits, make, script);
    assert_same_bytes("harness output", &h_got, want);
    assert_same_bytes("reactor output", &r_got, want);
    assert_same_runs(&h_log, &r_log);
    h_log
}

// ---------------------------------------------------------------------------------------------
// Scenario: partial consumption, forwarding interleaved with the session's own output, EOF
// with a partial line left.

/// Greets, then takes one complete line per call: a line starting with `=` is forwarded as it
/// is, any other is forwarded after its length (`5:alpha`). A partial line stays unconsumed
/// until the rest arrives; at EOF it is reported as `eof:<rest>`.
struct Lines;

impl Session for Lines {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.out().extend_from_slice(b"hello\n");
        Flow::Continue
    }

    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Step::consumed(0);
        };
        if input[0] != b'=' {
            cx.out().extend_from_slice(format!("{end}:").as_bytes());
        }
        Step::forward(end + 1)
    }

    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        cx.out().extend_from_slice(b"eof:");
        cx.out().extend_from_slice(input);
        cx.out().extend_from_slice(b"\n");
        Flow::Close
    }
}

#[test]
fn partial_lines_wait_for_their_rest_and_forwarding_follows_own_output() {
    // "=direct" is forwarded straight from the read buffer; "alpha" (re-offered after a drain)
    // and "=beta" (completed by a later read) from kept input; "gam" is left at EOF.
    let answered = b"hello\n=direct\n5:alpha\n=beta\n";
    let script = [
        Act::Send(b"=direct\nalpha\n=be"),
        Act::Send(b"ta\ngam"),
        Act::Read(answered.len()),
        Act::Shutdown,
        Act::ReadToEnd,
    ];
    let want = [&answered[..], b"eof:gam\n"].concat();
    let log = run_both(|_| Box::new(Lines), &script, &want);
    assert!(log.contains(&Event::Eof(b"gam".to_vec(), Flow::Close)));
    assert!(
        log.iter().any(|e| matches!(e,
            Event::Input { offered, consumed: 0, .. } if offered == b"=be")),
        "the partial line was offered and left"
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario: streaming from on_drain while pipelined requests wait; EOF in mid-stream.

const CHUNK: usize = 16 * 1024;
/// Produce more only while at most this much is pending.
const MARK: usize = 64 * 1024;

/// `get N` answers `body N` and N KiB, streamed a chunk per drain while at most [`MARK`] is
/// pending; requests behind it wait (consumed: nothing) until it is done. `end` closes. At EOF
/// it goes on while a body or a complete request is left, and reports a partial one.
struct Streamer {
    log: Log,
    /// The body being streamed: its size in KiB, and how much of it is sent.
    body: Option<(usize, usize)>,
    eof: bool,
}

/// The byte at `at` of a body: changes every KiB, so a lost or repeated chunk shows.
fn body_byte(at: usize) -> u8 {
    b'a' + (at / 1024 % 26) as u8
}

fn body(kib: usize) -> Vec<u8> {
    let mut v = format!("body {kib}\n").into_bytes();
    v.extend((0..kib * 1024).map(body_byte));
    v
}

impl Streamer {
    fn make(log: Log) -> Box<dyn Session> {
        Box::new(Streamer {
            log,
            body: None,
            eof: false,
        })
    }

    fn chunk(&mut self, cx: &mut Ctx<'_>) {
        let Some((kib, sent)) = self.body else { return };
        let end = (sent + CHUNK).min(kib * 1024);
        let bytes: Vec<u8> = (sent..end).map(body_byte).collect();
        cx.out().extend_from_slice(&bytes);
        if end == kib * 1024 {
            self.body = None;
            self.log.note(format!("done {kib}"));
        } else {
            self.body = Some((kib, end));
        }
    }
}

impl Session for Streamer {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        if self.body.is_some() {
            return Step::consumed(0); // pipelined: waits for the body ahead of it
        }
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            if self.eof {
                cx.out().extend_from_slice(b"eof:");
                cx.out().extend_from_slice(input);
                cx.out().extend_from_slice(b"\n");
                return Step {
                    consumed: 0,
                    forward: 0,
                    flow: Flow::Close,
                };
            }
            return Step::consumed(0);
        };
        let line = &input[..end];
        if line == b"end" {
            cx.out().extend_from_slice(b"bye\n");
            return Step::close(end + 1);
        }
        let kib: usize = line
            .strip_prefix(b"get ")
            .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
            .expect("a get request");
        cx.out()
            .extend_from_slice(format!("body {kib}\n").as_bytes());
        self.body = Some((kib, 0));
        self.chunk(cx);
        Step::consumed(end + 1)
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if cx.pending_output() <= MARK {
            self.chunk(cx);
        }
        Flow::Continue
    }

    fn on_eof(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Flow {
        self.eof = true;
        if self.body.is_some() || input.contains(&b'\n') {
            Flow::Continue // still answering; the leftover comes back after a drain
        } else {
            Flow::Close
        }
    }
}

#[test]
fn a_body_streams_from_drains_while_pipelined_requests_wait() {
    let want = [body(256), body(1), body(200), b"bye\n".to_vec()].concat();
    let script = [
        Act::Send(b"get 256\nget 1\n"),
        Act::Send(b"get 2"),
        Act::Send(b"00\nend\n"),
        Act::Read(want.len()),
        Act::ReadToEnd,
    ];
    let log = run_both(Streamer::make, &script, &want);
    assert_eq!(notes(&log), ["done 256", "done 1", "done 200"]);
    assert!(productive_drains(&log) >= 256 * 1024 / CHUNK - 1);
}

/// A body larger than any socket buffers (so it cannot be done before the EOF is read), and
/// behind it a request and a partial one: `on_eof` answers Continue, and after the body the
/// session is offered the leftover again, serves the request, and reports the partial one.
#[test]
fn eof_in_mid_stream_offers_the_leftover_again_after_a_drain() {
    const BIG: usize = 16 * 1024; // KiB
    let want = [body(BIG), body(1), b"eof:part\n".to_vec()].concat();
    let script = [
        Act::Send(b"get 16384\nget 1\npart"),
        Act::Shutdown,
        Act::ReadToEnd,
    ];
    let log = run_both(Streamer::make, &script, &want);
    let eof = log
        .iter()
        .position(|e| e == &Event::Eof(b"get 1\npart".to_vec(), Flow::Continue))
        .expect("on_eof with the leftover, answered Continue");
    let done = log
        .iter()
        .position(|e| e == &Event::Note(format!("done {BIG}")))
        .unwrap();
    assert!(eof < done, "EOF came in mid-stream");
    assert!(log[eof..].iter().any(|e| matches!(e,
        Event::Input { offered, consumed: 6, .. } if offered == b"get 1\npart")));
}

// ---------------------------------------------------------------------------------------------
// Scenario: Close with output pending, and Abort.

/// `hello` → `hi`; `quit` → 2 MiB (more than `max_output`) and Close; `abort` → Abort.
struct Commands;

const GOODBYE: usize = 2 << 20;

fn goodbye() -> Vec<u8> {
    (0..GOODBYE).map(|i| b'A' + (i / 1000 % 26) as u8).collect()
}

impl Session for Commands {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Step::consumed(0);
        };
        match &input[..end] {
            b"hello" => {
                cx.out().extend_from_slice(b"hi\n");
                Step::consumed(end + 1)
            }
            b"quit" => {
                cx.out().extend_from_slice(&goodbye());
                Step::close(end + 1)
            }
            b"abort" => Step {
                consumed: end + 1,
                forward: 0,
                flow: Flow::Abort,
            },
            b"shout and abort" => {
                cx.out().extend_from_slice(b"last words\n");
                Step {
                    consumed: end + 1,
                    forward: 0,
                    flow: Flow::Abort,
                }
            }
            other => panic!("unexpected line {other:?}"),
        }
    }
}

#[test]
fn close_delivers_all_pending_output_then_eof_and_serves_no_more_input() {
    let script = [
        Act::Send(b"hello\n"),
        Act::Read(3),
        Act::Send(b"quit\nnever served\n"),
        Act::ReadToEnd,
    ];
    let want = [b"hi\n".to_vec(), goodbye()].concat();
    let log = run_both(|_| Box::new(Commands), &script, &want);
    assert_eq!(
        canonical(&log),
        [
            Event::Open(Flow::Continue),
            Event::Input {
                offered: b"hello\nquit\n".to_vec(),
                fresh: 0,
                consumed: 11,
                flow: Flow::Close
            },
            Event::Close
        ]
    );
}

#[test]
fn abort_drops_the_connection_without_eof_or_more_input() {
    let script = [
        Act::Send(b"hello\n"),
        Act::Read(3),
        Act::Send(b"abort\nmore\n"),
        Act::Shutdown,
        Act::ReadToEnd,
    ];
    let log = run_both(|_| Box::new(Commands), &script, b"hi\n");
    assert!(!log.iter().any(|e| matches!(e, Event::Eof(..))));
}

/// `Flow::Abort` drops the connection "discarding any pending output", output written in the
/// very call that aborts included: the harness discards it, and the reactor drops it before
/// writing (`Conn::after_call`), so the peer never sees it.
#[test]
fn abort_discards_output_written_in_the_aborting_call() {
    let script = [
        Act::Send(b"hello\n"),
        Act::Read(3),
        Act::Send(b"shout and abort\n"),
        Act::ReadToEnd,
    ];
    run_both(|_| Box::new(Commands), &script, b"hi\n");
}

/// Greets and closes at once (a server that is full).
struct Busy;

impl Session for Busy {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.out().extend_from_slice(b"busy, try later\n");
        Flow::Close
    }

    fn on_input(&mut self, _input: &[u8], _cx: &mut Ctx<'_>) -> Step {
        panic!("input offered to a session that closed in on_open");
    }
}

#[test]
fn close_from_on_open_delivers_the_greeting_and_serves_nothing() {
    let script = [Act::Send(b"hello?\n"), Act::ReadToEnd];
    let log = run_both(|_| Box::new(Busy), &script, b"busy, try later\n");
    assert_eq!(log, [Event::Open(Flow::Close), Event::Close]);
}

// ---------------------------------------------------------------------------------------------
// Scenario: a drain is earned by output, not by input.

/// Consumes `go` without a word; would say `drained` if ever offered a drain; `end` closes
/// with `bye`.
struct Silent;

impl Session for Silent {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Step::consumed(0);
        };
        if &input[..end] == b"end" {
            cx.out().extend_from_slice(b"bye\n");
            return Step::close(end + 1);
        }
        Step::consumed(end + 1)
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.out().extend_from_slice(b"drained\n");
        Flow::Continue
    }
}

#[test]
fn input_that_produces_no_output_earns_no_drain() {
    let script = [
        Act::Send(b"go\n"),
        Act::Send(b"go\n"),
        Act::Send(b"end\n"),
        Act::ReadToEnd,
    ];
    let log = run_both(|_| Box::new(Silent), &script, b"bye\n");
    assert!(!log.iter().any(|e| matches!(e, Event::Drain { .. })));
}

// ---------------------------------------------------------------------------------------------
// Scenario: set_deadline → on_timeout.

/// `wait` sets a deadline 30 ms ahead. The first timeout answers and clears it (and goes on);
/// the second answers and goes on *without* moving it, which the contract turns into a close.
#[derive(Default)]
struct Deadline {
    timeouts: usize,
}

impl Session for Deadline {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Step::consumed(0);
        };
        assert_eq!(&input[..end], b"wait");
        let deadline = cx.now() + Duration::from_millis(30);
        cx.set_deadline(Some(deadline));
        cx.out().extend_from_slice(b"waiting\n");
        Step::consumed(end + 1)
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.timeouts += 1;
        cx.out().extend_from_slice(b"timeout\n");
        if self.timeouts == 1 {
            cx.set_deadline(None);
        }
        Flow::Continue
    }
}

#[test]
fn a_deadline_fires_on_timeout_and_one_not_moved_closes() {
    let script = [
        Act::Send(b"wait\n"),
        Act::Read(8),
        Act::Timeout,
        Act::Read(8),
        Act::Send(b"wait\n"),
        Act::Timeout,
        Act::ReadToEnd,
    ];
    let want = b"waiting\ntimeout\nwaiting\ntimeout\n";
    let log = run_both(|_| Box::<Deadline>::default(), &script, want);
    let timeouts = log
        .iter()
        .filter(|e| matches!(e, Event::Timeout(_)))
        .count();
    assert_eq!(timeouts, 2);
}

// ---------------------------------------------------------------------------------------------
// Scenario: broadcast between two connections of one listener.

/// Announces itself on open; `say X` broadcasts X and answers `ok`; a broadcast received is
/// written as `[X]` and (wrongly) relayed, which the contract drops; on close it broadcasts a
/// leave notice and writes a line its gone peer must never see.
struct Room;

impl Session for Room {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.broadcast(b"joined");
        Flow::Continue
    }

    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Step::consumed(0);
        };
        let said = input[..end].strip_prefix(b"say ").expect("say");
        cx.broadcast(said);
        cx.out().extend_from_slice(b"ok\n");
        Step::consumed(end + 1)
    }

    fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
        cx.out().extend_from_slice(b"[");
        cx.out().extend_from_slice(message);
        cx.out().extend_from_slice(b"]");
        cx.broadcast(b"relayed");
        Flow::Continue
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        cx.broadcast(b"left");
        cx.out().extend_from_slice(b"never seen");
    }
}

#[test]
fn a_broadcast_reaches_the_other_connection_once_and_a_leave_notice_too() {
    // B opens first (nobody to hear it), then A.
    let (b, a) = (0, 1);
    let script = [
        (a, Act::Send(b"say hi\n")),
        (a, Act::Read(3)),
        (a, Act::Shutdown),
        (a, Act::ReadToEnd),
        (b, Act::Shutdown),
        (b, Act::ReadToEnd),
    ];
    let want: [&[u8]; 2] = [b"[joined][hi][left]", b"ok\n"];
    let logs = run_members(None, |_| Box::new(Room), &script, &want);
    assert_eq!(received(&logs[b]), [&b"joined"[..], b"hi", b"left"]);
}

// ---------------------------------------------------------------------------------------------
// Scenario: a file queued between outputs (`Ctx::send_file`): the reactor sends it with
// sendfile, the harness reads it into the output; both put it after the output written before
// it and before the output written after.

/// The file every `FileBetween` session serves, written once.
fn served_file() -> &'static std::path::Path {
    static FILE: std::sync::OnceLock<tempfile::NamedTempFile> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let mut f = tempfile::NamedTempFile::new().expect("create a temporary file");
        f.write_all(b"0123456789FILE-BODY")
            .expect("write the temporary file");
        f
    })
    .path()
}

/// On `get\n`: writes a head, queues bytes 10.. of the served file, writes a tail. On
/// `bye\n`: closes.
struct FileBetween;

impl Session for FileBetween {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Step::consumed(0);
        };
        let flow = match &input[..end] {
            b"get" => {
                assert!(cx.can_send_files(), "a file queue is lent");
                cx.out().extend_from_slice(b"head[");
                let file = std::fs::File::open(served_file()).expect("open the served file");
                let slice = evserve::session::FileSlice {
                    file,
                    offset: 10,
                    len: 9,
                };
                assert!(cx.send_file(slice).is_ok(), "nothing was queued before");
                cx.out().extend_from_slice(b"]tail\n");
                Flow::Continue
            }
            _ => Flow::Close,
        };
        Step {
            flow,
            ..Step::consumed(end + 1)
        }
    }
}

#[test]
fn a_queued_file_goes_between_the_output_before_and_after_it() {
    let script = [
        Act::Send(b"get\n"),
        Act::Read(20),
        Act::Send(b"bye\n"),
        Act::ReadToEnd,
    ];
    run_both(|_| Box::new(FileBetween), &script, b"head[FILE-BODY]tail\n");
}

// ---------------------------------------------------------------------------------------------
// Scenario: memory pressure (`Ctx::memory_tight`). The reactor says memory is tight while the
// bytes its connections hold are over `--max-memory`, its own buffers and what sessions report
// holding (`Ctx::set_held`, `Ctx::set_held_for_peer`) together; the harness is told the same
// by the driver's model of that budget ([`HarnessRun::weigh`]).

/// The memory budget of the pressure scenarios: far under what [`Hoarder`] holds, far over
/// anything else.
const BUDGET: usize = 64 * 1024;

/// `hold N` reports N bytes held for the peer (`Ctx::set_held_for_peer`: counted, but never a
/// reason to stop reading the connection, so it can be told `free` again) and answers `held`;
/// `free` reports none and answers `freed`; `tight?` answers `tight` or `easy`; `bye` closes.
struct Hoarder;

impl Session for Hoarder {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Step::consumed(0);
        };
        let line = std::str::from_utf8(&input[..end]).expect("a text line");
        let answer: &[u8] = match line.split_once(' ') {
            Some(("hold", n)) => {
                cx.set_held_for_peer(n.parse().expect("a byte count"));
                b"held\n"
            }
            None if line == "free" => {
                cx.set_held_for_peer(0);
                b"freed\n"
            }
            None if line == "tight?" && cx.memory_tight() => b"tight\n",
            None if line == "tight?" => b"easy\n",
            _ => return Step::close(end + 1),
        };
        cx.out().extend_from_slice(answer);
        Step::consumed(end + 1)
    }
}

#[test]
fn a_session_is_told_memory_is_tight_while_held_bytes_are_over_the_budget() {
    let limits = Limits {
        max_memory: BUDGET,
        ..Limits::default()
    };
    let script = [
        Act::Send(b"tight?\n"),
        Act::Read(5),
        Act::Send(b"hold 1048576\n"),
        Act::Read(5),
        Act::Send(b"tight?\n"),
        Act::Read(6),
        Act::Send(b"free\n"),
        Act::Read(6),
        Act::Send(b"tight?\n"),
        Act::Read(5),
        Act::Send(b"bye\n"),
        Act::ReadToEnd,
    ];
    let want = b"easy\nheld\ntight\nfreed\neasy\n";
    run_both_with(&limits, |_| Box::new(Hoarder), &script, want);
}

/// Held bytes just at the budget are not over it; one more is.
#[test]
fn the_budget_is_tight_one_byte_past_its_edge() {
    let limits = Limits {
        max_memory: BUDGET,
        ..Limits::default()
    };
    let at = format!("hold {BUDGET}\n").leak().as_bytes();
    let past = format!("hold {}\n", BUDGET + 1).leak().as_bytes();
    let script = [
        Act::Send(at),
        Act::Read(5),
        Act::Send(b"tight?\n"),
        Act::Read(5),
        Act::Send(past),
        Act::Read(5),
        Act::Send(b"tight?\n"),
        Act::Read(6),
        Act::Send(b"bye\n"),
        Act::ReadToEnd,
    ];
    let want = b"held\neasy\nheld\ntight\n";
    run_both_with(&limits, |_| Box::new(Hoarder), &script, want);
}

// ---------------------------------------------------------------------------------------------
// Scenario: rooms (`Ctx::join`, `RoomId`). Several connections of one listener; each hears the
// broadcasts of the others in its group: the room it joined last, else its listener. The
// harness side routes what each member broadcasts as the reactor does ([`Members::route`]);
// the reactor side waits, after each step, until every member has heard what it heard in
// the harness run, so both see the same order.

/// `join N` joins room N (`in N`); `say X` broadcasts X (`ok`); a broadcast is written as
/// `[X]`; on close it broadcasts `left`.
struct Member;

impl Session for Member {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Step::consumed(0);
        };
        let line = &input[..end];
        if let Some(said) = line.strip_prefix(b"say ") {
            cx.broadcast(said);
            cx.out().extend_from_slice(b"ok\n");
        } else {
            let room = line
                .strip_prefix(b"join ")
                .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
                .expect("say or join");
            cx.join(RoomId(room));
            cx.out()
                .extend_from_slice(format!("in {room}\n").as_bytes());
        }
        Step::consumed(end + 1)
    }

    fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
        cx.out().extend_from_slice(b"[");
        cx.out().extend_from_slice(message);
        cx.out().extend_from_slice(b"]");
        Flow::Continue
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        cx.broadcast(b"left");
    }
}
/// Harness runs standing for the connections of one listener.
struct Members {
    runs: Vec<HarnessRun>,
    /// The room the listener's connections start in (`Service::room`).
    room: Option<RoomId>,
}

impl Members {
    /// Delivers what each member broadcast to the other open members of its group (the room
    /// it joined, else the listener's room, else the listener), until nothing is left to
    /// deliver: a member that closes says `left` in turn.
    fn route(&mut self) {
        for _ in 0..1000 {
            let Some((from, message)) = self
                .runs
                .iter_mut()
                .enumerate()
                .map(|(i, r)| (i, r.h.take_broadcast()))
                .find(|(_, m)| !m.is_empty())
            else {
                return;
            };
            let group = |run: &HarnessRun| run.h.room().or(self.room);
            let from_group = group(&self.runs[from]);
            for i in 0..self.runs.len() {
                let to_group = group(&self.runs[i]);
                let to = &mut self.runs[i];
                if i != from && !to.ended && to_group == from_group {
                    let flow = to.h.deliver(&message);
                    to.after(flow, false);
                }
            }
        }
        panic!("the members never stop broadcasting");
    }
}

/// The broadcasts a session received, in order.
fn received(log: &[Event]) -> Vec<Vec<u8>> {
    log.iter()
        .filter_map(|e| match e {
            Event::Broadcast(m, _) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// How many broadcasts each log has received.
fn heard(logs: &[Log]) -> Vec<usize> {
    logs.iter()
        .map(|log| {
            log.events()
                .iter()
                .filter(|e| matches!(e, Event::Broadcast(..)))
                .count()
        })
        .collect()
}

/// Plays `script`, each act by the member it names, through harnesses and through a reactor
/// whose one listener's connections start in `room`; asserts each member's output is its
/// `want` both times and their callbacks agree. Returns the harness's logs.
fn run_members(
    room: Option<RoomId>,
    make: Make,
    script: &[(usize, Act)],
    want: &[&[u8]],
) -> Vec<Vec<Event>> {
    // The harness: members open in order, then the script; after each step, what each one
    // has heard so far, for the reactor to be waited on.
    let mut members = Members {
        runs: Vec::new(),
        room,
    };
    let mut h_logs = Vec::new();
    for _ in want {
        let (session, log) = logged(make);
        members.runs.push(HarnessRun::new(session));
        h_logs.push(log);
        members.route();
    }
    let opened = heard(&h_logs);
    let mut expected = Vec::new();
    for (who, act) in script {
        members.runs[*who].step(act);
        members.route();
        expected.push(heard(&h_logs));
    }
    for (i, run) in members.runs.iter().enumerate() {
        assert!(
            run.ended,
            "member {i} is still open at the end of the script"
        );
        assert_same_bytes(&format!("harness, member {i}"), &run.got, want[i]);
    }

    // The reactor: the same, waiting after each step until every member has heard as much.
    let server = Server::serving(Limits::default(), room, make);
    let mut clients: Vec<Client> = want.iter().map(|_| Client::open(&server)).collect();
    let logs: Vec<Log> = clients.iter().map(|c| c.log.clone()).collect();
    let all_heard = |expected: &Vec<usize>| {
        wait_until(&format!("broadcasts heard: {expected:?}"), || {
            heard(&logs) >= *expected
        });
    };
    all_heard(&opened);
    for ((who, act), expected) in script.iter().zip(&expected) {
        clients[*who].step(act);
        all_heard(expected);
    }
    let h_logs: Vec<Vec<Event>> = h_logs.iter().map(Log::events).collect();
    for (i, client) in clients.into_iter().enumerate() {
        let (got, r_log) = client.finish();
        assert_same_bytes(&format!("reactor, member {i}"), &got, want[i]);
        assert_same_runs(&h_logs[i], &r_log);
    }
    h_logs
}

#[test]
fn a_room_hears_its_members_only_and_a_member_that_moves_on_hears_it_no_more() {
    let (a, b, c) = (0, 1, 2);
    let script = [
        // A and C join room 7; B stays with its listener, where nobody is left to hear it.
        (a, Act::Send(b"join 7\n")),
        (c, Act::Send(b"join 7\n")),
        (a, Act::Send(b"say hi\n")),
        (b, Act::Send(b"say anyone?\n")),
        (c, Act::Send(b"say hello\n")),
        // C moves to room 8: A's words no longer reach it, nor do C's reach A.
        (c, Act::Send(b"join 8\n")),
        (a, Act::Send(b"say still there?\n")),
        (c, Act::Send(b"say echo\n")),
        // C comes back, and hears A leave.
        (c, Act::Send(b"join 7\n")),
        (b, Act::Shutdown),
        (b, Act::ReadToEnd),
        (a, Act::Shutdown),
        (a, Act::ReadToEnd),
        (c, Act::Shutdown),
        (c, Act::ReadToEnd),
    ];
    let want: [&[u8]; 3] = [
        b"in 7\nok\n[hello]ok\n",
        b"ok\n",
        b"in 7\n[hi]ok\nin 8\nok\nin 7\n[left]",
    ];
    let logs = run_members(None, |_| Box::new(Member), &script, &want);
    assert_eq!(received(&logs[a]), [b"hello"]);
    assert!(received(&logs[b]).is_empty(), "B's listener group is empty");
    assert_eq!(received(&logs[c]), [&b"hi"[..], b"left"]);
}

// ---------------------------------------------------------------------------------------------
// Scenario: a graceful stop (`Session::on_shutdown`): the session may say goodbye, what is owed
// is delivered, and a body being streamed is finished, not cut short.

/// Answers each line with `ok`; says `going away` when the server stops.
struct Goodbye;

impl Session for Goodbye {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return Step::consumed(0);
        };
        cx.out().extend_from_slice(b"ok\n");
        Step::consumed(end + 1)
    }

    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
        cx.out().extend_from_slice(b"going away\n");
    }
}

#[test]
fn a_graceful_stop_lets_the_session_say_goodbye_then_closes() {
    let script = [Act::Send(b"hi\n"), Act::Read(3), Act::Stop, Act::ReadToEnd];
    let log = run_both(|_| Box::new(Goodbye), &script, b"ok\ngoing away\n");
    assert!(!log.iter().any(|e| matches!(e, Event::Eof(..))));
}

/// A body larger than any socket buffers is still streaming when the server stops: the
/// session is offered drains until it is done, and only then does the connection close.
#[test]
fn a_graceful_stop_in_mid_stream_finishes_the_body() {
    const BIG: usize = 16 * 1024; // KiB
    let script = [Act::Send(b"get 16384\n"), Act::Stop, Act::ReadToEnd];
    let log = run_both(Streamer::make, &script, &body(BIG));
    let stop = log.iter().position(|e| e == &Event::Shutdown).unwrap();
    let done = log
        .iter()
        .position(|e| e == &Event::Note(format!("done {BIG}")))
        .expect("the body was finished");
    assert!(stop < done, "the stop came in mid-stream");
}

/// A listener whose connections start in a room (`Service::room`, as `--chat` listeners): a
/// member that joins that room by name is with them still; one that joins another is not.
#[test]
fn a_listeners_room_is_the_one_its_connections_start_in() {
    let (a, b, c) = (0, 1, 2);
    let script = [
        (b, Act::Send(b"join 5\n")),
        (c, Act::Send(b"join 6\n")),
        (a, Act::Send(b"say hi\n")),
        (b, Act::Send(b"say hello\n")),
        (c, Act::Send(b"say nobody hears\n")),
        (a, Act::Shutdown),
        (a, Act::ReadToEnd),
        (b, Act::Shutdown),
        (b, Act::ReadToEnd),
        (c, Act::Shutdown),
        (c, Act::ReadToEnd),
    ];
    let want: [&[u8]; 3] = [b"ok\n[hello]", b"in 5\n[hi]ok\n[left]", b"in 6\nok\n"];
    let logs = run_members(Some(RoomId(5)), |_| Box::new(Member), &script, &want);
    assert!(received(&logs[c]).is_empty(), "C left the listener's room");
}
