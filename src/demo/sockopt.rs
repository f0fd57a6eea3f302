//! Lesson: a socket's attributes, and options set then read back from the kernel.
//!
//! A socket is a file descriptor: a small integer the kernel hands out (Python's
//! `fileno()`). It has a type (`SOCK_STREAM` for TCP, `SOCK_DGRAM` for UDP), a local address
//! (`getsockname`) and, once connected, a peer address (`getpeername`). Options are set with
//! `setsockopt(level, name, value)` and read back with `getsockopt` — and reading back matters,
//! because the kernel may not keep what you asked: Linux *doubles* `SO_RCVBUF` (the extra half
//! is for its own bookkeeping) and caps it at `net.core.rmem_max`.
//!
//! evserve sets its options with socket2 before `bind` (`src/reactor/socket.rs`,
//! `apply_common`: `SO_REUSEADDR`, `SO_REUSEPORT`, buffer sizes), `TCP_NODELAY` on each
//! accepted connection, and logs the values the kernel actually applied (`describe`).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

use super::{loopback, start};
use evserve::config::Limits;
use evserve::server::ServiceSpec;

/// The `SO_RCVBUF` the lesson asks for.
pub const ASKED_RCVBUF: usize = 32 * 1024;

/// One option: its value before, what was asked, what the kernel reports after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt<T> {
    /// `getsockopt` before `setsockopt`.
    pub before: T,
    /// The value given to `setsockopt`.
    pub asked: T,
    /// `getsockopt` after.
    pub after: T,
}

/// What the socket-attributes lesson observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SockoptReport {
    /// The TCP socket's descriptor.
    pub fd: i32,
    /// Its type, as the kernel names it.
    pub tcp_type: &'static str,
    /// A UDP socket's type, for comparison.
    pub udp_type: &'static str,
    /// `getsockname` after `connect` (the kernel picked the port).
    pub local: SocketAddr,
    /// `getpeername`: the evserve server.
    pub peer: SocketAddr,
    /// The address evserve reported binding.
    pub server: SocketAddr,
    /// `SO_REUSEADDR`.
    pub reuse_address: Opt<bool>,
    /// `SO_RCVBUF`.
    pub recv_buffer: Opt<usize>,
    /// `net.core.rmem_max`, the cap on `SO_RCVBUF`, if readable.
    pub rmem_max: Option<usize>,
    /// `TCP_NODELAY`.
    pub nodelay: Opt<bool>,
}

fn type_name(ty: Type) -> &'static str {
    if ty == Type::STREAM {
        "SOCK_STREAM"
    } else if ty == Type::DGRAM {
        "SOCK_DGRAM"
    } else {
        "other"
    }
}

/// Runs the lesson: a client socket, its options, and a connection to evserve's echo.
pub fn run() -> io::Result<SockoptReport> {
    let server = start(ServiceSpec::Echo(loopback()), Limits::default())?;
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    let udp = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;

    let before = socket.reuse_address()?;
    socket.set_reuse_address(true)?;
    let reuse_address = Opt {
        before,
        asked: true,
        after: socket.reuse_address()?,
    };

    let before = socket.recv_buffer_size()?;
    socket.set_recv_buffer_size(ASKED_RCVBUF)?;
    let recv_buffer = Opt {
        before,
        asked: ASKED_RCVBUF,
        after: socket.recv_buffer_size()?,
    };

    let before = socket.tcp_nodelay()?;
    socket.set_tcp_nodelay(true)?;
    let nodelay = Opt {
        before,
        asked: true,
        after: socket.tcp_nodelay()?,
    };

    socket.connect(&server.addrs[0].into())?;
    let addr = |a: socket2::SockAddr| {
        a.as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket address"))
    };
    Ok(SockoptReport {
        fd: socket.as_raw_fd(),
        tcp_type: type_name(socket.r#type()?),
        udp_type: type_name(udp.r#type()?),
        local: addr(socket.local_addr()?)?,
        peer: addr(socket.peer_addr()?)?,
        server: server.addrs[0],
        reuse_address,
        recv_buffer,
        rmem_max: std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        nodelay,
    })
}

impl fmt::Display for SockoptReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "== sockopt: a socket's attributes, read back from the kernel =="
        )?;
        writeln!(
            f,
            "fileno()        {:<29} the descriptor: a small integer naming this socket",
            self.fd
        )?;
        writeln!(
            f,
            "type            {:<29} TCP; a UDP socket is {}",
            self.tcp_type, self.udp_type
        )?;
        writeln!(
            f,
            "getsockname()   {:<29} we never bound: connect() picked a free port",
            self.local.to_string()
        )?;
        writeln!(
            f,
            "getpeername()   {:<29} the evserve server (it bound {})",
            self.peer.to_string(),
            self.server
        )?;
        let change =
            |before: &dyn fmt::Display, asked: &dyn fmt::Display, after: &dyn fmt::Display| {
                format!("{before} -> set {asked} -> {after}")
            };
        let r = &self.reuse_address;
        writeln!(
            f,
            "SO_REUSEADDR    {:<29} bind a port old connections still hold (TIME_WAIT)",
            change(&r.before, &r.asked, &r.after)
        )?;
        let r = &self.recv_buffer;
        writeln!(
            f,
            "SO_RCVBUF       {:<29} doubled by the kernel: the extra half is bookkeeping",
            change(&r.before, &r.asked, &r.after)
        )?;
        if let Some(max) = self.rmem_max {
            writeln!(
                f,
                "{:<46}(after cutting the request to net.core.rmem_max = {max})",
                ""
            )?;
        }
        let r = &self.nodelay;
        writeln!(
            f,
            "TCP_NODELAY     {:<29} send small writes at once, no Nagle delay",
            change(&r.before, &r.asked, &r.after)
        )?;
        writeln!(
            f,
            "setsockopt() is a request; getsockopt() tells you what the kernel did with it."
        )?;
        writeln!(
            f,
            "Every socket of a running server, live: curl http://127.0.0.1:8080/connections"
        )
    }
}
