//! evserve behind a load balancer: health and drain over loopback, and (as root) a real
//! cluster of network namespaces with HAProxy in front (`deploy/cluster.sh`).

mod util;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::http::{self, Conn};

#[test]
fn healthz_turns_503_during_the_drain_delay_while_other_requests_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = http::start(dir.path(), &["--drain-delay", "5s"]);
    let addr = server.tcp("http");
    let health = http::get(addr, "/healthz");
    assert_eq!(health.status, 200, "{}", health.text());
    assert!(health.text().contains("\"serving\""), "{}", health.text());
    // A kept-alive connection from before the stop (a balancer's pooled connection).
    let mut pooled = Conn::open(addr);
    let before = pooled.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(before.status, 200);

    server.terminate();
    server
        .wait_log("draining: health checks fail", Duration::from_secs(10))
        .expect("the server announces the drain delay");

    let health = http::get(addr, "/healthz");
    assert_eq!(health.status, 503, "{}", health.text());
    assert!(health.text().contains("\"draining\""), "{}", health.text());
    // New connections are still accepted and served during the delay...
    let plain = http::get(addr, "/plain");
    assert_eq!(
        (plain.status, plain.text().as_str()),
        (200, "Hello, World!")
    );
    // ...and a pooled connection gets its answer, with `Connection: close`, so the balancer
    // stops reusing it before the listener goes away.
    let during = pooled.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(during.status, 200);
    assert_eq!(during.header("Connection"), Some("close"));
    pooled.expect_eof();

    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("the server exits after the delay");
    assert!(status.success(), "{status}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener is closed after the delay"
    );
}

#[test]
fn every_worker_fails_its_health_checks_during_the_drain_delay() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = http::start(dir.path(), &["--workers", "2", "--drain-delay", "5s"]);
    let addr = server.tcp("http");
    server.terminate();
    for _ in 0..2 {
        server
            .wait_log("draining: health checks fail", Duration::from_secs(10))
            .expect("each worker announces the delay");
    }
    // SO_REUSEPORT spreads new connections over both workers: whichever answers says 503.
    for _ in 0..20 {
        assert_eq!(http::get(addr, "/healthz").status, 503);
    }
    let status = server.wait_exit(Duration::from_secs(30)).expect("exit");
    assert!(status.success());
}

#[test]
fn a_second_signal_closes_every_workers_listeners_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A delay no test would wait for: only the second signal can end it.
    let mut server = http::start(dir.path(), &["--workers", "3", "--drain-delay", "1h"]);
    server.terminate();
    for _ in 0..3 {
        server
            .wait_log("draining: health checks fail", Duration::from_secs(10))
            .expect("each worker begins its drain delay");
    }
    server.terminate();
    for _ in 0..3 {
        server
            .wait_log("shutting down: draining", Duration::from_secs(10))
            .expect("each worker cuts its delay short");
    }
    let status = server.wait_exit(Duration::from_secs(30)).expect("exit");
    assert!(status.success());
}

#[test]
fn without_a_drain_delay_the_listener_closes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = http::start(dir.path(), &[]);
    let addr = server.tcp("http");
    assert_eq!(http::get(addr, "/healthz").status, 200);
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(30)).expect("exit");
    assert!(status.success());
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// HAProxy's `send-proxy-v2` header for a client at `client` (IPv4) reaching `server`.
fn proxy_v2(client: std::net::SocketAddrV4, server: std::net::SocketAddr) -> Vec<u8> {
    let std::net::SocketAddr::V4(server) = server else {
        panic!("IPv4 test server")
    };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0x00, 12]);
    h.extend_from_slice(&client.ip().octets());
    h.extend_from_slice(&server.ip().octets());
    h.extend_from_slice(&client.port().to_be_bytes());
    h.extend_from_slice(&server.port().to_be_bytes());
    h
}

