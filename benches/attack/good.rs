//! The well-behaved client: one request at a time, each on a new connection (as `curl` in a
//! loop would), a short pause between them, every attempt timed from `connect` to the last
//! byte of the answer.
//!
//! A new connection per request is deliberate: a client that kept one connection open would
//! never meet the connection limit or the accept queue, and those are where a lockout shows.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Why an attempt did not end in the expected 200 answer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Failure {
    /// No answer complete within the timeout.
    Timeout,
    /// An answer with another status (e.g. 503 at the connection limit).
    Status(u16),
    /// Refused, reset, or closed without a complete answer.
    Closed,
    /// A 200 whose body was not the expected one.
    Body,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => write!(f, "timeout"),
            Failure::Status(code) => write!(f, "{code}"),
            Failure::Closed => write!(f, "closed"),
            Failure::Body => write!(f, "bad body"),
        }
    }
}

/// Every attempt, in order: how long it took and whether it failed.
pub struct Record {
    /// (time from connect to the end of the answer or to the failure, failure if any).
    pub attempts: Vec<(Duration, Option<Failure>)>,
}

impl Record {
    /// The `q` quantile (0..=1) of all attempts' times, failures included: a lockout that
    /// answers 503 fast is counted among failures, a stall that ends in a timeout shows here.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut t: Vec<Duration> = self.attempts.iter().map(|a| a.0).collect();
        t.sort();
        let last = t.len().checked_sub(1)?;
        t.get(((last as f64) * q).round() as usize).copied()
    }

    /// "none", or "12: 9× 503, 3× timeout".
    pub fn failures(&self) -> String {
        let mut kinds = std::collections::BTreeMap::<Failure, usize>::new();
        for f in self.attempts.iter().filter_map(|a| a.1) {
            *kinds.entry(f).or_default() += 1;
        }
        let total: usize = kinds.values().sum();
        if total == 0 {
            return "0".into();
        }
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n}× {k}")).collect();
        format!("**{total}**: {}", list.join(", "))
    }
}

/// Requests `path` from `addr` until `stop` is set, pausing `pause` between requests, each
/// allowed `timeout`; the answer must be a 200 whose body is `expect`.
pub fn run(
    addr: SocketAddr,
    path: &str,
    expect: &[u8],
    pause: Duration,
    timeout: Duration,
    stop: Arc<AtomicBool>,
) -> Record {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut attempts = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        let outcome = once(addr, request.as_bytes(), expect, start + timeout);
        attempts.push((start.elapsed(), outcome.err()));
        std::thread::sleep(pause);
    }
    Record { attempts }
}

/// One request on a new connection, to be answered by `deadline`.
fn once(addr: SocketAddr, request: &[u8], expect: &[u8], deadline: Instant) -> Result<(), Failure> {
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(Failure::Timeout)
    };
    let io = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Closed,
    };
    let mut s = TcpStream::connect_timeout(&addr, left()?).map_err(io)?;
    s.set_nodelay(true).map_err(io)?;
    s.set_write_timeout(Some(left()?)).map_err(io)?;
    s.write_all(request).map_err(io)?;
    let mut answer = Vec::with_capacity(512);
    let mut buf = [0u8; 4096];
    loop {
        s.set_read_timeout(Some(left()?)).map_err(io)?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset after a complete answer (e.g. a server closing with unread bytes) is
            // still an answer: judge what arrived.
            Err(_) if !answer.is_empty() => break,
            Err(e) => return Err(io(e)),
        }
    }
    if answer.is_empty() {
        return Err(Failure::Closed);
    }
    match crate::swarm::status(&answer) {
        200 => {}
        0 => return Err(Failure::Closed),
        code => return Err(Failure::Status(code)),
    }
    if !answer.ends_with(expect) {
        return Err(Failure::Body);
    }
    Ok(())
}
