//! The reactor's rules, one at a time, through what a client and the counters can observe:
//! timers (an idle connection is timed out once, a busy one never), the read
//! budget (a fire hose does not starve its neighbour), backpressure (`buffered_out` stays
//! under `max_output` plus one read), the minimum rate, eviction at the connection limit, and
//! the write budgets (a large answer still arrives whole and in order), and a streamed body
//! under a graceful stop (finished, not cut short).
//!
//! Each test runs its own reactor on 127.0.0.1:0 with small limits, waits on signals (bytes
//! arriving, a counter moving), never asserts on timing, and stops the reactor at the end.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use evserve::config::Limits;
use evserve::session::{Ctx, Flow, Service, Session, Step};
use util::inproc::{InProcess, wait_until};

/// A reactor on its own thread serving one service, stopped and joined on drop.
type Server = InProcess;

/// Reads until the server closes; a reset counts as closed.
fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let (mut got, mut buf) = (Vec::new(), vec![0; 64 * 1024]);
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("reading to the end: {e}"),
        }
    }
}

/// A service made of a session-making closure.
struct Svc<F> {
    make: F,
    idle_disposable: bool,
}

impl<F: FnMut() -> Box<dyn Session>> Service for Svc<F> {
    fn name(&self) -> &'static str {
        "units"
    }
    fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
        (self.make)()
    }
    fn reject_message(&self) -> &[u8] {
        b"full\n"
    }
    fn idle_disposable(&self) -> bool {
        self.idle_disposable
    }
}

fn service(make: impl FnMut() -> Box<dyn Session> + 'static) -> Box<dyn Service> {
    Box::new(Svc {
        make,
        idle_disposable: false,
    })
}

/// Sends every byte back (`Step::forward`), and says `idle` when timed out.
struct Echo {
    timeouts: Arc<AtomicUsize>,
}

impl Session for Echo {
    fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
        Step::forward(input.len())
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
        cx.out().extend_from_slice(b"idle\n");
        Flow::Close
    }
}

fn echo(timeouts: &Arc<AtomicUsize>) -> Box<dyn Service> {
    let timeouts = timeouts.clone();
    service(move || {
        Box::new(Echo {
            timeouts: timeouts.clone(),
        })
    })
}

#[test]
fn an_idle_connection_is_timed_out_once_and_a_busy_one_never() {
    let idle = Duration::from_millis(300);
    let limits = Limits {
        idle_timeout: idle,
        ..Limits::default()
    };
    let timeouts = Arc::new(AtomicUsize::new(0));
    let server = Server::start(limits, {
        let t = timeouts.clone();
        move || echo(&t)
    });

    // Busy: a byte every few milliseconds for several idle periods; every one comes back.
    let mut busy = server.connect();
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < idle * 3 {
        busy.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        busy.read_exact(&mut b).expect("a busy connection was cut");
        assert_eq!(&b, b"x");
        rounds += 1;
        // The pace is the behaviour under test: a byte far more often than the idle timeout.
        thread::sleep(Duration::from_millis(10));
    }
    assert!(rounds > 3);
    assert_eq!(
        timeouts.load(Ordering::Relaxed),
        0,
        "a busy connection timed out"
    );

    // Idle: the session is asked once, its answer is delivered, and the connection closes.
    let mut quiet = server.connect();
    assert_eq!(read_to_end(&mut quiet), b"idle\n");
    // The busy one, now idle too, goes the same way: one call each.
    assert_eq!(read_to_end(&mut busy), b"idle\n");
    server.wait("both closed", |s| s.closed.get() == 2);
    assert_eq!(timeouts.load(Ordering::Relaxed), 2);
}

