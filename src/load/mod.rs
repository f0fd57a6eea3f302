//! `evserve load`: a load generator on its own mio loop, for evserve or any other server.
//!
//! Closed loop: every connection keeps `pipeline` requests in flight and sends a new one as
//! each reply arrives. Every reply is checked by the protocol's [`driver::Driver`]; a wrong
//! reply is counted as an error (and the connection, now out of step, is replaced), never as
//! throughput. Latency is measured per request from its send to its reply, into an
//! HdrHistogram. MB/s counts the bytes sent plus the bytes received.

pub mod driver;

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use driver::{Driver, Verdict};

/// Framing for the `framed` protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// 4-byte big-endian length, then the payload.
    Length,
    /// The payload, then `\n`.
    Line,
}

/// The protocol to drive.
#[derive(Debug, Clone)]
pub enum Protocol {
    /// TCP echo.
    Echo,
    /// UDP echo.
    Udp,
    /// Framed echo.
    Framed(Framing),
    /// HTTP/1.1 keep-alive requests.
    Http {
        /// The method.
        method: String,
        /// The request target.
        path: String,
        /// The Host header.
        host: String,
    },
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The server.
    pub addr: SocketAddr,
    /// What to speak.
    pub protocol: Protocol,
    /// Connections (UDP: sockets).
    pub connections: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// Payload bytes (echo, udp, framed).
    pub size: usize,
    /// Stop after this long...
    pub duration: Duration,
    /// ...or after this many replies, whichever comes first.
    pub requests: Option<u64>,
    /// A request unanswered this long is a timeout.
    pub timeout: Duration,
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// Correct replies.
    pub requests: u64,
    /// Wrong replies and connection failures.
    pub errors: u64,
    /// Requests unanswered within the timeout.
    pub timeouts: u64,
    /// Connections replaced after an error or timeout.
    pub reconnects: u64,
    /// Bytes sent plus bytes received.
    pub bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of correct replies, in microseconds.
    pub latency: Histogram<u64>,
}

impl Report {
    fn new() -> Report {
        Report {
            requests: 0,
            errors: 0,
            timeouts: 0,
            reconnects: 0,
            bytes: 0,
            elapsed: Duration::ZERO,
            // 1 µs to 1 hour at 3 significant digits: fixed size, no allocation per sample.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        }
    }

    fn record(&mut self, sent: Instant, now: Instant) {
        let micros = now.saturating_duration_since(sent).as_micros() as u64;
        self.latency.saturating_record(micros.max(1));
        self.requests += 1;
    }

    /// Correct replies per second.
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Megabytes (10^6) per second, sent plus received.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let q = |p: f64| self.latency.value_at_quantile(p);
        serde_json::json!({
            "requests": self.requests,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "reconnects": self.reconnects,
            "duration_secs": self.elapsed.as_secs_f64(),
            "requests_per_sec": self.requests_per_sec(),
            "mb_per_sec": self.mb_per_sec(),
            "latency_us": {
                "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999),
                "max": self.latency.max(),
            },
        })
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let q = |p: f64| self.latency.value_at_quantile(p);
        format!(
            "{} requests in {:.2} s: {:.0} requests/s, {:.2} MB/s\n\
             errors {}, timeouts {}, reconnects {}\n\
             latency µs: p50 {} p90 {} p99 {} p99.9 {} max {}\n",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.requests_per_sec(),
            self.mb_per_sec(),
            self.errors,
            self.timeouts,
            self.reconnects,
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            self.latency.max()
        )
    }
}

/// Runs the load described by `config`.
pub fn run(config: &LoadConfig) -> io::Result<Report> {
    let driver = match &config.protocol {
        Protocol::Echo | Protocol::Udp => Driver::echo(config.size),
        Protocol::Framed(framing) => Driver::framed(*framing, config.size),
        Protocol::Http { method, path, host } => Driver::http(method, path, host),
    };
    match config.protocol {
        Protocol::Udp => run_udp(config, &driver),
        _ => run_tcp(config, &driver),
    }
}

