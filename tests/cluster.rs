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
