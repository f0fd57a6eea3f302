//! Broadcast discovery and socket options, over real sockets on this machine.
//!
//! Beacons go to 127.255.255.255, the loopback network's broadcast address, so nothing leaves
//! the machine; receivers bind 0.0.0.0 on a port of their own, as a LAN listener would.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc;
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
        .servers()
        .filter(|s| s.beacon.name == "lab-1")
        .collect();
    assert_eq!(
        seen.len(),
        1,
        "one server, de-duplicated: {:?}",
        found.servers().collect::<Vec<_>>()
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
    // The announcer names an address other than its own (it announces for another host):
    // without a key, discover believes that only inside --allow-from.
    let discover = Discover::start(
        port,
        &["--for", "3s", "--json", "--allow-from", "10.1.2.0/24"],
    );
    for bad in [&b"hello"[..], b"EVSERVE-BEACON 9\nname x\nversion 1\n"] {
        junk.send_to(bad, junk_to).unwrap();
    }
    let (status, stdout) = discover.finish();
    assert!(status.success());
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    let servers = doc["servers"].as_array().unwrap();
    let far: Vec<_> = servers.iter().filter(|s| s["name"] == "far-away").collect();
    assert_eq!(far.len(), 1, "{doc}");
    assert_eq!(far[0]["services"][0], "http=tcp://10.1.2.3:8080");
    assert!(doc["ignored"].as_u64().unwrap() >= 2, "{doc}");
}

/// A running `evserve discover`, started once it logged that it is listening.
struct Discover {
    child: std::process::Child,
    stderr: std::thread::JoinHandle<String>,
}

impl Discover {
    /// Runs `evserve discover --listen 0.0.0.0:PORT ARGS...` and waits for its listening line.
    fn start(port: u16, args: &[&str]) -> Discover {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evserve"))
            .args(["discover", "--listen", &format!("0.0.0.0:{port}")])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run discover");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[discover] {line}");
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("discover never said it was listening");
            if line.contains("listening discover udp") {
                break;
            }
        }
        Discover { child, stderr }
    }

    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the exit; returns the status and stdout (stderr is echoed, and checked by
    /// the caller through the status).
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let status = self.child.wait().unwrap();
        let stderr = self.stderr.join().unwrap();
        assert!(status.success(), "discover failed: {stderr}");
        (status, stdout)
    }
}

fn beacon_named(name: &str, service: &str) -> Vec<u8> {
    format!("EVSERVE-BEACON 1\nname {name}\nversion 0.1.0\nservice http tcp {service}\n")
        .into_bytes()
}

#[test]
fn ctrl_c_prints_every_server_heard_so_far() {
    let (sock, port) = receiver();
    drop(sock);
    let discover = Discover::start(port, &["--for", "10m", "--format", "haproxy"]);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (name, addr) in [("a", "127.0.0.1:8001"), ("b", "0.0.0.0:8002")] {
        sender
            .send_to(&beacon_named(name, addr), ("127.0.0.1", port))
            .unwrap();
    }
    discover.interrupt();
    let (_, stdout) = discover.finish();
    let servers: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    // "0.0.0.0" from an old announcer becomes the address the beacon came from.
    assert_eq!(
        servers,
        [
            "    server a 127.0.0.1:8001 check",
            "    server b 127.0.0.1:8002 check"
        ],
        "{stdout}"
    );
}

#[test]
fn a_flood_of_spoofed_beacons_is_held_to_the_table_capacity() {
    // Loopback UDP drops what a busy receiver's buffer cannot hold, so how much of a burst
    // arrives depends on the machine's load (859 of 3,072 once, with two test suites running
    // beside this one). What must hold every time: nothing beyond the capacity is kept, and
    // nothing is invented. What needs the flood to arrive (an overflow, a full table) is
    // tried again with a new listener, at most three times.
    let flood = 8 * discovery::MAX_SERVERS;
    for attempt in 1..=3 {
        let (sock, port) = receiver();
        drop(sock);
        let discover = Discover::start(port, &["--for", "60s", "--json"]);
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..flood {
            let beacon = beacon_named(&format!("fake-{i}"), "127.0.0.1:80");
            sender.send_to(&beacon, ("127.0.0.1", port)).unwrap();
        }
        discover.interrupt();
        let (_, stdout) = discover.finish();
        let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
        let held = doc["servers"].as_array().unwrap().len();
        let evicted = doc["evicted"].as_u64().unwrap() as usize;
        assert!(held <= discovery::MAX_SERVERS, "{held} servers held");
        assert!(held + evicted <= flood, "more heard than sent");
        if held + evicted > discovery::MAX_SERVERS {
            assert!(evicted > 0, "the flood overflowed the table: {held} held");
            assert_eq!(held, discovery::MAX_SERVERS, "a full table stays full");
            return;
        }
        eprintln!(
            "attempt {attempt}: only {} of {flood} beacons arrived",
            held + evicted
        );
    }
    panic!("in three attempts, no flood of {flood} beacons got more than the table holds");
}

