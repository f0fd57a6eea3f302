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
fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: run scripts/test.sh, or `sudo apt-get install prometheus`"
    );
}

#[test]
fn promtool_accepts_the_exposition_and_it_is_restricted_like_stats() {
    require("promtool");
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

    let elsewhere = http::start(root.path(), &["--stats-allow", "10.0.0.0/8"]);
    assert_eq!(http::get(elsewhere.tcp("http"), "/metrics").status, 403);
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
    require("prometheus");
    require("curl");
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
