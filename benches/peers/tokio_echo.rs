//! The tokio peer for echo comparisons: an idiomatic echo server on a `current_thread`
//! runtime (one thread, like one evserve reactor) — the code a user would otherwise write.

use std::net::SocketAddr;
use std::sync::mpsc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Starts TCP and UDP echo on 127.0.0.1 ports of their own, on a thread of their own.
/// Returns `(tcp, udp)`. The thread lives as long as the process (a benchmark's).
pub fn spawn() -> (SocketAddr, SocketAddr) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async move {
            let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
            let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            tx.send((tcp.local_addr().unwrap(), udp.local_addr().unwrap()))
                .unwrap();
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
        });
    });
    rx.recv().expect("tokio peer started")
}