#[test]
fn behind_the_proxy_protocol_answers_and_logs_show_the_real_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = http::start(
        dir.path(),
        &[
            "--proxy-protocol",
            "--proxy-from",
            "127.0.0.1",
            "--access-log",
        ],
    );
    let addr = server.tcp("http");
    let client = "203.0.113.7:41000".parse().unwrap();
    let mut conn = Conn::open(addr);
    // The header and the request in one write, as HAProxy sends them.
    let request = [
        proxy_v2(client, addr),
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
    ]
    .concat();
    let answer = conn.exchange(&request);
    assert_eq!(answer.status, 200);
    assert!(
        answer.text().contains("\"client\":\"203.0.113.7:41000\""),
        "{}",
        answer.text()
    );
    // The next request on the same connection needs no header.
    let again = conn.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(again.status, 200);
    server
        .wait_log("203.0.113.7:41000 \"GET /plain\"", Duration::from_secs(10))
        .expect("the access log names the real client");

    // A client that reaches the port directly, without a header, is refused unanswered.
    let mut direct = Conn::open(addr);
    direct.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut rest = Vec::new();
    let _ = direct.stream().read_to_end(&mut rest); // EOF or reset: either way, closed
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    server
        .wait_log("no PROXY protocol header", Duration::from_secs(10))
        .expect("the refusal is logged");
}

/// A connection to `addr` from the loopback address `from` (any of 127.0.0.0/8).
fn connect_from(from: std::net::Ipv4Addr, addr: std::net::SocketAddr) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((from, 0)).into())
        .unwrap();
    socket.connect(&addr.into()).expect("connect");
    let stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(util::inproc::TIMEOUT))
        .unwrap();
    stream
        .set_write_timeout(Some(util::inproc::TIMEOUT))
        .unwrap();
    stream
}