#[test]
fn a_fire_hose_does_not_starve_another_connection() {
    let limits = Limits {
        read_budget: 2,
        ..Limits::default()
    };
    let timeouts = Arc::new(AtomicUsize::new(0));
    let server = Server::start(limits, {
        let t = timeouts.clone();
        move || echo(&t)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let hose_in = Arc::new(AtomicUsize::new(0));

    // The fire hose writes as fast as it can while a thread of its own drains the echo.
    let mut hose = server.connect();
    let mut hose_reader = hose.try_clone().unwrap();
    let reader = {
        let (stop, hose_in) = (stop.clone(), hose_in.clone());
        thread::spawn(move || {
            let mut buf = vec![0; 256 * 1024];
            while !stop.load(Ordering::Relaxed) {
                match hose_reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => hose_in.fetch_add(n, Ordering::Relaxed),
                };
            }
        })
    };
    let writer = {
        let stop = stop.clone();
        thread::spawn(move || {
            let block = vec![b'h'; 256 * 1024];
            let until = Instant::now() + Duration::from_secs(8);
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                if hose.write_all(&block).is_err() {
                    break;
                }
            }
            let _ = hose.shutdown(Shutdown::Write);
        })
    };
    wait_until("the fire hose to flow", || {
        hose_in.load(Ordering::Relaxed) > 4 << 20
    });

    // Meanwhile a small client gets every answer, and the hose keeps flowing.
    let mut small = server.connect();
    let hose_before = hose_in.load(Ordering::Relaxed);
    for i in 0..50u32 {
        let msg = i.to_be_bytes();
        small.write_all(&msg).unwrap();
        let mut b = [0u8; 4];
        small.read_exact(&mut b).expect("starved by the fire hose");
        assert_eq!(b, msg);
    }
    wait_until("the fire hose to go on", || {
        hose_in.load(Ordering::Relaxed) > hose_before + (4 << 20)
    });
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    reader.join().unwrap();
}

#[test]
fn a_client_that_never_reads_holds_at_most_max_output_plus_one_read() {
    let limits = Limits {
        max_output: 256 * 1024,
        low_water: 64 * 1024,
        read_chunk: 64 * 1024,
        ..Limits::default()
    };
    let bound = (limits.max_output + limits.read_chunk) as u64;
    let timeouts = Arc::new(AtomicUsize::new(0));
    let server = Server::start(limits, {
        let t = timeouts.clone();
        move || echo(&t)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let stalls = Arc::new(AtomicUsize::new(0));
    let mut client = server.connect();
    client
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let keep = client.try_clone().unwrap();
    let writer = {
        let (stop, sent, stalls) = (stop.clone(), sent.clone(), stalls.clone());
        thread::spawn(move || {
            let block = vec![b'w'; 64 * 1024];
            // Bounded: 64 MiB is far more than every buffer on the way can hold.
            for _ in 0..1024 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match client.write(&block) {
                    Ok(n) => sent.fetch_add(n, Ordering::Relaxed),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        stalls.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(_) => break,
                };
            }
        })
    };
    // Backpressure engaging is the signal: the server paused reading this connection. (Not
    // "the gauge went over max_output": it is over only between the read that crossed the
    // limit and the next write, which may take much of it; a test polling for it missed that
    // moment about once in ten runs and waited in vain while the server, rightly paused with
    // 128 KiB pending, held still.)
    server.wait("the server to stop reading", |s| s.read_pauses.get() >= 1);
    // The client still never reads: sample the gauge while the writer keeps pushing, until
    // its own writes stall twice: every buffer on the way is then as full as it gets.
    let mut highest = 0;
    wait_until("the client's writes to stall", || {
        highest = highest.max(server.stats.buffered_out.get());
        stalls.load(Ordering::Relaxed) >= 2
    });
    highest = highest.max(server.stats.buffered_out.get());
    assert!(
        highest <= bound,
        "buffered_out reached {highest}, bound {bound}"
    );
    assert!(
        (sent.load(Ordering::Relaxed) as u64) > 2 * bound,
        "the client sent too little to test anything"
    );
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    drop(keep);
    server.wait("the connection gone", |s| s.active.get() == 0);
    assert_eq!(server.stats.buffered_out.get(), 0, "the gauge is released");
}

/// Consumes everything; says it is in the middle of a message (a body arriving) when the
/// peer sends `r`, and that it is between messages when it sends anything else.
struct Receiving {
    timeouts: Arc<AtomicUsize>,
}

impl Session for Receiving {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        cx.set_receiving(input.last() == Some(&b'r'));
        Step::consumed(input.len())
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
        cx.out().extend_from_slice(b"too slow\n");
        Flow::Close
    }
}

/// Sends `byte` ten times a second (far under the 1000 required) until told to stop or the
/// connection fails, counting the bytes sent in `sent`; bounded to 10 s. The pace is the
/// behaviour under test, not a wait.
fn trickle(
    mut s: TcpStream,
    byte: u8,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        for _ in 0..100 {
            if stop.load(Ordering::Relaxed) || s.write_all(&[byte]).is_err() {
                break;
            }
            sent.fetch_add(1, Ordering::Relaxed);
            thread::sleep(Duration::from_millis(100));
        }
    })
}

