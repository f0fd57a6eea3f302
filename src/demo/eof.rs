//! Lesson: a read of 0 means the peer has finished sending; a half-closed socket still receives.
//!
//! `shutdown(Write)` sends a FIN: "I will send nothing more". The peer's reads return the bytes
//! still queued, then 0 — the end of the stream, not an error and not "no data yet" (that is
//! `WouldBlock` on a non-blocking socket; a blocking read just waits). Python's `recv` returns
//! `b""` for it. The other direction stays open: a client that has shut down its sending side
//! can still receive everything the server owes it.
//!
//! evserve sees the 0 in its read loop (`src/reactor/conn.rs`, `read_once` → `on_peer_eof`),
//! tells the session (`Session::on_eof`), writes whatever it still owes, then shuts down its own
//! sending side — which is the 0 the client reads.

use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};

use super::{loopback, read_once, start, wait_for};
use evserve::config::Limits;
use evserve::server::ServiceSpec;

/// The short message of the first experiment.
pub const BYE: &str = "bye";
/// What the half-closed client sends before its shutdown.
pub const HALF_CLOSED_SEND: usize = 256 * 1024;

/// What the end-of-stream lesson observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EofReport {
    /// Sizes of the client's reads after sending [`BYE`] and shutting down: the echo, then 0.
    pub reads_after_shutdown: Vec<usize>,
    /// Connections evserve had closed after that exchange.
    pub server_closed: u64,
    /// Bytes the half-closed client sent before `shutdown(Write)`.
    pub half_closed_sent: usize,
    /// Bytes it received back after its shutdown.
    pub half_closed_received: usize,
    /// `read` calls until the 0, the 0 included.
    pub half_closed_reads: usize,
    /// Whether the last read returned 0.
    pub ended_with_zero: bool,
}

/// Runs the lesson against evserve's echo service.
pub fn run() -> io::Result<EofReport> {
    let server = start(ServiceSpec::Echo(loopback()), Limits::default())?;
    let stats = server.stats.clone();

    let mut stream = TcpStream::connect(server.addrs[0])?;
    stream.write_all(BYE.as_bytes())?;
    stream.shutdown(Shutdown::Write)?;
    let mut reads_after_shutdown = Vec::new();
    let mut got = Vec::new();
    loop {
        let chunk = read_once(&mut stream, 1024)?;
        reads_after_shutdown.push(chunk.len());
        if chunk.is_empty() {
            break;
        }
        got.extend_from_slice(&chunk);
    }
    if got != BYE.as_bytes() {
        return Err(io::Error::other(format!(
            "expected the echo {BYE:?}, got {:?}",
            String::from_utf8_lossy(&got)
        )));
    }
    drop(stream);
    wait_for("evserve to close the connection", || {
        Ok(stats.closed.get() >= 1)
    })?;
    let server_closed = stats.closed.get();

    // Half close: send everything, shut down the sending side, then read it all back. The
    // server buffers the echo meanwhile (256 KiB is under its 1 MiB max_output).
    let mut stream = TcpStream::connect(server.addrs[0])?;
    let data = vec![b'x'; HALF_CLOSED_SEND];
    stream.write_all(&data)?;
    stream.shutdown(Shutdown::Write)?;
    let (mut received, mut reads) = (0, 0);
    let ended_with_zero = loop {
        let n = read_once(&mut stream, 64 * 1024)?.len();
        reads += 1;
        received += n;
        if n == 0 {
            break true;
        }
        if reads > HALF_CLOSED_SEND {
            break false;
        }
    };
    Ok(EofReport {
        reads_after_shutdown,
        server_closed,
        half_closed_sent: HALF_CLOSED_SEND,
        half_closed_received: received,
        half_closed_reads: reads,
        ended_with_zero,
    })
}

impl fmt::Display for EofReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== eof: a read of 0 is the end of the stream ==")?;
        let reads: Vec<String> = self
            .reads_after_shutdown
            .iter()
            .map(|n| n.to_string())
            .collect();
        writeln!(
            f,
            "1. The client sends {BYE:?}, then shutdown(Write). Its reads return: {}.",
            reads.join(", then ")
        )?;
        writeln!(
            f,
            "   evserve read our 0 (our FIN), echoed what it had, and shut down its side too:\n   \
             our last read returned 0. 0 means \"the peer will send nothing more\", not an error.\n   \
             evserve's closed counter: {}.",
            self.server_closed
        )?;
        writeln!(
            f,
            "2. A client sends {} bytes, then shutdown(Write) at once, before reading anything.\n   \
             It still receives {} bytes back in {} reads, the last one {}: a half-closed socket\n   \
             can still receive. Closing both sides (close()) here would have lost the echo.",
            self.half_closed_sent,
            self.half_closed_received,
            self.half_closed_reads,
            if self.ended_with_zero { "0" } else { "not 0" }
        )
    }
}