/// `/stats` through a PROXY header claiming 127.0.0.1, as v1 or v2, from `from`: the answer,
/// or what came back before the connection closed.
fn stats_claiming_loopback(
    from: std::net::Ipv4Addr,
    addr: std::net::SocketAddr,
    v2: bool,
) -> Vec<u8> {
    let client = "127.0.0.1:41000".parse().unwrap();
    let header = if v2 {
        proxy_v2(client, addr)
    } else {
        format!(
            "PROXY TCP4 127.0.0.1 {} 41000 {}\r\n",
            addr.ip(),
            addr.port()
        )
        .into_bytes()
    };
    let mut stream = connect_from(from, addr);
    let request = b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    // A refused connection may be closed (reset) before or while the request is written.
    let _ = stream.write_all(&[header, request.to_vec()].concat());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

#[test]
fn a_proxy_header_is_believed_only_from_proxy_from() {
    let dir = tempfile::tempdir().unwrap();
    let server = http::start(
        dir.path(),
        &[
            "--proxy-protocol",
            "--proxy-from",
            "127.0.0.1/32",
            "--stats-allow",
            "127.0.0.1",
        ],
    );
    let addr = server.tcp("http");
    let outsider = std::net::Ipv4Addr::new(127, 0, 0, 2);
    for v2 in [true, false] {
        let answer = stats_claiming_loopback(outsider, addr, v2);
        assert!(
            answer.is_empty(),
            "v2={v2}: a forged header from 127.0.0.2 got: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let logged = server
        .wait_log("not in --proxy-from", Duration::from_secs(10))
        .expect("the refusal is logged");
    assert!(logged.contains("127.0.0.2:"), "{logged}");
    // From the balancer the header is believed: the client it names may see /stats.
    let answer = stats_claiming_loopback(std::net::Ipv4Addr::LOCALHOST, addr, true);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("\"proxy_refused\":2"),
        "both refusals counted: {text}"
    );
    // And it is the header's client that counts: one claiming 10.0.0.1 is not let in.
    let mut stream = connect_from(std::net::Ipv4Addr::LOCALHOST, addr);
    stream
        .write_all(
            b"PROXY TCP4 10.0.0.1 127.0.0.1 1 2\r\nGET /stats HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )
        .unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let answer = http::read_response(&mut reader, false).expect("an answer");
    assert_eq!(answer.status, 403);
}

#[test]
fn a_proxy_header_before_a_tls_handshake_is_read_on_https() {
    use rustls::pki_types::ServerName;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let tls = util::tls::TlsServer::self_signed(
        &[
            "--https",
            "127.0.0.1:0",
            "--root",
            root,
            "--proxy-protocol",
            "--proxy-from",
            "127.0.0.1",
        ],
        1,
    );
    let addr = tls.tcp("https");
    let mut tcp = http::connect(addr);
    tcp.write_all(&proxy_v2("203.0.113.9:4444".parse().unwrap(), addr))
        .unwrap();
    let config = util::tls::client_config(&tls.cert());
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("TLS after the PROXY header");
    let answer = String::from_utf8_lossy(&util::tls::read_to_close(&mut stream)).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("\"client\":\"203.0.113.9:4444\""),
        "{answer}"
    );
}

#[test]
fn the_proxy_protocol_without_proxy_from_is_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["serve", "--http", "127.0.0.1:0", "--proxy-protocol"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--proxy-protocol needs --proxy-from"), "{err}");
    assert!(err.contains("e.g. --proxy-from"), "says what to add: {err}");
}

// ---------------------------------------------------------------------------------------------
// The cluster: network namespaces, a bridge, HAProxy in front (deploy/cluster.sh). Root only.
// ---------------------------------------------------------------------------------------------

/// Backends in the cluster.
const BACKENDS: usize = 3;
/// HAProxy's address inside the cluster (the front namespace).
const FRONT: &str = "http://10.77.0.2:8080/plain";
/// A request for `/healthz` through HAProxy, from the client host (bash alone: no curl needed).
const HEALTHZ_FROM_CLIENT: &str = "exec 3<>/dev/tcp/10.77.0.2/8080 && \
     printf 'GET /healthz HTTP/1.1\r\nHost: cluster\r\nConnection: close\r\n\r\n' >&3 && \
     cat <&3";

/// A cluster brought up by `deploy/cluster.sh up`, brought down when dropped (a failing
/// test leaves nothing behind either).
struct Cluster {
    prefix: String,
    state: tempfile::TempDir,
    down: bool,
}

impl Cluster {
    fn script(&self) -> Command {
        let mut c = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/cluster.sh"));
        c.env("CLUSTER_PREFIX", &self.prefix)
            .env("CLUSTER_STATE", self.state.path())
            .env("EVSERVE", env!("CARGO_BIN_EXE_evserve"))
            .env("DRAIN_DELAY", "2s");
        c
    }

    /// Runs `cluster.sh ARGS...`, which must succeed.
    fn run(&self, args: &[&str]) -> String {
        let out = self
            .script()
            .args(args)
            .output()
            .expect("run deploy/cluster.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprint!("{stderr}");
        assert!(out.status.success(), "cluster.sh {args:?} failed: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn up(backends: usize) -> Cluster {
        let cluster = Cluster {
            prefix: format!("e{}", std::process::id() % 100_000),
            state: tempfile::tempdir().unwrap(),
            down: false,
        };
        cluster.run(&["up", &backends.to_string()]);
        cluster
    }

    fn namespaces(&self) -> Vec<String> {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&format!("{}-", self.prefix)))
            .map(str::to_string)
            .collect()
    }

    /// Every process in the cluster's namespaces.
    fn pids(&self) -> Vec<u32> {
        self.namespaces()
            .iter()
            .flat_map(|ns| {
                let out = Command::new("ip")
                    .args(["netns", "pids", ns])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect()
    }

    /// `evserve load` against HAProxy, from the client host, with `--json`.
    fn load(&self, rate: u32, duration: &str) -> std::process::Child {
        self.script()
            .args(["client", env!("CARGO_BIN_EXE_evserve"), "load", FRONT])
            .args([
                "-c",
                "8",
                "--rate",
                &rate.to_string(),
                "-d",
                duration,
                "--json",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start evserve load in the front namespace")
    }

    /// HAProxy's counters for each backend server, from its stats socket (`show stat`).
    fn servers(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut sock = UnixStream::connect(self.state.path().join("haproxy.sock"))
            .expect("HAProxy's stats socket");
        sock.write_all(b"show stat\n").unwrap();
        let mut csv = String::new();
        sock.read_to_string(&mut csv).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .and_then(|h| h.strip_prefix("# "))
            .expect("show stat header")
            .split(',')
            .collect();
        lines
            .map(|l| header.iter().zip(l.split(',')))
            .map(|row| {
                row.map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>()
            })
            .filter(|r| {
                r["pxname"] == "evserve" && !["FRONTEND", "BACKEND"].contains(&&*r["svname"])
            })
            .map(|r| (r["svname"].clone(), r))
            .collect()
    }

    fn counter(&self, server: &str, name: &str) -> u64 {
        self.servers()[server][name].parse().unwrap_or(0)
    }

    /// Waits (polling HAProxy's view, at most `within`) until `server`'s status starts with
    /// `status` (`UP`, `DOWN`).
    fn wait_status(&self, server: &str, status: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now = &self.servers()[server]["status"];
            if now.starts_with(status) {
                return;
            }
            assert!(Instant::now() < deadline, "{server} is {now}, not {status}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn down(&mut self) {
        self.run(&["down"]);
        self.down = true;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.down {
            let _ = self.script().arg("down").status();
        }
    }
}

/// Why namespaces cannot be made here, if they cannot.
fn cannot_make_namespaces() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    let probe = format!("evprobe{}", std::process::id());
    match Command::new("ip").args(["netns", "add", &probe]).output() {
        Ok(out) if out.status.success() => {
            let _ = Command::new("ip")
                .args(["netns", "delete", &probe])
                .status();
            None
        }
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        // A missing tool is not a reason to skip: CI must install it.
        Err(e) => panic!("cannot run ip ({e}): apt-get install iproute2"),
    }
}

fn load_report(child: std::process::Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("wait for evserve load");
    assert!(out.status.success(), "evserve load failed");
    serde_json::from_slice(&out.stdout).expect("load --json output")
}

#[test]
fn a_cluster_behind_haproxy_survives_a_rolling_restart_and_a_crash() {
    if let Some(why) = cannot_make_namespaces() {
        eprintln!("SKIPPED: network namespaces cannot be created here ({why}); run as root");
        return;
    }
    assert!(
        Command::new("haproxy").arg("-v").output().is_ok(),
        "haproxy is not installed: apt-get install haproxy"
    );
    let mut cluster = Cluster::up(BACKENDS);

    // 1. HAProxy's servers are the ones `evserve discover` heard, at their real addresses.
    let servers_cfg = std::fs::read_to_string(cluster.state.path().join("servers.cfg")).unwrap();
    let names: Vec<String> = (1..=BACKENDS).map(|i| format!("b{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let line = format!("server {name} 10.77.0.{}:8080 check", 11 + i);
        assert!(servers_cfg.contains(&line), "{line} in\n{servers_cfg}");
        cluster.wait_status(name, "UP", Duration::from_secs(10));
    }

    // HAProxy passes the real client (10.77.0.3) with PROXY v2: the backend answers with it,
    // not with HAProxy's own address (10.77.0.2).
    let answer = cluster.run(&["client", "bash", "-c", HEALTHZ_FROM_CLIENT]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"client\":\"10.77.0.3:"), "{answer}");

    // The storm guard on a real segment: N hosts beaconing every 1 s (the floor) put about N
    // broadcast frames per second on the bridge (plus the odd ARP), never a storm.
    let rate = cluster.run(&["broadcast-rate", "5"]);
    let frames: u64 = rate.split_whitespace().nth(2).unwrap().parse().unwrap();
    eprintln!("broadcast rate with {BACKENDS} hosts: {frames} frames in 5 s");
    assert!(frames <= 5 * 2 * BACKENDS as u64, "{rate}");

    // 2. A rolling restart under a steady load: each backend in turn gets SIGTERM (drains:
    // /healthz 503 for 2 s, then closes) and is restarted once HAProxy has it back UP.
    let before: Vec<u64> = names
        .iter()
        .map(|n| cluster.counter(n, "hrsp_2xx"))
        .collect();
    let load = cluster.load(300, "20s");
    let started = Instant::now();
    while names
        .iter()
        .map(|n| cluster.counter(n, "stot"))
        .sum::<u64>()
        == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no load arrived"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for (i, name) in names.iter().enumerate() {
        let n = (i + 1).to_string();
        cluster.run(&["backend", &n, "term"]);
        cluster.run(&["backend", &n, "start"]);
        cluster.wait_status(name, "UP", Duration::from_secs(10));
    }
    let report = load_report(load);
    let shares: Vec<u64> = names
        .iter()
        .zip(&before)
        .map(|(n, b)| cluster.counter(n, "hrsp_2xx") - b)
        .collect();
    let retries: Vec<u64> = names.iter().map(|n| cluster.counter(n, "wretr")).collect();
    let redispatched: Vec<u64> = names.iter().map(|n| cluster.counter(n, "wredis")).collect();
    eprintln!(
        "rolling restart: {} requests, {} errors, {} timeouts; per backend 2xx {shares:?}; \
         HAProxy retries {retries:?}, redispatches {redispatched:?}",
        report["requests"], report["errors"], report["timeouts"]
    );
    assert!(report["requests"].as_u64().unwrap() > 1000, "{report}");
    assert_eq!(report["errors"], 0, "no failed request: {report}");
    assert_eq!(report["timeouts"], 0, "{report}");
    assert_eq!(report["connect_errors"], 0, "{report}");
    assert!(
        shares.iter().all(|&s| s > 0),
        "every backend served: {shares:?}"
    );
    // Every request was answered 2xx by a backend; a few more may have been answered after
    // `load` stopped counting (in flight at its deadline: at most one per connection).
    let answered: u64 = shares.iter().sum();
    let requests = report["requests"].as_u64().unwrap();
    assert!(
        (requests..=requests + 8).contains(&answered),
        "{answered} answered 2xx for {requests} requests: {shares:?}"
    );

    // 3. SIGKILL mid-load: HAProxy marks the backend down; only requests in flight on it may
    // fail (at most one per client connection), and they are counted.
    let load = cluster.load(300, "8s");
    let started = Instant::now();
    let victim_before = cluster.counter("b2", "stot");
    while cluster.counter("b2", "stot") == victim_before {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no load reached b2"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Instant::now();
    cluster.run(&["backend", "2", "kill"]);
    cluster.wait_status("b2", "DOWN", Duration::from_secs(10));
    let noticed = killed.elapsed();
    let report = load_report(load);
    let failed = report["errors"].as_u64().unwrap() + report["timeouts"].as_u64().unwrap();
    eprintln!(
        "SIGKILL: {} requests, {failed} failed; HAProxy marked b2 DOWN {noticed:?} after the \
         kill; HAProxy retried {} requests on b2",
        report["requests"],
        cluster.counter("b2", "wretr")
    );
    assert!(
        failed <= 8,
        "only the requests in flight on b2 may fail: {report}"
    );

    // 4. Discovery follows membership: b2 no longer beacons, so a resync drops it from
    // HAProxy's list (rewrite and reload); restarted, it comes back.
    cluster.run(&["sync"]);
    // The old worker may answer the stats socket for a moment after the reload.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let servers: Vec<String> = cluster.servers().into_keys().collect();
        if servers == ["b1", "b3"] {
            break;
        }
        assert!(Instant::now() < deadline, "b2 still listed: {servers:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.run(&["backend", "2", "start"]);
    cluster.run(&["sync"]);
    cluster.wait_status("b2", "UP", Duration::from_secs(10));

    // 5. Down leaves no namespace, link or process.
    let pids = cluster.pids();
    assert!(pids.len() >= BACKENDS, "{pids:?}"); // two backends, HAProxy master and worker
    cluster.down();
    assert!(
        cluster.namespaces().is_empty(),
        "{:?}",
        cluster.namespaces()
    );
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(&format!(" {}-", cluster.prefix)),
        "links left in the host: {links}"
    );
    for pid in pids {
        // Gone, or a zombie waiting for its (reparented) parent: it holds nothing any more.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        assert!(
            matches!(state, None | Some("Z")),
            "process {pid} left: {stat}"
        );
    }
}