#[test]
fn a_server_bound_to_every_address_advertises_where_its_beacons_leave_from() {
    let (sock, port) = receiver();
    let to = format!("127.255.255.255:{port}");
    let _server = Server::start(
        &[
            "--echo",
            "0.0.0.0:0",
            "--announce",
            &to,
            "--name",
            "anywhere",
        ],
        1,
    );
    let found = discovery::discover(&sock, Duration::from_secs(3)).unwrap();
    let seen = found
        .servers()
        .find(|s| s.beacon.name == "anywhere")
        .expect("beacon heard");
    let addr = seen.beacon.services[0].addr;
    assert_eq!(addr.ip().to_string(), "127.0.0.1", "{:?}", seen.beacon);
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

/// A key file as an operator makes one: private to its owner.
fn key_file(dir: &std::path::Path, name: &str, key: &[u8]) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A UDP socket on another loopback address, as a second machine on the segment would be.
fn stranger() -> UdpSocket {
    UdpSocket::bind("127.0.0.5:0").expect("bind 127.0.0.5 (Linux routes all of 127/8 to lo)")
}

#[test]
fn without_a_key_a_beacon_naming_another_address_is_not_a_backend() {
    let (sock, port) = receiver();
    drop(sock);
    let discover = Discover::start(port, &["--for", "10m", "--format", "haproxy"]);
    // Issue 24: one datagram from 127.0.0.5 aimed the balancer at the metadata service.
    let forged = beacon_named("x", "169.254.169.254:80");
    stranger().send_to(&forged, ("127.0.0.1", port)).unwrap();
    let honest = UdpSocket::bind("127.0.0.1:0").unwrap();
    honest
        .send_to(&beacon_named("real", "127.0.0.1:8001"), ("127.0.0.1", port))
        .unwrap();
    discover.interrupt();
    let (_, stdout) = discover.finish();
    let servers: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        servers,
        ["    server real 127.0.0.1:8001 check"],
        "{stdout}"
    );
    assert!(!stdout.contains("169.254"), "{stdout}");
}

#[test]
fn with_a_key_only_fresh_signed_beacons_are_believed_once() {
    let dir = tempfile::tempdir().unwrap();
    let secret = b"0123456789abcdef0123456789abcdef\n";
    let key = key_file(dir.path(), "beacon.key", secret);
    let key_arg = key.to_str().unwrap();
    let (sock, port) = receiver();
    drop(sock);
    let to = format!("127.255.255.255:{port}");
    let _server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--announce",
            &to,
            "--announce-interval",
            "1s",
            "--beacon-key",
            key_arg,
            "--name",
            "signed-srv",
        ],
        1,
    );
    let discover = Discover::start(port, &["--for", "3s", "--json", "--beacon-key", key_arg]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs();
    let beacon = |name: &str, addr: &str| Beacon {
        name: name.into(),
        version: "0.1.0".into(),
        services: vec![discovery::ServiceEntry {
            name: "http".into(),
            transport: "tcp".into(),
            addr: addr.parse().unwrap(),
        }],
    };
    let ours = evserve::secret::Secret::from_bytes(secret).unwrap();
    let theirs = evserve::secret::Secret::from_bytes(b"not the key, but long enough").unwrap();
    let mut sealer = discovery::Sealer::new(ours.clone());
    let minted = sealer.seal(&beacon("minted", "10.1.1.1:80"), now).unwrap();
    let stale = discovery::Sealer::new(ours)
        .seal(&beacon("stale", "10.1.1.2:80"), now - 120)
        .unwrap();
    let forged = discovery::Sealer::new(theirs)
        .seal(&beacon("forged", "169.254.169.254:80"), now)
        .unwrap();
    let unsigned = beacon_named("unsigned", "127.0.0.5:80");
    let from = stranger();
    for datagram in [&minted, &minted, &stale, &forged, &unsigned] {
        from.send_to(datagram, ("127.0.0.1", port)).unwrap();
    }
    let (_, stdout) = discover.finish();
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    let mut names: Vec<&str> = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["minted", "signed-srv"], "{doc}");
    let minted = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "minted")
        .unwrap();
    assert_eq!(minted["beacons"], 1, "the replay is not counted: {doc}");
    let refused = &doc["refused"];
    for reason in ["replayed", "stale", "bad_signature", "unsigned"] {
        assert_eq!(refused[reason], 1, "{reason}: {doc}");
    }
}

#[test]
fn a_key_file_others_can_read_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "k", b"0123456789abcdef0123456789abcdef");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let short = key_file(dir.path(), "short", b"too short");
    for (file, needle) in [(&key, "chmod 600"), (&short, "too short")] {
        for args in [
            &["discover", "--for", "1s", "--beacon-key"][..],
            &[
                "serve",
                "--echo",
                "127.0.0.1:0",
                "--announce",
                "127.0.0.1:9",
                "--beacon-key",
            ],
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_evserve"))
                .args(args)
                .arg(file)
                .output()
                .unwrap();
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(needle), "{err}");
            assert!(
                !err.contains("0123456789abcdef"),
                "the key is never shown: {err}"
            );
        }
    }
}
