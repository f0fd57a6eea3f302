//! `/metrics` as Prometheus reads it: `promtool check metrics` accepts the exposition, and a
//! real Prometheus server (Debian's `prometheus`), started here on loopback, scrapes the
//! server and answers a query for one of its counters.

mod util;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::http;

/// Fails with the install command when `tool` is missing: a test that cannot run must not pass.
fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: run scripts/test.sh, or `sudo apt-get install {package}`"
    );
}

#[test]
fn promtool_accepts_the_exposition_and_it_is_restricted_like_stats() {
    require("promtool", "prometheus");
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let addr = server.tcp("http");
    assert_eq!(http::get(addr, "/plain").status, 200);
    let r = http::get(addr, "/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.must("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text();
    assert!(
        text.contains("\nevserve_http_responses_total{class=\"2xx\"} "),
        "{text}"
    );

    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    check.stdin.take().unwrap().write_all(&r.body).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The one request before the scrape, in the latency histogram (the scrape itself is
    // counted once its answer is queued, after the text was written).
    assert!(
        text.contains("\nevserve_http_request_duration_seconds_count 1\n"),
        "{text}"
    );

    let elsewhere = http::start(root.path(), &["--stats-allow", "10.0.0.0/8"]);
    assert_eq!(http::get(elsewhere.tcp("http"), "/metrics").status, 403);
}

/// The value of the sample `name` (with its labels) in an exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

/// Every request counts once in the latency histogram, over HTTP/1.1 (pipelined and not)
/// and HTTP/2 (h2c by prior knowledge, several streams on one connection), with two
/// workers summed.
#[test]
fn the_latency_histogram_counts_every_request_of_both_protocols() {
    require("nghttp", "nghttp2-client");
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--workers", "2"]);
    let addr = server.tcp("http");
    let mut conn = http::Conn::open(addr);
    for _ in 0..3 {
        assert_eq!(
            conn.exchange(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
                .status,
            200
        );
    }
    conn.send(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(conn.response().status, 200);
    assert_eq!(conn.response().status, 404);
    // Three streams on one connection (nghttp, which asks once for a URL given twice; curl
    // 7.88 fails to reuse an h2c connection).
    let url = |path: &str| format!("http://{addr}{path}");
    let out = Command::new("nghttp")
        .args(["-nv", &url("/plain"), &url("/json"), &url("/plain?2")])
        .output()
        .expect("nghttp");
    let log = String::from_utf8_lossy(&out.stdout);
    assert_eq!(log.matches(":status: 200").count(), 3, "{log}");
    let text = http::get(addr, "/metrics").text();
    let name = "evserve_http_request_duration_seconds";
    assert_eq!(sample(&text, &format!("{name}_count")), Some(8.0), "{text}");
    assert_eq!(
        sample(&text, &format!("{name}_bucket{{le=\"+Inf\"}}")),
        Some(8.0),
        "{text}"
    );
    assert!(
        sample(&text, &format!("{name}_sum")).is_some_and(|s| s >= 0.0),
        "{text}"
    );
}

/// A Prometheus server killed when the test ends, however it ends.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_real_prometheus_scrapes_the_server_and_answers_a_query() {
    require("prometheus", "prometheus");
    require("curl", "curl");
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let target = server.tcp("http");
    for _ in 0..3 {
        assert_eq!(http::get(target, "/plain").status, 200);
    }

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: evserve\n    \
             static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    // Prometheus cannot report a port it chose, so take a free one and hand it over.
    let web = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let _prometheus = Prometheus(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );

    let url = format!("http://{web}/api/v1/query?query=evserve_connections_accepted_total");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = Command::new("curl")
            .args(["-s", "-m", "2", &url])
            .output()
            .unwrap();
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&last)
            && let Some(value) = doc["data"]["result"][0]["value"][1].as_str()
        {
            let accepted: u64 = value.parse().expect("a number");
            assert!(accepted >= 3, "{last}");
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("Prometheus never returned the counter within 60 s; last answer: {last}");
}

/// Open connections are counted by the service of their listener whatever it is: a TLS echo
/// listener appears in `/stats` (as `active_tls-echo`) and in `/metrics` (as a `service`
/// label) beside the usual services, which `/stats` keeps showing even when not served.
#[test]
fn every_service_is_counted_tls_ones_too() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let server = util::Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--tls-echo",
            "127.0.0.1:0",
            "--root",
            root,
        ],
        2,
    );
    let addr = server.tcp("http");
    let _held = std::net::TcpStream::connect(server.tcp("tls-echo")).unwrap();
    // Accepted on the server's next turn: wait for the gauge, a bounded number of times.
    let mut stats = serde_json::Value::Null;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        stats = http::stats(addr);
        if stats["active_tls-echo"] == 1 {
            break;
        }
    }
    assert_eq!(stats["active_tls-echo"], 1, "{stats}");
    assert_eq!(
        stats["active_http"], 1,
        "the /stats request's own connection: {stats}"
    );
    assert_eq!(stats["active_chat"], 0, "{stats}");
    let text = http::get(addr, "/metrics").text();
    assert!(
        text.contains("\nevserve_service_connections_active{service=\"tls-echo\"} 1\n"),
        "{text}"
    );
}
