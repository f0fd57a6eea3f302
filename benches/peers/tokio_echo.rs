//! The tokio peer for echo comparisons: an idiomatic echo server on a `current_thread`
//! runtime (one thread, like one evserve reactor) — the code a user would otherwise write.
//!
//! Included by `benches/echo.rs` (through [`spawn`]) and built on its own as the example
//! `tokio_echo` for `benches/compare.sh`: `tokio_echo TCP_ADDR UDP_ADDR`.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Binds a TCP listener with the same backlog as evserve and nginx in `benches/compare.sh`
/// (std's `TcpListener::bind` asks for 128, which drops SYNs when 1000 connections open at once).
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Serves TCP and UDP echo on these sockets, on this thread, for ever.
fn serve(tcp: std::net::TcpListener, udp: std::net::UdpSocket) -> std::io::Result<()> {
    tcp.set_nonblocking(true)?;
    udp.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let tcp = TcpListener::from_std(tcp)?;
        let udp = UdpSocket::from_std(udp)?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
                let _ = udp.send_to(&buf[..n], peer).await;
            }
        });
        loop {
            let Ok((mut stream, _)) = tcp.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}

/// Starts TCP and UDP echo on 127.0.0.1 ports of their own, on a thread of their own.
/// Returns `(tcp, udp)`. The thread lives as long as the process (a benchmark's).
#[allow(dead_code)] // used by benches, not by the example binary
pub fn spawn() -> (SocketAddr, SocketAddr) {
    let tcp = listen(([127, 0, 0, 1], 0).into()).expect("bind tcp");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let addrs = (tcp.local_addr().unwrap(), udp.local_addr().unwrap());
    std::thread::spawn(move || serve(tcp, udp));
    addrs
}

#[allow(dead_code)] // the entry point when built as the example, not when a bench includes it
fn main() -> std::io::Result<()> {
    let arg = |n: usize, default: &str| -> std::io::Result<SocketAddr> {
        std::env::args()
            .nth(n)
            .unwrap_or_else(|| default.into())
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let tcp = listen(arg(1, "127.0.0.1:7017")?)?;
    let udp = std::net::UdpSocket::bind(arg(2, "127.0.0.1:7017")?)?;
    eprintln!(
        "tokio echo peer listening on tcp {} udp {}",
        tcp.local_addr()?,
        udp.local_addr()?
    );
    serve(tcp, udp)
}