#[test]
fn a_trickle_into_a_receiving_session_is_cut_off_and_counted() {
    let window = Duration::from_secs(1);
    let limits = Limits {
        min_rate: 1000,
        rate_window: window,
        ..Limits::default()
    };
    let timeouts = Arc::new(AtomicUsize::new(0));
    let server = Server::start(limits, {
        let t = timeouts.clone();
        move || {
            service(move || {
                Box::new(Receiving {
                    timeouts: t.clone(),
                })
            })
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    // The control: the same trickle between messages owes nothing and is left alone.
    let idle = server.connect();
    let idle_sent = Arc::new(AtomicUsize::new(0));
    let idle_writer = trickle(
        idle.try_clone().unwrap(),
        b'n',
        stop.clone(),
        idle_sent.clone(),
    );
    let mut slow = server.connect();
    let slow_writer = trickle(
        slow.try_clone().unwrap(),
        b'r',
        stop.clone(),
        Arc::default(),
    );
    // The session may answer (HTTP's 408) before the close.
    assert_eq!(read_to_end(&mut slow), b"too slow\n");
    slow_writer.join().unwrap();
    server.wait("the cut-off counted", |s| s.too_slow.get() == 1);
    assert_eq!(timeouts.load(Ordering::Relaxed), 1);
    // Two and a half windows' worth of the control's trickle (ten bytes a window) went in,
    // and it must still be there: were it cut, its bytes would stop and this wait fail.
    let enough = (25 * window.as_millis() / 1000) as usize;
    wait_until("the control to trickle through two windows", || {
        idle_sent.load(Ordering::Relaxed) >= enough
    });
    assert_eq!(
        server.stats.too_slow.get(),
        1,
        "a connection owing nothing was cut"
    );
    assert_eq!(server.stats.active.get(), 1);
    stop.store(true, Ordering::Relaxed);
    idle_writer.join().unwrap();
    drop(idle);
}

/// Opens `n` connections and waits until the reactor has them all.
fn fill(server: &Server, n: usize) -> Vec<TcpStream> {
    let conns: Vec<TcpStream> = (0..n).map(|_| server.connect()).collect();
    server.wait("every connection accepted", |s| s.active.get() == n as u64);
    conns
}

fn echo_once(s: &mut TcpStream, msg: &[u8]) -> bool {
    let mut b = vec![0; msg.len()];
    s.write_all(msg).is_ok() && s.read_exact(&mut b).is_ok() && b == msg
}

/// An echo service whose idle connections may be closed to make room (as HTTP keep-alive).
fn disposable_echo() -> Box<dyn Service> {
    Box::new(Svc {
        make: || {
            Box::new(Echo {
                timeouts: Arc::default(),
            }) as Box<dyn Session>
        },
        idle_disposable: true,
    })
}

#[test]
fn at_the_limit_an_idle_disposable_connection_makes_room() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let server = Server::start(limits, disposable_echo);
    let mut old = fill(&server, 2);
    let mut newcomer = server.connect();
    assert!(
        echo_once(&mut newcomer, b"served"),
        "the newcomer is served"
    );
    assert_eq!(server.stats.evicted.get(), 1);
    assert_eq!(server.stats.rejected.get(), 0);
    // The oldest idle one went; the other is still served.
    assert_eq!(read_to_end(&mut old[0]), b"");
    assert!(echo_once(&mut old[1], b"still here"));
}

#[test]
fn a_connection_just_accepted_is_not_evicted_before_its_request_arrives() {
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let server = Server::start(limits, disposable_echo);
    // Accepted, but its request is still on its way when the newcomer knocks. `connect`
    // returns once the kernel has completed the handshake: the newcomer is in the listener's
    // queue before the first asks, whether or not the reactor has looked (full since `fill`,
    // it stopped accepting until the first could rank for eviction; no sleep can show more).
    let mut first = fill(&server, 1).remove(0);
    let mut newcomer = server.connect();
    assert!(
        echo_once(&mut first, b"my request"),
        "the connection accepted first was closed for the newcomer before it could ask"
    );
    // Once it has been idle for a while, it makes room: the newcomer waited, not refused.
    assert!(
        echo_once(&mut newcomer, b"served"),
        "the newcomer is served"
    );
    assert_eq!(server.stats.evicted.get(), 1);
    assert_eq!(server.stats.rejected.get(), 0);
    assert_eq!(read_to_end(&mut first), b"");
}

#[test]
fn at_the_limit_a_connection_whose_idleness_matters_is_kept_and_the_newcomer_refused() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let timeouts = Arc::new(AtomicUsize::new(0));
    let server = Server::start(limits, {
        let t = timeouts.clone();
        move || echo(&t)
    });
    let mut old = fill(&server, 2);
    let mut newcomer = server.connect();
    assert_eq!(read_to_end(&mut newcomer), b"full\n");
    server.wait("the refusal counted", |s| s.rejected.get() == 1);
    assert_eq!(server.stats.evicted.get(), 0);
    for (i, conn) in old.iter_mut().enumerate() {
        assert!(echo_once(conn, b"still here"), "connection {i} was dropped");
    }
}

/// Answers `go` with [`ANSWER`] bytes written in one call, then closes.
struct Big;

const ANSWER: usize = 10 << 20;

fn answer_byte(at: usize) -> u8 {
    (at % 251) as u8
}

impl Session for Big {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        if !input.ends_with(b"go") {
            return Step::consumed(0);
        }
        let answer: Vec<u8> = (0..ANSWER).map(answer_byte).collect();
        cx.out().extend_from_slice(&answer);
        Step::close(input.len())
    }
}

