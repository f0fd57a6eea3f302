//! evserve behind a load balancer: health and drain over loopback, and (as root) a real
//! cluster of network namespaces with HAProxy in front (`deploy/cluster.sh`).

mod util;

use std::time::Duration;

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
fn without_a_drain_delay_the_listener_closes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = http::start(dir.path(), &[]);
    assert_eq!(http::get(server.tcp("http"), "/healthz").status, 200);
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(30)).expect("exit");
    assert!(status.success());
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
    let server = http::start(dir.path(), &["--proxy-protocol"]);
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
    use std::io::Read;
    let _ = direct.stream().read_to_end(&mut rest); // EOF or reset: either way, closed
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    server
        .wait_log("no PROXY protocol header", Duration::from_secs(10))
        .expect("the refusal is logged");
}