/// One TCP connection of the load.
struct Conn {
    stream: TcpStream,
    received: Vec<u8>,
    outbox: Vec<u8>,
    sent_at: VecDeque<Instant>,
}

impl Conn {
    fn open(addr: SocketAddr, token: Token, poll: &Poll) -> io::Result<Conn> {
        let std = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std);
        poll.registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Conn {
            stream,
            received: Vec::with_capacity(4096),
            outbox: Vec::with_capacity(4096),
            sent_at: VecDeque::new(),
        })
    }

    /// Queues `n` requests and writes what the socket takes.
    fn send(
        &mut self,
        driver: &Driver,
        n: usize,
        now: Instant,
        report: &mut Report,
    ) -> io::Result<()> {
        for _ in 0..n {
            self.outbox.extend_from_slice(driver.request());
            self.sent_at.push_back(now);
        }
        self.flush(report)
    }

    fn flush(&mut self, report: &mut Report) -> io::Result<()> {
        while !self.outbox.is_empty() {
            match self.stream.write(&self.outbox) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    report.bytes += n as u64;
                    self.outbox.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Whether the run goes on: before its deadline and short of its request count.
fn keep_going(config: &LoadConfig, report: &Report, deadline: Instant) -> bool {
    Instant::now() < deadline && config.requests.is_none_or(|l| report.requests < l)
}

/// How long to poll: until the deadline, but at least every `tick` to check for timeouts.
fn wait(deadline: Instant, tick: Duration) -> Duration {
    deadline.saturating_duration_since(Instant::now()).min(tick)
}

/// Whether the run may issue another request.
fn may_issue(config: &LoadConfig, issued: u64) -> bool {
    config.requests.is_none_or(|limit| issued < limit)
}

fn run_tcp(config: &LoadConfig, driver: &Driver) -> io::Result<Report> {
    let mut poll = Poll::new()?;
    let mut report = Report::new();
    let start = Instant::now();
    let deadline = start + config.duration;
    let mut conns: Vec<Option<Conn>> = Vec::with_capacity(config.connections);
    let mut issued = 0u64;
    for i in 0..config.connections {
        let mut conn = Conn::open(config.addr, Token(i), &poll)?;
        let n = (config.pipeline as u64).min(config.requests.map_or(u64::MAX, |l| l - issued));
        conn.send(driver, n as usize, Instant::now(), &mut report)?;
        issued += n;
        conns.push(Some(conn));
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 65536];
    while keep_going(config, &report, deadline) {
        poll.poll(
            &mut events,
            Some(wait(deadline, Duration::from_millis(100))),
        )?;
        let now = Instant::now();
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(conn) = conns.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            let ok = serve_event(
                conn,
                driver,
                &mut buf,
                config,
                &mut issued,
                &mut report,
                now,
            );
            if !ok {
                report.errors += 1;
                replace(
                    &mut conns,
                    i,
                    config,
                    driver,
                    &poll,
                    &mut issued,
                    &mut report,
                )?;
            }
        }
        for i in 0..conns.len() {
            let late = conns[i]
                .as_ref()
                .and_then(|c| c.sent_at.front())
                .is_some_and(|sent| now.saturating_duration_since(*sent) > config.timeout);
            if late {
                report.timeouts += conns[i].as_ref().map_or(0, |c| c.sent_at.len() as u64);
                replace(
                    &mut conns,
                    i,
                    config,
                    driver,
                    &poll,
                    &mut issued,
                    &mut report,
                )?;
            }
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Reads and writes what one event allows. Returns false when the connection must go.
fn serve_event(
    conn: &mut Conn,
    driver: &Driver,
    buf: &mut [u8],
    config: &LoadConfig,
    issued: &mut u64,
    report: &mut Report,
    now: Instant,
) -> bool {
    if conn.flush(report).is_err() {
        return false;
    }
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                report.bytes += n as u64;
                conn.received.extend_from_slice(&buf[..n]);
                let replies = match driver.take(&mut conn.received) {
                    Verdict::Replies(r) => r,
                    Verdict::Wrong => return false,
                };
                for _ in 0..replies {
                    if let Some(sent) = conn.sent_at.pop_front() {
                        report.record(sent, now);
                    }
                }
                let mut again = 0;
                while again < replies && may_issue(config, *issued) {
                    again += 1;
                    *issued += 1;
                }
                if again > 0 && conn.send(driver, again, now, report).is_err() {
                    return false;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Replaces connection `i` (after an error or a timeout) with a fresh one.
fn replace(
    conns: &mut [Option<Conn>],
    i: usize,
    config: &LoadConfig,
    driver: &Driver,
    poll: &Poll,
    issued: &mut u64,
    report: &mut Report,
) -> io::Result<()> {
    if let Some(mut old) = conns[i].take() {
        let _ = poll.registry().deregister(&mut old.stream);
        // Its unanswered requests will never be answered: issue them again.
        *issued -= old.sent_at.len() as u64;
    }
    report.reconnects += 1;
    match Conn::open(config.addr, Token(i), poll) {
        Ok(mut conn) => {
            let mut n = 0;
            while n < config.pipeline && may_issue(config, *issued) {
                n += 1;
                *issued += 1;
            }
            conn.send(driver, n, Instant::now(), report)?;
            conns[i] = Some(conn);
            Ok(())
        }
        Err(e) => {
            report.errors += 1;
            log::debug!("reconnect: {e}");
            Ok(())
        }
    }
}

/// UDP: each socket keeps `pipeline` datagrams in flight; a reply must equal the request.
/// Datagrams are not reordered on loopback, so replies are matched in order; a datagram lost
/// is a timeout, and its slot is refilled.
fn run_udp(config: &LoadConfig, driver: &Driver) -> io::Result<Report> {
    let mut poll = Poll::new()?;
    let mut report = Report::new();
    let start = Instant::now();
    let deadline = start + config.duration;
    let bind: SocketAddr = if config.addr.is_ipv6() {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    } else {
        (std::net::Ipv4Addr::LOCALHOST, 0).into()
    };
    let mut sockets = Vec::with_capacity(config.connections);
    let mut issued = 0u64;
    for i in 0..config.connections {
        let mut socket = mio::net::UdpSocket::bind(bind)?;
        socket.connect(config.addr)?;
        poll.registry()
            .register(&mut socket, Token(i), Interest::READABLE)?;
        sockets.push((socket, VecDeque::new()));
    }
    let refill = |socket: &mio::net::UdpSocket,
                  in_flight: &mut VecDeque<Instant>,
                  issued: &mut u64,
                  report: &mut Report| {
        while in_flight.len() < config.pipeline && may_issue(config, *issued) {
            match socket.send(driver.request()) {
                Ok(n) => {
                    report.bytes += n as u64;
                    in_flight.push_back(Instant::now());
                    *issued += 1;
                }
                // A full send buffer: the slot is refilled after the next reply or timeout.
                Err(_) => break,
            }
        }
    };
    for (socket, in_flight) in &mut sockets {
        refill(socket, in_flight, &mut issued, &mut report);
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 65536];
    while keep_going(config, &report, deadline) {
        poll.poll(&mut events, Some(wait(deadline, Duration::from_millis(20))))?;
        let now = Instant::now();
        for ev in events.iter() {
            let Some((socket, in_flight)) = sockets.get_mut(ev.token().0) else {
                continue;
            };
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        report.bytes += n as u64;
                        match in_flight.pop_front() {
                            Some(sent) if &buf[..n] == driver.request() => report.record(sent, now),
                            _ => report.errors += 1,
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        report.errors += 1;
                        break;
                    }
                }
            }
        }
        for (socket, in_flight) in &mut sockets {
            while in_flight
                .front()
                .is_some_and(|s| now.saturating_duration_since(*s) > config.timeout)
            {
                in_flight.pop_front();
                report.timeouts += 1;
            }
            refill(socket, in_flight, &mut issued, &mut report);
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
}
