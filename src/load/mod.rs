//! `evserve load`: a load generator on its own mio loops, for evserve or any other server.
//!
//! ```text
//!   run(&LoadConfig) ──► thread 0: runner ─ Poll ─ slots 0..c₀ ─┐     Report (merged):
//!        │               thread 1: runner ─ Poll ─ slots 0..c₁ ─┼──►  counts, bytes,
//!        │               …  (connections and -n dealt evenly)   ─┘     latency histogram
//!        └─ once a second: the progress line on stderr (if asked)
//!
//!   a slot = tcp::Conn or udp::Socket      ── what it owes: inflight.rs
//!   TLS over a tcp::Conn                   ── tls.rs (rustls, non-blocking, same loop)
//!   what to send, how to judge a reply     ── driver.rs → echo.rs, framed.rs, http.rs, ws.rs
//!                                             (sans-IO; a new target is one more of these)
//!   HTTP/2: streams, HPACK, flow control   ── h2.rs (sans-IO client of one connection)
//!   when it may send, latency from when    ── pacing.rs (closed loop, or open loop at --rate)
//! ```
//!
//! Layers as in the server: the protocol drivers know nothing of sockets (bytes in, a verdict
//! out); the runner and its slots know nothing of protocols. Each thread owns its connections
//! outright and shares nothing with the others on the hot path; their reports are merged at
//! the end.
//!
//! What is measured:
//! - **requests**: replies. Every whole HTTP response is one, timed and counted by status,
//!   unless its status is named by `error_status` (5xx by default, see `status.rs`). A wrong
//!   reply (other bytes, an error status, a body cut short) is an **error**, never
//!   throughput. So is a request written on a connection that then failed; the connection is
//!   replaced (a **reconnect**) and the run goes on. A request unanswered after `timeout` is a
//!   **timeout**.
//! - **latency** of the requests, in µs, from the request's *intended* send time: in a
//!   closed loop that is when it was issued; with `rate` it is its slot in the schedule, so a
//!   stalled server is charged for every request it delayed (see `pacing.rs`).
//! - **Transfer/sec**: bytes received per second, as wrk means it (HTTP heads included; over
//!   TLS the plaintext bytes); bytes sent apart.
//! - **TLS handshakes**, over TLS: full, resumed, and connections given up before theirs
//!   completed; a failed handshake fails the requests written on its connection.
//!
//! Every run is bounded: by `duration`, or by a request count, which `duration` then bounds
//! as a time limit.

mod decode;
pub mod driver;
pub mod echo;
pub mod framed;
pub mod h2;
pub mod hlog;
pub mod http;
mod inflight;
mod pacing;
mod progress;
mod report;
mod runner;
mod status;
pub mod sweep;
mod tcp;
pub mod tls;
mod udp;
pub mod ws;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

pub use http::HttpRequest;
pub use report::{Report, histogram_text, latency_json, latency_line};
pub use status::StatusSet;
pub use tls::{TlsClient, TlsOptions, Trust};

use driver::Driver;
use pacing::Pacing;
use progress::Progress;
use runner::Plan;

/// Connections when none are asked for.
pub const DEFAULT_CONNECTIONS: usize = 10;

/// How long a run lasts when neither a duration nor a request count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The time limit of a run given a request count and no duration: generous, but a bound.
pub const COUNTED_RUN_LIMIT: Duration = Duration::from_secs(600);

/// How long a request may wait for its reply by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Payload bytes by default.
pub const DEFAULT_SIZE: usize = 64;

/// The largest payload for TCP echo and HTTP bodies.
pub const MAX_SIZE: usize = 64 << 20;

/// The most HTTP/2 streams a connection keeps in flight (`--streams`): servers allow 100
/// to 128 by default (their `MAX_CONCURRENT_STREAMS`), and each costs the client memory.
pub const MAX_STREAMS: usize = 1024;

/// The largest UDP payload (65 535 less the IPv4 and UDP headers).
pub const MAX_DATAGRAM: usize = 65_507;

/// File descriptors a run needs besides one per connection: the standard streams, two per
/// thread for its poll, the first connection that checks the server is up, what the
/// allocator and the TLS library may open, with room to spare.
pub const FD_RESERVE: u64 = 64;

