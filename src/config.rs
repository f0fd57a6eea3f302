//! Every limit and socket option the reactor enforces, with its default, in one place.
//!
//! The command line (see `cli.rs`) fills these in; tests and benchmarks build them directly.
//! Each limit exists because some peer could otherwise make the server spend unbounded memory
//! or time on it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Limits that bound what one reactor spends on its peers.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open TCP connections per reactor; more are accepted and closed at once.
    pub max_connections: usize,
    /// Bytes a connection may have waiting to be written before the reactor stops reading from
    /// it, so a client that sends but never reads cannot grow server memory.
    pub max_output: usize,
    /// Pending output at or below which a paused connection is read again.
    pub low_water: usize,
    /// Close a connection after this long with no byte read or written.
    pub idle_timeout: Duration,
    /// On SIGINT/SIGTERM, how long pending output may take to drain before everything closes.
    pub drain_timeout: Duration,
    /// On SIGINT/SIGTERM, how long to go on serving, with `/healthz` answering 503, before the
    /// listeners close: time for a load balancer's health check to notice and stop sending.
    pub drain_delay: Duration,
    /// After answering and shutting down the write side, how long to keep reading and
    /// discarding before closing (so a client still sending is not reset before it reads).
    pub linger_timeout: Duration,
    /// Bytes read per `read` call, and the size of the reactor's shared read buffer.
    pub read_chunk: usize,
    /// Reads per readiness event before the connection yields to others (fairness).
    pub read_budget: usize,
    /// Bytes written to one connection per turn of the loop before it yields to others: a
    /// peer with a huge socket buffer cannot make one turn copy megabytes for it alone.
    pub write_budget: usize,
    /// Bytes written to all connections together per turn; the rest waits for the next turn,
    /// after the next `poll`, so one burst of large answers cannot stall every other client.
    pub turn_write_budget: usize,
    /// While a connection is in the middle of a message or owes output, it must move at least
    /// this many bytes a second, measured over each `rate_window` (0: no minimum). A trickle
    /// of bytes therefore cannot hold a connection: unlike the idle timeout, the window is not
    /// restarted by every byte.
    pub min_rate: u64,
    /// The period over which `min_rate` is measured.
    pub rate_window: Duration,
    /// Bytes all connections of this reactor may hold together, in output waiting for their
    /// peers and in partial input: past it, connections that hold bytes are not read (nor
    /// their streams refilled) until the total falls back below seven eighths of it, and
    /// bodies that would be held in memory are refused with 503. Per-connection limits
    /// (`max_output`) bound one client; this bounds all of them together.
    pub max_memory: usize,
    /// The largest UDP datagram received whole; a larger one is dropped and counted.
    pub max_datagram: usize,
    /// UDP replies queued while the socket cannot send; more are dropped and counted.
    pub udp_queue: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 10_000,
            max_output: 1024 * 1024,
            low_water: 256 * 1024,
            idle_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(5),
            drain_delay: Duration::ZERO,
            linger_timeout: Duration::from_secs(2),
            read_chunk: 64 * 1024,
            read_budget: 16,
            write_budget: 1024 * 1024,
            turn_write_budget: 16 * 1024 * 1024,
            // As Apache's mod_reqtimeout (MinRate=500 over 20 s): far below any real client,
            // far above a slowloris.
            min_rate: 512,
            rate_window: Duration::from_secs(20),
            // 64 connections at `max_output`, 1,000 HTTPS file streams at their 64 KiB mark
            // (plain HTTP sends files from the page cache, holding none of their bytes): no
            // benchmark or ordinary burst meets it, and 10,000 clients that stop reading
            // cannot take gigabytes (the kernel's socket buffers are not counted).
            max_memory: 64 * 1024 * 1024,
            // The largest UDP payload over IPv6 without jumbograms (IPv4's is 65,507), so by
            // default the kernel never has to truncate a datagram.
            max_datagram: 65_527,
            udp_queue: 1024,
        }
    }
}

/// Options applied to every listening and UDP socket before it is bound.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// `SO_REUSEADDR`: restart on a port whose old connections are in TIME_WAIT.
    pub reuse_address: bool,
    /// `SO_REUSEPORT`: let several sockets (reactors) bind the same port.
    pub reuse_port: bool,
    /// `TCP_NODELAY` on accepted connections: send small replies at once (no Nagle delay).
    pub nodelay: bool,
    /// `SO_RCVBUF`, or the kernel default.
    pub recv_buffer: Option<usize>,
    /// `SO_SNDBUF`, or the kernel default.
    pub send_buffer: Option<usize>,
    /// The listen backlog: connections the kernel queues before `accept`.
    pub backlog: i32,
    /// `TCP_NOTSENT_LOWAT` on TCP listeners (accepted connections inherit it): the most
    /// bytes a connection's kernel send buffer holds *not yet sent* before a write is refused
    /// (and WRITABLE reported again below it). Without it the kernel grows the buffer to
    /// megabytes for a peer that stops reading, and the server copies that much for each.
    /// It does not limit what is in flight, so a fast peer's throughput is unchanged: the
    /// loop tops the buffer up each time it drains below the mark. Measured
    /// (docs/fairness.md): with 256 KiB, 2,000 clients that never read a download cost the
    /// loop 1.9 CPU-s instead of 4.8 and a good client's p99 fell from 57 ms to 2 ms. Not
    /// the default, because the kernel's buffer is also what absorbs a burst for a reader
    /// that keeps up on average: a chat member reading a 4 MB burst a little slower than it
    /// comes is cut off as a slow consumer once its backlog passes `max_output` plus this.
    /// `None`: the kernel's default (no limit).
    pub notsent_lowat: Option<u32>,
}

impl Default for SocketOptions {
    fn default() -> SocketOptions {
        SocketOptions {
            reuse_address: true,
            reuse_port: false,
            nodelay: true,
            recv_buffer: None,
            send_buffer: None,
            backlog: 1024,
            notsent_lowat: None,
        }
    }
}

/// Where `evserve serve` listens when no service flag is given: TCP and UDP echo here.
pub const DEFAULT_ECHO: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7007);

/// Where `evserve serve` serves framed echo when no service flag is given.
pub const DEFAULT_FRAMED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7008);

/// Where `evserve serve` serves HTTP when no service flag is given.
pub const DEFAULT_HTTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// The longest chat line accepted by default.
pub const DEFAULT_CHAT_LINE: usize = 64 * 1024;
