//! TCP and UDP echo over real sockets on 127.0.0.1.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use evserve::config::Limits;
use evserve::server::{ServerConfig, ServiceSpec};
use util::{Server, pattern};

const TIMEOUT: Duration = Duration::from_secs(10);

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.tcp("echo")).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

fn echo_server(extra: &[&str]) -> Server {
    let mut args = vec!["--echo", "127.0.0.1:0", "--udp-echo", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Server::start(&args, 2)
}

/// Reads until EOF, failing on error or timeout.
fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read to EOF");
    got
}

#[test]
fn echoes_one_byte() {
    let server = echo_server(&[]);
    let mut s = connect(&server);
    s.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"x");
}

#[test]
fn echoes_8_mib_written_in_one_go_while_reading_back() {
    let server = echo_server(&[]);
    let mut s = connect(&server);
    let data = pattern(8 << 20, 1);
    let mut writer = s.try_clone().unwrap();
    let sent = data.clone();
    // One write_all of 8 MiB: the kernel takes it in many partial writes, and the server
    // must keep echoing while the client is still writing, or both sides would deadlock.
    let w = thread::spawn(move || writer.write_all(&sent).expect("write 8 MiB"));
    let mut got = vec![0u8; data.len()];
    s.read_exact(&mut got).expect("read back 8 MiB");
    w.join().unwrap();
    assert!(got == data, "echoed bytes differ");
}

#[test]
fn two_hundred_clients_each_do_a_hundred_exchanges() {
    let server = echo_server(&[]);
    let addr = server.tcp("echo");
    let clients: Vec<_> = (0..200u64)
        .map(|id| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                for round in 0..100u64 {
                    let msg = pattern(
                        1 + ((id * 7 + round * 13) % 300) as usize,
                        id * 1000 + round,
                    );
                    s.write_all(&msg).unwrap();
                    let mut got = vec![0u8; msg.len()];
                    s.read_exact(&mut got).unwrap();
                    assert_eq!(got, msg, "client {id} round {round}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client failed");
    }
}

#[test]
fn half_close_still_gets_all_echo_then_eof() {
    let server = echo_server(&[]);
    let mut s = connect(&server);
    let data = pattern(300_000, 2);
    let mut writer = s.try_clone().unwrap();
    let sent = data.clone();
    let w = thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let got = read_to_eof(&mut s);
    w.join().unwrap();
    assert!(got == data, "got {} of {} bytes", got.len(), data.len());
}

#[test]
fn a_client_reset_does_not_disturb_others() {
    let server = echo_server(&[]);
    let mut good = connect(&server);
    good.write_all(b"before").unwrap();
    let mut buf = [0u8; 6];
    good.read_exact(&mut buf).unwrap();

    let bad = connect(&server);
    (&bad).write_all(b"going away").unwrap();
    // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    socket2::SockRef::from(&bad)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(bad);

    for round in 0..50 {
        let msg = format!("after {round}");
        good.write_all(msg.as_bytes()).unwrap();
        let mut got = vec![0u8; msg.len()];
        good.read_exact(&mut got).unwrap();
        assert_eq!(got, msg.as_bytes());
    }
}

#[test]
fn idle_timeout_closes_an_idle_connection() {
    let server = echo_server(&["--idle-timeout", "300ms"]);
    let mut s = connect(&server);
    s.write_all(b"hi").unwrap();
    let mut buf = [0u8; 2];
    s.read_exact(&mut buf).unwrap();
    let start = Instant::now();
    // The server must close: EOF arrives (the read timeout is 10 s, far beyond 300 ms).
    assert_eq!(s.read(&mut buf).expect("read EOF"), 0);
    assert!(start.elapsed() < TIMEOUT);
}

#[test]
fn max_connections_is_enforced_and_recovers() {
    let server = echo_server(&["--max-connections", "2"]);
    let mut a = connect(&server);
    let mut b = connect(&server);
    for s in [&mut a, &mut b] {
        s.write_all(b"ok").unwrap();
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).unwrap();
    }
    let mut c = connect(&server);
    let mut buf = [0u8; 16];
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("third connection should be closed at once, got {other:?}"),
    }
    drop(a);
    // Once a slot is free, a new client is served. The server sees the close
    // asynchronously, so retry for a bounded time.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut d = connect(&server);
        let _ = d.write_all(b"hello");
        let mut got = [0u8; 5];
        if d.read_exact(&mut got).is_ok() {
            assert_eq!(&got, b"hello");
            break;
        }
        assert!(Instant::now() < deadline, "server never accepted again");
        thread::sleep(Duration::from_millis(50));
    }
    b.write_all(b"still").unwrap();
    let mut got = [0u8; 5];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"still");
}