/// Framing for the `framed` protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A 4-byte big-endian length, then the payload.
    Length,
    /// The payload, then this delimiter byte (`\n` as a rule).
    Line(u8),
}

/// The protocol to drive.
#[derive(Debug, Clone, PartialEq)]
pub enum Protocol {
    /// TCP echo: `size` bytes out, the same bytes back.
    Echo,
    /// UDP echo: one datagram out, the same datagram back.
    Udp,
    /// Framed echo: one frame out, the same frame back.
    Framed(Framing),
    /// HTTP/1.1: a response with its whole body back.
    Http(HttpRequest),
    /// HTTP/2 (h2c by prior knowledge, or `h2` chosen by ALPN over TLS): `pipeline` streams
    /// at once per connection, each a request without body and its whole response.
    Http2 {
        /// The request (`keep_alive` must be true and `body` none).
        request: HttpRequest,
        /// Over TLS: `:scheme` is `https`.
        https: bool,
    },
    /// WebSocket echo at `/ws/echo`: an upgrade per connection, then binary messages of
    /// `size` bytes, each echoed.
    Ws {
        /// The `Host` header of the upgrade: HOST:PORT as given.
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
    /// Speak it over TLS with this client setup (HTTPS, `echo --tls`, `framed --tls`).
    pub tls: Option<TlsClient>,
    /// Connections (UDP: sockets), dealt evenly to the threads.
    pub connections: usize,
    /// Threads, each with its own poll loop (at most one per connection).
    pub threads: usize,
    /// Requests in flight per connection (HTTP/2: streams at once, fewer if the server's
    /// `MAX_CONCURRENT_STREAMS` says so).
    pub pipeline: usize,
    /// Payload bytes (echo, udp, framed; HTTP `POST`/`PUT`/`PATCH` bodies).
    pub size: usize,
    /// How long to run; with `requests`, the time limit.
    pub duration: Duration,
    /// Stop once this many requests have ended (ok, error or timeout).
    pub requests: Option<u64>,
    /// Open loop: requests per second across all connections, latency measured from each
    /// request's scheduled time. `None`: closed loop, as fast as replies come.
    pub rate: Option<f64>,
    /// A request unanswered this long is a timeout.
    pub timeout: Duration,
    /// HTTP statuses counted as errors (`--error-status`; 5xx by default).
    pub error_status: StatusSet,
    /// Draw a progress line on stderr once a second.
    pub progress: bool,
    /// Set (by a SIGINT handler, say) to end the run early: every thread stops within a tick
    /// and the report covers what ran, marked [`Report::interrupted`].
    pub stop: Option<Arc<AtomicBool>>,
}

impl LoadConfig {
    /// A run against `addr` with every other setting at its default.
    pub fn new(addr: SocketAddr, protocol: Protocol) -> LoadConfig {
        LoadConfig {
            addr,
            protocol,
            tls: None,
            connections: DEFAULT_CONNECTIONS,
            threads: 1,
            pipeline: 1,
            size: DEFAULT_SIZE,
            duration: DEFAULT_DURATION,
            requests: None,
            rate: None,
            timeout: DEFAULT_TIMEOUT,
            error_status: StatusSet::default(),
            progress: false,
            stop: None,
        }
    }

    /// Checks that the process may open a socket per connection: the soft limit on open files
    /// (`ulimit -n`) must cover them and [`FD_RESERVE`] more. Past it, connections would fail
    /// with EMFILE one by one through the run; refused before it starts instead.
    pub fn check_open_files(&self) -> Result<(), String> {
        use rustix::process::{Resource, getrlimit};
        let limit = getrlimit(Resource::Nofile);
        let Some(soft) = limit.current else {
            return Ok(()); // unlimited
        };
        let needed = self.connections as u64 + FD_RESERVE + 2 * self.threads as u64;
        if needed <= soft {
            return Ok(());
        }
        let room = soft.saturating_sub(FD_RESERVE + 2 * self.threads as u64);
        let hard = match limit.maximum {
            Some(hard) if hard < needed => format!(
                "; the hard limit is {hard}, so raise that first (limits.conf, or \
                 LimitNOFILE= in a systemd unit)"
            ),
            Some(hard) => format!(" (the hard limit, {hard}, allows it)"),
            None => String::new(),
        };
        Err(format!(
            "-c {} needs {needed} open files but the limit (ulimit -n) is {soft}: use -c {room} \
             or fewer, or raise the limit in this shell with `ulimit -n {needed}`{hard}",
            self.connections
        ))
    }

