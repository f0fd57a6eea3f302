//! Opening listeners and UDP sockets with the options mio does not expose.
//!
//! Options are set with socket2 *before* `bind`/`listen`, where they must be: `SO_REUSEADDR`
//! lets a restarted server bind while old connections sit in TIME_WAIT, `SO_REUSEPORT` lets
//! several reactors share one port, and buffer sizes affect the window a listener advertises.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::config::SocketOptions;

/// Binds a non-blocking TCP listener on `addr` with `opts`.
pub(crate) fn tcp_listener(
    addr: SocketAddr,
    opts: &SocketOptions,
) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    apply_common(&socket, addr, opts)?;
    if let Some(bytes) = opts.notsent_lowat {
        socket.set_tcp_notsent_lowat(bytes)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    socket.set_nonblocking(true)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Binds a non-blocking UDP socket on `addr` with `opts`.
pub(crate) fn udp_socket(
    addr: SocketAddr,
    opts: &SocketOptions,
) -> io::Result<mio::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    apply_common(&socket, addr, opts)?;
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(mio::net::UdpSocket::from_std(socket.into()))
}

fn apply_common(socket: &Socket, addr: SocketAddr, opts: &SocketOptions) -> io::Result<()> {
    if addr.is_ipv6() {
        // Bind exactly what was asked: `[::]:80` should not also take IPv4's port 80.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(opts.reuse_address)?;
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if let Some(size) = opts.recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(size) = opts.send_buffer {
        socket.set_send_buffer_size(size)?;
    }
    Ok(())
}

/// A one-line description of a socket's effective options, read back from the kernel (which
/// may round or double buffer sizes), for debug logs.
pub(crate) fn describe(socket: SockRef<'_>) -> String {
    let get = |r: io::Result<usize>| r.map_or_else(|e| format!("?({e})"), |v| v.to_string());
    format!(
        "rcvbuf={} sndbuf={} reuseaddr={} reuseport={}",
        get(socket.recv_buffer_size()),
        get(socket.send_buffer_size()),
        socket.reuse_address().is_ok_and(|v| v),
        socket.reuse_port().is_ok_and(|v| v),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option is set once, on the listener; the server relies on every accepted
    /// connection inheriting it (Linux clones the listener's TCP state into the child).
    #[test]
    fn accepted_connections_inherit_notsent_lowat() {
        let opts = SocketOptions {
            notsent_lowat: Some(128 * 1024),
            ..SocketOptions::default()
        };
        let listener = tcp_listener("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let accepted = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("accept: {e}"),
            }
        };
        let lowat = SockRef::from(&accepted).tcp_notsent_lowat().unwrap();
        assert_eq!(lowat, 128 * 1024);
    }
}
