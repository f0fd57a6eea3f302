//! Broadcast discovery and socket options, over real sockets on this machine.
//!
//! Beacons go to 127.255.255.255, the loopback network's broadcast address, so nothing leaves
//! the machine; receivers bind 0.0.0.0 on a port of their own, as a LAN listener would.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use evserve::discovery::{self, Beacon};
use util::Server;

/// A UDP port free right now, for a broadcast receiver.
fn receiver() -> (UdpSocket, u16) {
    let sock = UdpSocket::bind("0.0.0.0:0").expect("bind receiver");
    let port = sock.local_addr().unwrap().port();
    (sock, port)
}

#[test]
fn a_serving_server_is_discovered_with_its_services() {
    let (sock, port) = receiver();
    let to = format!("127.255.255.255:{port}");
    let server = Server::start(
        &[
            "--echo",
            "127.0.0.1:0",
            "--udp-echo",
            "127.0.0.1:0",
            "--announce",
            &to,
            "--name",
            "lab-1",
        ],
        2,
    );
    let found = discovery::discover(&sock, Duration::from_secs(3)).unwrap();
    let seen: Vec<&discovery::Seen> = found
        .servers
        .values()
        .filter(|s| s.beacon.name == "lab-1")
        .collect();
    assert_eq!(
        seen.len(),
        1,
        "one server, de-duplicated: {:?}",
        found.servers
    );
    let mut services: Vec<(String, String, SocketAddr)> = seen[0]
        .beacon
        .services
        .iter()
        .map(|s| (s.name.clone(), s.transport.clone(), s.addr))
        .collect();
    services.sort();
    assert_eq!(
        services,
        vec![
            ("echo".into(), "tcp".into(), server.addr("echo", "tcp")),
            ("echo".into(), "udp".into(), server.addr("echo", "udp")),
        ]
    );
    assert_eq!(seen[0].beacon.version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn standalone_announce_is_listed_by_discover_json_and_junk_is_ignored() {
    let (sock, port) = receiver();
    drop(sock); // the discover process binds it (with SO_REUSEPORT)
    let to = format!("127.255.255.255:{port}");
    let _announcer = Server::spawn(
        &[
            "announce",
            "--to",
            &to,
            "--name",
            "far-away",
            "--service",
            "http=tcp://10.1.2.3:8080",
            "--interval",
            "1s",
        ],
        0,
        "info",
    );
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let junk_to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let discover = std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_evserve"))
            .args([
                "discover",
                "--listen",
                &format!("0.0.0.0:{port}"),
                "--for",
                "3s",
                "--json",
            ])
            .output()
            .expect("run discover")
    });
    std::thread::sleep(Duration::from_millis(500));
    for bad in [&b"hello"[..], b"EVSERVE-BEACON 9\nname x\nversion 1\n"] {
        junk.send_to(bad, junk_to).unwrap();
    }
    let out = discover.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let servers = doc["servers"].as_array().unwrap();
    let far: Vec<_> = servers.iter().filter(|s| s["name"] == "far-away").collect();
    assert_eq!(far.len(), 1, "{doc}");
    assert_eq!(far[0]["services"][0], "http=tcp://10.1.2.3:8080");
    assert!(doc["ignored"].as_u64().unwrap() >= 2, "{doc}");
}

#[test]
fn the_interval_floor_cannot_be_lowered_from_the_command_line() {
    let (sock, port) = receiver();
    let to = format!("127.255.255.255:{port}");
    let _server = Server::start(
        &[
            "--echo",
            "127.0.0.1:0",
            "--announce",
            &to,
            "--announce-interval",
            "1ms",
            "--name",
            "fast",
        ],
        1,
    );
    let mut count = 0;
    let mut buf = [0u8; 600];
    let start = Instant::now();
    let window = Duration::from_millis(2500);
    while start.elapsed() < window {
        sock.set_read_timeout(Some(window - start.elapsed() + Duration::from_millis(1)))
            .unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && Beacon::decode(&buf[..n]).is_ok_and(|b| b.name == "fast")
        {
            count += 1;
        }
    }
    // One beacon at start, then at most one per second: never a storm of 2,500.
    assert!((1..=4).contains(&count), "{count} beacons in 2.5 s");
}

#[test]
fn restart_on_the_same_port_with_a_client_still_connected_succeeds() {
    let mut first = Server::start(&["--echo", "127.0.0.1:0"], 1);
    let addr = first.tcp("echo");
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    client.read_exact(&mut buf).unwrap();
    first.terminate();
    // The server closes first, so its side of the connection sits in TIME_WAIT.
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest);
    assert!(
        first
            .wait_exit(Duration::from_secs(10))
            .expect("exit")
            .success()
    );
    let second = Server::start(&["--echo", &addr.to_string()], 1);
    assert_eq!(second.tcp("echo"), addr);
    let mut again = TcpStream::connect(addr).unwrap();
    again.write_all(b"pong").unwrap();
    again
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    again.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");
}

#[test]
fn effective_buffer_sizes_are_read_back_and_logged() {
    let server = Server::start_logging(
        &[
            "--echo",
            "127.0.0.1:0",
            "--recv-buffer",
            "64KiB",
            "--send-buffer",
            "32KiB",
        ],
        1,
        "debug",
    );
    let line = server
        .wait_log("rcvbuf=", Duration::from_secs(5))
        .expect("debug line with effective options");
    let value = |key: &str| -> usize {
        let start = line.find(key).unwrap() + key.len();
        line[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // Linux doubles what was asked, to account for bookkeeping: read back, not assumed.
    assert!(value("rcvbuf=") >= 64 * 1024, "{line}");
    assert!(value("sndbuf=") >= 32 * 1024, "{line}");
    assert!(line.contains("reuseaddr=true"), "{line}");
}