    /// Checks the settings; the message names the command-line flag at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections == 0 || self.threads == 0 || self.pipeline == 0 {
            return Err("--connections, --threads and --pipeline must be at least 1".into());
        }
        if self.tls.is_some() && self.protocol == Protocol::Udp {
            return Err("--tls works over TCP only: UDP has no TLS here (no DTLS)".into());
        }
        if self.duration.is_zero() || self.timeout.is_zero() {
            return Err("--duration and --timeout must be more than 0".into());
        }
        if self.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return Err("--rate must be a positive number of requests per second".into());
        }
        let max_size = match &self.protocol {
            Protocol::Udp => MAX_DATAGRAM,
            Protocol::Framed(Framing::Length) => framed::MAX_FRAME,
            _ => MAX_SIZE,
        };
        let needs_payload = !matches!(self.protocol, Protocol::Http(_) | Protocol::Http2 { .. });
        if (needs_payload && self.size == 0) || self.size > max_size {
            return Err(format!("--size must be from 1 to {max_size} bytes here"));
        }
        if let Protocol::Http2 { request, .. } = &self.protocol {
            if self.pipeline > MAX_STREAMS {
                return Err(format!("--streams must be at most {MAX_STREAMS}"));
            }
            if !request.keep_alive {
                return Err("--http2 keeps its connections: drop --no-keep-alive".into());
            }
            if request.body.is_some()
                || ["POST", "PUT", "PATCH"]
                    .iter()
                    .any(|m| request.method.eq_ignore_ascii_case(m))
            {
                return Err(
                    "--http2 sends requests without a body (GET, HEAD, DELETE ...): drop \
                     --body, or use HTTP/1.1 for POST, PUT and PATCH"
                        .into(),
                );
            }
        }
        if let Protocol::Http(request) | Protocol::Http2 { request, .. } = &self.protocol {
            let token = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            };
            let visible = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
            if !token(&request.method) {
                return Err(format!(
                    "--method '{}' is not an HTTP method",
                    request.method
                ));
            }
            if !request.path.starts_with('/') || !visible(&request.path) || !visible(&request.host)
            {
                return Err("the URL must be http://HOST[:PORT]/PATH without spaces".into());
            }
            for (name, value) in &request.headers {
                if !token(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                    return Err(format!("-H '{name}: {value}' is not a header field"));
                }
            }
            if !request.keep_alive && self.pipeline > 1 {
                return Err(
                    "--keep-alive false sends one request per connection: drop --pipeline".into(),
                );
            }
        }
        Ok(())
    }
}

/// Runs the load `config` describes and reports what was measured.
///
/// Fails on invalid settings, if the server cannot be reached at all (a first TCP connect is
/// tried before the run starts), or if a thread cannot set up its poll. Errors during the
/// run — refused connections, resets, wrong replies — are counted in the report instead.
pub fn run(config: &LoadConfig) -> io::Result<Report> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tcp = !matches!(config.protocol, Protocol::Udp);
    if tcp {
        // Fail fast, with the reason, rather than count refusals for the whole duration.
        std::net::TcpStream::connect_timeout(&config.addr, config.timeout)?;
    }
    let driver = Driver::new(
        &config.protocol,
        config.size,
        config.pipeline,
        config.error_status,
    );
    let threads = config.threads.min(config.connections);
    let keep_alive = match &config.protocol {
        Protocol::Http(request) => request.keep_alive,
        _ => true,
    };
    let start = Instant::now();
    let deadline = start + config.duration;
    let progress = Progress::new(threads);
    let (tx, rx) = mpsc::channel();
    let merged = std::thread::scope(|scope| -> io::Result<Report> {
        for t in 0..threads {
            let slots = share(config.connections as u64, threads, t) as usize;
            let limit = config.requests.map_or(u64::MAX, |n| share(n, threads, t));
            let pacing = match config.rate {
                // Each thread takes the part of the rate its connections carry.
                Some(rate) => {
                    let rate = rate * slots as f64 / config.connections as f64;
                    Pacing::open(start, rate, slots, limit)
                }
                None => Pacing::closed(limit),
            };
            let plan = Plan {
                addr: config.addr,
                tls: config.tls.as_ref(),
                slots,
                driver: &driver,
                pacing,
                pipeline: config.pipeline,
                timeout: config.timeout,
                keep_alive,
                start,
                deadline,
                counters: progress.counters(t),
                stop: config.stop.as_deref(),
            };
            let tx = tx.clone();
            std::thread::Builder::new()
                .name(format!("evserve-load-{t}"))
                .spawn_scoped(scope, move || {
                    let report = if tcp {
                        runner::run::<tcp::Conn>(plan)
                    } else {
                        runner::run::<udp::Socket>(plan)
                    };
                    let _ = tx.send(report);
                })?;
        }
        drop(tx);
        collect(&rx, threads, config.progress, start, &progress)
    })?;
    let mut merged = merged;
    merged.interrupted = config
        .stop
        .as_ref()
        .is_some_and(|s| s.load(Ordering::Relaxed));
    if tcp && merged.connects == 0 && !merged.interrupted {
        return Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "no connection could be made",
        ));
    }
    Ok(merged)
}

