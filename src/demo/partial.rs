//! Lesson: `send` may take part of what you give it, and `recv` may return part of a message.
//!
//! A `write` on a socket only copies bytes into the kernel's send buffer. When the buffer is
//! full — because the peer reads slowly, or not at all — a non-blocking `write` takes what fits
//! and returns that count (or `WouldBlock` when nothing fits). The rest is still yours to send:
//! `sendall` (Rust: `write_all`) is nothing but a loop around `write`. evserve's reactor does
//! the same thing without blocking: what the socket did not take stays in the connection's
//! output buffer until WRITABLE, and above `max_output` the reactor stops reading from that
//! client, so TCP flow control pushes back on it (`src/reactor/conn.rs`, `send`).
//!
//! On the other side, a `read` returns what is in the receive buffer up to the size you ask
//! for — part of a message if only part has arrived or your buffer is smaller. The rest comes
//! with the next read. evserve keeps such a partial message for the session and offers it again
//! with the next bytes (`src/reactor/conn.rs`, `feed`).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;

use socket2::{Domain, Protocol, Socket, Type};

use super::{loopback, read_once, start, start_with, wait_buffered, wait_for};
use evserve::config::{Limits, SocketOptions};
use evserve::protocol::frame::{Decoder, Encoder, LengthCodec};
use evserve::protocol::framed::FramedConfig;
use evserve::server::ServiceSpec;

/// The size of the one large write.
pub const REQUEST: usize = 1024 * 1024;
/// `SO_SNDBUF` and `SO_RCVBUF` asked for on the client and on the server's listener.
pub const SOCKET_BUFFER: usize = 16 * 1024;
/// The server's `max_output`: above this much pending output it stops reading.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// The message read in small pieces.
pub const MESSAGE: &str = "hello world";
/// The reader's buffer size for that message.
pub const SMALL_READ: usize = 4;
/// How many bytes of the framed message are sent first.
pub const FIRST_PART: usize = 7;

/// What the partial-write and partial-read lesson observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialReport {
    /// The client's `SO_SNDBUF` as the kernel set it.
    pub client_sndbuf: usize,
    /// Bytes the first `write` of [`REQUEST`] bytes took.
    pub first_write: usize,
    /// `write` calls made until the send buffer was full and the server had stopped reading.
    pub write_calls: usize,
    /// Bytes taken by all those calls.
    pub taken_before_full: usize,
    /// The server's `bytes_in` when the client's writes blocked.
    pub server_bytes_in: u64,
    /// The server's `bytes_out` then (what the client's receive buffer holds: it never read).
    pub server_bytes_out: u64,
    /// The server's `buffered_out` then: echo waiting for the client to read.
    pub server_buffered_out: u64,
    /// Bytes echoed back once the client read, after `write_all` sent the rest.
    pub echoed: usize,
    /// Whether the echo was byte for byte what was sent.
    pub echo_intact: bool,
    /// Sizes of the reads of [`MESSAGE`] with a [`SMALL_READ`]-byte buffer.
    pub small_reads: Vec<usize>,
    /// The framed server's `bytes_in` after the first part of a frame arrived.
    pub framed_in_after_part: u64,
    /// Frames echoed once the rest arrived.
    pub framed_frames_back: usize,
    /// The framed server's `bytes_out`: one whole frame, nothing for the partial one.
    pub framed_bytes_out: u64,
}