#[test]
fn a_client_that_never_reads_cannot_grow_server_memory() {
    let limits = Limits {
        max_output: 256 * 1024,
        low_water: 64 * 1024,
        ..Limits::default()
    };
    let read_chunk = limits.read_chunk;
    let max_output = limits.max_output;
    let config = ServerConfig {
        services: vec![ServiceSpec::Echo("127.0.0.1:0".parse().unwrap())],
        limits,
        ..ServerConfig::default()
    };
    let server = evserve::server::spawn(config).unwrap();
    let stats = Arc::clone(&server.stats);

    let mut s = TcpStream::connect(server.addrs[0]).unwrap();
    // Write until the server stops reading and every buffer in between is full: a write
    // that makes no progress for a second ends the attempt.
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let chunk = pattern(64 * 1024, 3);
    let mut written = 0usize;
    while written < 64 << 20 {
        match s.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    let buffered = stats.buffered_out.get() as usize;
    assert!(
        written < 64 << 20,
        "server kept reading: {written} bytes taken"
    );
    assert!(
        buffered <= max_output + read_chunk,
        "{buffered} bytes buffered, limit {max_output}"
    );
    assert!(buffered > 0, "the server should hold some pending output");
    drop(s);
    server.stop().unwrap();
    assert_eq!(
        stats.buffered_out.get(),
        0,
        "gauge returns to zero after close"
    );
}

#[test]
fn udp_echo_of_small_mtu_and_maximum_datagrams() {
    let server = echo_server(&[]);
    let addr = server.addr("echo", "udp");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = vec![0u8; 70_000];
    for len in [1usize, 1472, 65_507] {
        let msg = pattern(len, len as u64);
        // UDP may drop; a few tries keep the test about echo, not about loss.
        let mut ok = false;
        for _ in 0..5 {
            sock.send_to(&msg, addr).unwrap();
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                assert_eq!(from, addr);
                assert_eq!(n, len, "datagram of {len} bytes came back as {n}");
                assert!(buf[..n] == msg[..]);
                ok = true;
                break;
            }
        }
        assert!(ok, "no echo for a {len}-byte datagram");
    }
}

#[test]
fn sigterm_with_a_pending_write_still_delivers_it_and_exits_zero() {
    // The reactor's state changes are logged at trace level: one of them is the signal below.
    // A send buffer of fixed small size (the kernel would otherwise grow it to hold all 2 MiB,
    // and the server would have nothing pending of its own).
    let mut server = Server::start_logging(
        &[
            "--echo",
            "127.0.0.1:0",
            "--max-output",
            "256KiB",
            "--send-buffer",
            "4096",
        ],
        1,
        "info,evserve::reactor=trace",
    );
    // A small receive window too, so that the client's kernel holds little of it.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.tcp("echo").into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let data = pattern(2 << 20, 4);
    let mut writer = s.try_clone().unwrap();
    let sent = data.clone();
    // Write 2 MiB without reading: the server fills its output buffer and stops reading.
    let w = thread::spawn(move || {
        let _ = writer.write_all(&sent);
    });
    // The write is pending once the server has paused reading with its output over the limit.
    server
        .wait_log("output over max_output", TIMEOUT)
        .expect("the server never paused reading with its output over --max-output");
    server.terminate();
    let got = read_to_eof(&mut s);
    w.join().unwrap();
    assert!(!got.is_empty(), "pending output was lost");
    assert!(
        got[..] == data[..got.len()],
        "delivered bytes are not the echo"
    );
    drop(s);
    let status = server.wait_exit(TIMEOUT).expect("server did not exit");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn several_workers_share_one_port_and_all_serve() {
    let mut server = Server::start(&["--echo", "127.0.0.1:0", "--workers", "3"], 3);
    let addr = server.tcp("echo");
    // All three workers bound the same, once-resolved port.
    let bound: Vec<_> = server.listening().iter().map(|(_, _, a)| *a).collect();
    assert_eq!(bound, [addr, addr, addr]);
    let clients: Vec<_> = (0..30u64)
        .map(|id| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                let msg = pattern(1000, id);
                s.write_all(&msg).unwrap();
                let mut got = vec![0u8; msg.len()];
                s.read_exact(&mut got).unwrap();
                assert_eq!(got, msg);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.terminate();
    let status = server.wait_exit(TIMEOUT).expect("all workers stop");
    assert!(status.success());
}

#[test]
fn running_out_of_file_descriptors_pauses_accepting_and_recovers() {
    let server = Server::start_with_fd_limit(&["--echo", "127.0.0.1:0"], 1, 24);
    let addr = server.tcp("echo");
    // Far more clients than descriptors: the kernel completes their handshakes, the server
    // cannot accept them all. It must say so, not spin, and keep serving those it has.
    let crowd: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    assert!(
        server
            .wait_log("pausing accepts", Duration::from_secs(10))
            .is_some(),
        "EMFILE was not reported"
    );
    drop(crowd);
    // Descriptors come back as the server closes the crowd; a new client is then served.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let mut got = [0u8; 4];
            if s.write_all(b"back").is_ok() && s.read_exact(&mut got).is_ok() {
                assert_eq!(&got, b"back");
                break;
            }
        }
        assert!(Instant::now() < deadline, "never recovered from EMFILE");
        thread::sleep(Duration::from_millis(100));
    }
}