/// Part `t` of `total` dealt to `parts` threads: as even as can be, the first ones taking
/// one more when it does not divide.
fn share(total: u64, parts: usize, t: usize) -> u64 {
    let parts = parts as u64;
    let t = t as u64;
    total / parts + u64::from(t < total % parts)
}

/// Waits for every thread's report, drawing the progress line once a second meanwhile.
fn collect(
    rx: &mpsc::Receiver<io::Result<Report>>,
    threads: usize,
    show: bool,
    start: Instant,
    progress: &Progress,
) -> io::Result<Report> {
    let mut merged = Report::new();
    let mut failed = None;
    let mut next_line = start + Duration::from_secs(1);
    let mut drawn = false;
    let mut done = 0;
    while done < threads {
        match rx.recv_timeout(next_line.saturating_duration_since(Instant::now())) {
            Ok(Ok(report)) => {
                merged.merge(&report);
                done += 1;
            }
            Ok(Err(e)) => {
                failed.get_or_insert(e);
                done += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if show {
                    // Clear the line and draw over it: one line, however long the run.
                    eprint!("\r\x1b[2K{}", progress.line(start.elapsed()));
                    let _ = io::stderr().flush();
                    drawn = true;
                }
                next_line += Duration::from_secs(1);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failed.get_or_insert_with(|| io::Error::other("a load thread died"));
                break;
            }
        }
    }
    if drawn {
        eprint!("\r\x1b[2K");
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(merged),
    }
}

#[cfg(test)]
mod live_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(10, 3), (2, 4), (0, 2), (7, 1)] {
            let sum: u64 = (0..parts).map(|t| share(total, parts, t)).sum();
            assert_eq!(sum, total);
        }
        assert_eq!(share(10, 3, 0), 4);
        assert_eq!(share(10, 3, 2), 3);
    }

    #[test]
    fn validation_names_the_flag() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let ok = LoadConfig::new(addr, Protocol::Echo);
        assert_eq!(ok.validate(), Ok(()));
        let bad = |f: fn(&mut LoadConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.connections = 0).contains("--connections"));
        assert!(bad(|c| c.size = 0).contains("--size"));
        assert!(bad(|c| c.rate = Some(0.0)).contains("--rate"));
        assert!(bad(|c| c.rate = Some(f64::NAN)).contains("--rate"));
        assert!(
            bad(|c| {
                c.protocol = Protocol::Udp;
                c.size = MAX_DATAGRAM + 1
            })
            .contains("65507")
        );
        let mut http = LoadConfig::new(addr, Protocol::Http(HttpRequest::get("h", "/")));
        http.size = 0;
        assert_eq!(http.validate(), Ok(()));
        http.protocol = Protocol::Http(HttpRequest {
            method: "GET /x".into(),
            ..HttpRequest::get("h", "/")
        });
        assert!(http.validate().unwrap_err().contains("--method"));
        http.protocol = Protocol::Http(HttpRequest {
            keep_alive: false,
            ..HttpRequest::get("h", "/")
        });
        http.pipeline = 2;
        assert!(http.validate().unwrap_err().contains("--pipeline"));
    }
}