#[test]
fn small_write_budgets_still_deliver_a_large_answer_whole_and_in_order() {
    let limits = Limits {
        write_budget: 4 * 1024,
        turn_write_budget: 16 * 1024,
        ..Limits::default()
    };
    let server = Server::start(limits, || service(|| Box::new(Big)));
    // Three at once, so the turn budget is shared and connections wait on the deferred list.
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let mut s = server.connect();
            thread::spawn(move || {
                s.write_all(b"go").unwrap();
                read_to_end(&mut s)
            })
        })
        .collect();
    for (i, r) in readers.into_iter().enumerate() {
        let got = r.join().unwrap();
        assert_eq!(got.len(), ANSWER, "connection {i}");
        let wrong = got
            .iter()
            .enumerate()
            .position(|(at, &b)| b != answer_byte(at));
        assert_eq!(wrong, None, "connection {i}: first wrong byte");
    }
    server.wait("all closed", |s| s.closed.get() == 3);
    assert_eq!(server.stats.bytes_out.get(), 3 * ANSWER as u64);
}

/// Answers `go` with [`STREAM`] bytes produced a chunk per drain, never more than 64 KiB
/// ahead of the socket (a file download).
#[derive(Default)]
struct Download {
    sent: usize,
}

const STREAM: usize = 8 << 20;

impl Download {
    fn chunk(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if self.sent == STREAM {
            return Flow::Close;
        }
        let end = (self.sent + 16 * 1024).min(STREAM);
        let bytes: Vec<u8> = (self.sent..end).map(answer_byte).collect();
        cx.out().extend_from_slice(&bytes);
        self.sent = end;
        Flow::Continue
    }
}

impl Session for Download {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        if self.sent > 0 || !input.ends_with(b"go") {
            return Step::consumed(input.len());
        }
        Step {
            flow: self.chunk(cx),
            ..Step::consumed(input.len())
        }
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if cx.pending_output() > 64 * 1024 {
            return Flow::Continue;
        }
        self.chunk(cx)
    }
}

/// A graceful stop moves every open connection to `Phase::Finishing`: pending output is
/// written and the session is still offered drains until it writes no more, so a body
/// streamed from `on_drain` (a file download, `static_files.rs`) ends whole within the drain
/// timeout, not cut short.
#[test]
fn a_graceful_stop_lets_a_streamed_body_finish() {
    let server = Server::start(Limits::default(), || service(|| Box::<Download>::default()));
    let mut s = server.connect();
    s.write_all(b"go").unwrap();
    let mut first = vec![0; 1 << 20];
    s.read_exact(&mut first).unwrap();
    server.handle.stop();
    let rest = read_to_end(&mut s);
    assert_eq!(
        first.len() + rest.len(),
        STREAM,
        "the download was cut short"
    );
}

#[test]
fn a_streamed_body_arrives_whole_without_a_stop() {
    let server = Server::start(Limits::default(), || service(|| Box::<Download>::default()));
    let mut s = server.connect();
    s.write_all(b"go").unwrap();
    let got = read_to_end(&mut s);
    assert_eq!(got.len(), STREAM);
    let wrong = got
        .iter()
        .enumerate()
        .position(|(at, &b)| b != answer_byte(at));
    assert_eq!(wrong, None);
}
