//! `evserve demo LESSON`: the classic socket lessons as small experiments against a real server.
//!
//! Every course on network programming walks through the same lessons: what `recv` returns,
//! why TCP "glues" messages together, what a short `send` means, what a UDP datagram is, a
//! socket's attributes, broadcast, and the shape of an HTTP exchange. Each lesson here is one
//! file that starts a real evserve server in this process (on `127.0.0.1`, port 0, through
//! [`server::spawn`]), runs a small, bounded experiment with client sockets of its own, and
//! returns a *report*: the facts it observed (byte counts, numbers of reads, counters,
//! option values read back from the kernel). A report's `Display` is the explanation a
//! student reads; tests check the facts, never the timing.
//!
//! ```text
//!   demo/mod.rs ── Lesson, DemoArgs, run()          the CLI's entry point
//!   demo/sticky.rs     a stream has no message boundaries; three fixes, one of them false
//!   demo/partial.rs    a write taken in part, a read returning part of a message
//!   demo/eof.rs        a read of 0; a half-closed client still gets its echo
//!   demo/udp.rs        datagrams keep their boundaries; an oversized one is cut and counted
//!   demo/sockopt.rs    fd, type, addresses, options set and read back
//!   demo/broadcast.rs  a beacon on 127.255.255.255; the rate floor against storms
//!   demo/http.rs       requests and responses, line by line, one per method
//! ```
//!
//! Nothing here sleeps in the hope that something has happened: a demo waits for a fact (bytes
//! in a receive buffer, a counter reaching a value), checked every millisecond up to a
//! deadline, and fails with a message if the fact never comes. The one deliberate `sleep` is
//! the "sleep between sends" fix, which is the lesson.

pub mod broadcast;
pub mod eof;
pub mod http;
pub mod partial;
pub mod sockopt;
pub mod sticky;
pub mod udp;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use evserve::config::{Limits, SocketOptions};
use evserve::server::{self, Running, ServerConfig, ServiceSpec};

/// `evserve demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The lesson to run; `all` runs every one in order.
    #[arg(value_enum)]
    pub lesson: Lesson,
}

/// The lessons, in the order a course teaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lesson {
    /// TCP "sticky packets": two messages read as one; length header, delimiter, sleep.
    Sticky,
    /// A large write taken in part by a full send buffer; a read returning part of a message.
    Partial,
    /// A read of 0 after the peer's shutdown; a half-closed client still receiving its echo.
    Eof,
    /// UDP: datagrams keep their boundaries; an oversized one is truncated and counted.
    Udp,
    /// A socket's fd, type, addresses, and options set then read back with getsockopt.
    Sockopt,
    /// UDP broadcast discovery on 127.255.255.255, and the rate floor against storms.
    Broadcast,
    /// HTTP requests and responses annotated line by line, one per method.
    Http,
    /// Every lesson, in order.
    All,
}

impl Lesson {
    /// Every single lesson, in order (without [`Lesson::All`]).
    pub const EACH: [Lesson; 7] = [
        Lesson::Sticky,
        Lesson::Partial,
        Lesson::Eof,
        Lesson::Udp,
        Lesson::Sockopt,
        Lesson::Broadcast,
        Lesson::Http,
    ];

    /// The name the command line knows it by: `sticky`, ...
    pub fn name(self) -> &'static str {
        match self {
            Lesson::Sticky => "sticky",
            Lesson::Partial => "partial",
            Lesson::Eof => "eof",
            Lesson::Udp => "udp",
            Lesson::Sockopt => "sockopt",
            Lesson::Broadcast => "broadcast",
            Lesson::Http => "http",
            Lesson::All => "all",
        }
    }
}

/// Runs `lesson` and returns what it prints.
pub fn run(lesson: Lesson) -> io::Result<String> {
    Ok(match lesson {
        Lesson::Sticky => sticky::run()?.to_string(),
        Lesson::Partial => partial::run()?.to_string(),
        Lesson::Eof => eof::run()?.to_string(),
        Lesson::Udp => udp::run()?.to_string(),
        Lesson::Sockopt => sockopt::run()?.to_string(),
        Lesson::Broadcast => broadcast::run()?.to_string(),
        Lesson::Http => http::run()?.to_string(),
        Lesson::All => {
            let mut out = String::new();
            for each in Lesson::EACH {
                out.push_str(&run(each)?);
                out.push('\n');
            }
            out
        }
    })
}

/// How long any one wait for a fact may take before the demo gives up. Generous: on a loaded
/// machine loopback is slow, but a fact that has not come in this long never will.
pub const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Starts one evserve service with `limits`, on its own thread.
fn start(spec: ServiceSpec, limits: Limits) -> io::Result<Running> {
    start_with(spec, limits, SocketOptions::default())
}

/// Starts one evserve service with `limits` and listening-socket `options`.
fn start_with(spec: ServiceSpec, limits: Limits, options: SocketOptions) -> io::Result<Running> {
    let config = ServerConfig {
        services: vec![spec],
        limits,
        socket_options: options,
        workers: 1,
        ..ServerConfig::default()
    };
    server::spawn(config).map_err(|e| io::Error::other(e.to_string()))
}

/// `127.0.0.1:0`, where every demo server listens.
fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Waits until `fact` holds, checking every millisecond, for at most [`WAIT_LIMIT`]. This is
/// waiting *for* something, not sleeping in the hope it happened.
fn wait_for(what: &str, mut fact: impl FnMut() -> io::Result<bool>) -> io::Result<()> {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        if fact()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("gave up after {WAIT_LIMIT:?} waiting for {what}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until at least `n` bytes are queued in `stream`'s receive buffer, by peeking (a peek
/// reads without consuming). Then one `read` takes them all at once: this is what a reader
/// that comes late — busy with other work, as under load — finds.
fn wait_buffered(stream: &TcpStream, n: usize) -> io::Result<()> {
    let mut buf = vec![0u8; n];
    stream.set_read_timeout(Some(WAIT_LIMIT))?;
    wait_for(&format!("{n} bytes in the receive buffer"), || {
        Ok(stream.peek(&mut buf)? >= n)
    })
}

/// Reads once into a buffer of `cap` bytes and returns what came.
fn read_once(stream: &mut TcpStream, cap: usize) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; cap];
    stream.set_read_timeout(Some(WAIT_LIMIT))?;
    let n = stream.read(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Bytes shown to a student: text as text, anything else escaped.
struct Shown<'a>(&'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests;
