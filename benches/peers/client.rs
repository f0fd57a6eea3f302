//! The closed-loop client the loopback benches share: many connections on one mio `Poll`,
//! each with a request in flight, each answered request replaced by a new one.
//!
//! A benchmark supplies the request bytes and `take`, which removes complete replies from
//! the front of a connection's received bytes (checking each, panicking on a wrong one) and
//! says how many it removed. So the client never counts a wrong reply as throughput, and
//! knows nothing of the protocol.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

/// The criterion settings every loopback bench uses: short runs, since each sample already
/// covers many round trips.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20)
}

/// Runs `conns` connections until `total` replies have arrived; returns the time taken.
/// `request` is sent whole, and again once `per_request` replies to it have arrived.
pub fn closed_loop(
    addr: SocketAddr,
    conns: usize,
    request: &[u8],
    per_request: u64,
    total: u64,
    take: fn(&mut Vec<u8>) -> u64,
) -> Duration {
    let mut poll = Poll::new().expect("poll");
    let mut streams: Vec<(MioStream, Vec<u8>, u64)> = (0..conns)
        .map(|i| {
            let std = TcpStream::connect(addr).expect("connect");
            std.set_nodelay(true).expect("nodelay");
            std.set_nonblocking(true).expect("nonblocking");
            let mut s = MioStream::from_std(std);
            poll.registry()
                .register(&mut s, Token(i), Interest::READABLE)
                .expect("register");
            (s, Vec::with_capacity(4096), 0)
        })
        .collect();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 65536];
    let start = Instant::now();
    for (s, _, _) in &mut streams {
        s.write_all(request).expect("first request");
    }
    let mut done = 0u64;
    while done < total {
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .expect("poll");
        assert!(!events.is_empty(), "no reply within 5 s");
        for ev in events.iter() {
            let (s, received, answered) = &mut streams[ev.token().0];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => panic!("server closed the connection"),
                    Ok(n) => {
                        received.extend_from_slice(&buf[..n]);
                        let got = take(received);
                        done += got;
                        *answered += got;
                        while *answered >= per_request {
                            *answered -= per_request;
                            s.write_all(request).expect("next request");
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
        }
    }
    start.elapsed()
}