/// Runs the lesson.
pub fn run() -> io::Result<PartialReport> {
    let mut report = short_writes()?;
    let (small_reads, part_in, frames, out) = short_reads()?;
    report.small_reads = small_reads;
    report.framed_in_after_part = part_in;
    report.framed_frames_back = frames;
    report.framed_bytes_out = out;
    Ok(report)
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// One large write to an echo server that a client with small buffers does not read from.
fn short_writes() -> io::Result<PartialReport> {
    let limits = Limits {
        max_output: MAX_OUTPUT,
        low_water: MAX_OUTPUT / 4,
        ..Limits::default()
    };
    let options = SocketOptions {
        recv_buffer: Some(SOCKET_BUFFER),
        send_buffer: Some(SOCKET_BUFFER),
        ..SocketOptions::default()
    };
    let server = start_with(ServiceSpec::Echo(loopback()), limits, options)?;
    let stats = server.stats.clone();

    // Buffer sizes must be set before connect: they decide the window TCP advertises.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_send_buffer_size(SOCKET_BUFFER)?;
    socket.set_recv_buffer_size(SOCKET_BUFFER)?;
    socket.connect(&server.addrs[0].into())?;
    let client_sndbuf = socket.send_buffer_size()?;
    let mut stream: TcpStream = socket.into();
    stream.set_nonblocking(true)?;

    let data: Vec<u8> = (0..REQUEST).map(pattern).collect();
    let first_write = stream.write(&data)?;
    let (mut sent, mut calls) = (first_write, 1);
    // Keep offering the rest, as a non-blocking sender does, until the server has stopped
    // reading (its pending echo is over max_output) and the client's send buffer is full.
    let mut blocked = false;
    wait_for("the send buffer to fill", || {
        match stream.write(&data[sent..]) {
            Ok(n) => {
                sent += n;
                calls += 1;
                blocked = false;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => blocked = true,
            Err(e) => return Err(e),
        }
        Ok(blocked && stats.buffered_out.get() > MAX_OUTPUT as u64)
    })?;
    let (server_bytes_in, server_bytes_out, server_buffered_out) = (
        stats.bytes_in.get(),
        stats.bytes_out.get(),
        stats.buffered_out.get(),
    );

    // Now read, and send the rest the way sendall does: a loop until every byte is taken.
    stream.set_nonblocking(false)?;
    let mut reader = stream.try_clone()?;
    let reading = std::thread::spawn(move || -> io::Result<(usize, bool)> {
        let mut got = 0;
        let mut intact = true;
        while got < REQUEST {
            let chunk = read_once(&mut reader, 64 * 1024)?;
            if chunk.is_empty() {
                break;
            }
            intact &= chunk
                .iter()
                .enumerate()
                .all(|(i, b)| *b == pattern(got + i));
            got += chunk.len();
        }
        Ok((got, intact))
    });
    stream.write_all(&data[sent..])?;
    let (echoed, echo_intact) = reading
        .join()
        .map_err(|_| io::Error::other("reader thread panicked"))??;

    Ok(PartialReport {
        client_sndbuf,
        first_write,
        write_calls: calls,
        taken_before_full: sent,
        server_bytes_in,
        server_bytes_out,
        server_buffered_out,
        echoed,
        echo_intact,
        small_reads: Vec::new(),
        framed_in_after_part: 0,
        framed_frames_back: 0,
        framed_bytes_out: 0,
    })
}

/// A message read with a buffer too small for it, and a frame that arrives in two parts.
fn short_reads() -> io::Result<(Vec<usize>, u64, usize, u64)> {
    let echo = start(ServiceSpec::Echo(loopback()), Limits::default())?;
    let mut stream = TcpStream::connect(echo.addrs[0])?;
    stream.write_all(MESSAGE.as_bytes())?;
    wait_buffered(&stream, MESSAGE.len())?;
    let mut small_reads = Vec::new();
    let mut got = 0;
    while got < MESSAGE.len() {
        let n = read_once(&mut stream, SMALL_READ)?.len();
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        small_reads.push(n);
        got += n;
    }

    let framed = start(
        ServiceSpec::Framed(loopback(), FramedConfig::length()),
        Limits::default(),
    )?;
    let stats = framed.stats.clone();
    let mut frame = Vec::new();
    LengthCodec::default()
        .encode(MESSAGE.as_bytes(), &mut frame)
        .map_err(io::Error::other)?;
    let mut stream = TcpStream::connect(framed.addrs[0])?;
    stream.write_all(&frame[..FIRST_PART])?;
    wait_for("the server to read the first part", || {
        Ok(stats.bytes_in.get() >= FIRST_PART as u64)
    })?;
    let part_in = stats.bytes_in.get();
    stream.write_all(&frame[FIRST_PART..])?;
    let mut back = vec![0u8; frame.len()];
    stream.set_read_timeout(Some(super::WAIT_LIMIT))?;
    stream.read_exact(&mut back)?;
    let mut frames = 0;
    let mut rest = &back[..];
    let mut codec = LengthCodec::default();
    while let Ok(Some(f)) = codec.decode(rest) {
        frames += 1;
        rest = &rest[f.consumed..];
    }
    wait_for("the server to count its write", || {
        Ok(stats.bytes_out.get() >= frame.len() as u64)
    })?;
    Ok((small_reads, part_in, frames, stats.bytes_out.get()))
}

impl fmt::Display for PartialReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "== partial: write takes what fits, read returns what is there =="
        )?;
        writeln!(
            f,
            "1. A client with SO_SNDBUF {} (asked {SOCKET_BUFFER}) writes {REQUEST} bytes at once\n   \
             to an echo server with max_output {MAX_OUTPUT}, and never reads:",
            self.client_sndbuf
        )?;
        writeln!(
            f,
            "   first write() took {} of {REQUEST} bytes: the rest did not fit in the send buffer.",
            self.first_write
        )?;
        writeln!(
            f,
            "   {} write() calls took {} bytes in all, then WouldBlock: every buffer on the way is full.",
            self.write_calls, self.taken_before_full
        )?;
        writeln!(
            f,
            "   evserve's counters: bytes_in={} bytes_out={} buffered_out={}",
            self.server_bytes_in, self.server_bytes_out, self.server_buffered_out
        )?;
        writeln!(
            f,
            "   Where the {} bytes are: {} read by evserve; {} still in kernel buffers (the\n   \
             client's send buffer, evserve's receive buffer). Of its echo, evserve wrote {} (they\n   \
             wait, unread, in the client's receive buffer) and holds {} in its output buffer:\n   \
             over max_output, so it stopped reading, and TCP flow control stopped the client.",
            self.taken_before_full,
            self.server_bytes_in,
            (self.taken_before_full as u64).saturating_sub(self.server_bytes_in),
            self.server_bytes_out,
            self.server_buffered_out
        )?;
        writeln!(
            f,
            "2. The client now reads, and write_all() (sendall) loops until the rest is taken:\n   \
             {} of {REQUEST} bytes echoed back, {}.",
            self.echoed,
            if self.echo_intact {
                "byte for byte as sent"
            } else {
                "NOT as sent"
            }
        )?;
        let reads: Vec<String> = self.small_reads.iter().map(|n| n.to_string()).collect();
        writeln!(
            f,
            "3. {:?} ({} bytes) is echoed; the reader reads with a {SMALL_READ}-byte buffer:\n   \
             reads of {} bytes. A read returns at most what you ask; the rest waits for the next.",
            MESSAGE,
            MESSAGE.len(),
            reads.join(" + ")
        )?;
        writeln!(
            f,
            "4. A length-prefixed frame sent in two parts to the framed service: evserve read {}\n   \
             bytes (header and part of the message) and kept them; after the rest it answered\n   \
             {} frame, {} bytes out. Nothing is delivered for half a message.",
            self.framed_in_after_part, self.framed_frames_back, self.framed_bytes_out
        )
    }
}
