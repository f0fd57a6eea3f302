//! `evserve load` run from the command line against real servers on 127.0.0.1: its report,
//! its exit status and its usage errors. The engine's counts are checked by the unit tests in
//! `src/load/live_tests.rs`.

mod util;

use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use util::inproc::{answer_heads, every_service, tiny_server};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn the_cli_prints_one_json_object() {
    let running = every_service();
    let evserve = env!("CARGO_BIN_EXE_evserve");
    let echo = running.addrs[0].to_string();
    let out = Command::new(evserve)
        .args(["load", "echo", &echo, "-n", "500", "-c", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(doc["requests"], 500);
    assert_eq!(
        (doc["errors"].as_u64(), doc["timeouts"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(doc["reconnects"], 0);
    assert_eq!(doc["failures"], serde_json::json!([]));
    assert_eq!(doc["error_rate"], 0.0);
    assert_eq!(doc["interrupted"], false);
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(
            doc["latency_us"][key].as_u64().unwrap() > 0,
            "{key} in {doc}"
        );
    }
    for key in ["mean", "stdev", "min"] {
        assert!(
            doc["latency_us"][key].as_f64().unwrap() > 0.0,
            "{key} in {doc}"
        );
    }
    let buckets = doc["latency_histogram_us"].as_array().unwrap();
    let counted: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 500, "{doc}");
    for key in [
        "requests_per_sec",
        "received_bytes_per_sec",
        "sent_bytes_per_sec",
        "duration_secs",
    ] {
        assert!(doc[key].as_f64().unwrap() > 0.0, "{key} in {doc}");
    }

    let run = |args: &[&str]| Command::new(evserve).args(args).output().unwrap();
    let web = format!("http://{}/plain", running.addrs[4]);
    let text = run(&["load", &web, "-d", "300ms", "-c", "2", "--pipeline", "4"]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("requests/s"));

    let dead = TcpListener::bind(any())
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    // A value the command line got wrong: clap's usage error, exit status 2.
    for bad in [
        &["load", "gopher", "127.0.0.1:1"][..],
        &["load", "echo"],
        &["load", "echo", &echo, "--size", "0"],
        &["load", "echo", &echo, "-c", "0"],
        &["load", "echo", &echo, "-n", "0"],
        &["load", "echo", &echo, "--pipeline", "0"],
        &["load", "echo", &echo, "--rate", "0"],
        &["load", "echo", &echo, "--error-status", "4x"],
        &["load", "echo", &echo, "--percentiles", "101"],
    ] {
        let out = run(bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{bad:?}: {stderr}");
        assert!(
            stderr.contains("For more information, try '--help'."),
            "{stderr}"
        );
    }
    // What goes wrong on the way is one line and exit status 1.
    for bad in [
        &["load", "https://127.0.0.1:1/"][..],
        &["load", "echo", &dead, "-n", "5"],
    ] {
        let out = run(bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{bad:?}: {stderr}");
    }
}

/// An HTTP server answering one request in ten, counted across its connections, with a 404.
fn one_in_ten_not_found() -> SocketAddr {
    let served = Arc::new(AtomicU64::new(0));
    tiny_server(move |s| {
        let served = Arc::clone(&served);
        answer_heads(s, move || {
            if served.fetch_add(1, Ordering::Relaxed) % 10 == 9 {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            }
        });
    })
}

fn evserve_load(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_evserve"))
        .arg("load")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_response_counts_in_a_status_table_unless_named_an_error() {
    let url = format!("http://{}/", one_in_ten_not_found());
    let out = evserve_load(&[&url, "-n", "1000", "-c", "4", "--pipeline", "2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("1000 requests in "), "{text}");
    assert!(text.contains("\n  [200] 900 responses\n"), "{text}");
    assert!(text.contains("\n  [404] 100 responses\n"), "{text}");
    assert!(text.contains("latency µs: mean "), "{text}");
    assert!(text.contains("stdev "), "{text}");
    assert!(text.contains("Transfer/sec: "), "{text}");
    assert!(
        text.contains("latency histogram, µs (at most):\n"),
        "{text}"
    );
    let bars = text.lines().filter(|l| l.contains("] |")).count();
    assert!((1..=10).contains(&bars), "{text}");

    // --error-status 4xx: the 404s are errors, still in the table, out of the latency.
    let out = evserve_load(&[
        &url,
        "-n",
        "1000",
        "-c",
        "4",
        "--error-status",
        "4xx",
        "--max-error-rate",
        "5%",
        "--percentiles",
        "50,99.99",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (doc["requests"].as_u64(), doc["errors"].as_u64()),
        (Some(900), Some(100)),
        "{doc}"
    );
    assert_eq!(doc["statuses"], serde_json::json!({"200": 900, "404": 100}));
    assert_eq!(doc["latency_us"]["samples"], 900, "{doc}");
    assert!(doc["latency_us"]["p9999"].as_u64().unwrap() > 0, "{doc}");
    assert!(
        doc["latency_us"].get("p90").is_none(),
        "only the percentiles asked for: {doc}"
    );
}

#[test]
fn more_connections_than_open_files_allow_are_refused_before_starting() {
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" load echo 127.0.0.1:1 -c 1000")
        .arg(env!("CARGO_BIN_EXE_evserve"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the limit (ulimit -n) is 256"), "{stderr}");
    assert!(stderr.contains("ulimit -n 1066"), "{stderr}");
}

#[test]
fn ctrl_c_while_connections_are_still_opening_prints_the_partial_report() {
    // A listener that accepts one connection (the load's first, which checks the server is
    // up) and then no more, with a backlog of one: the load's connections stay in SYN_SENT.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&any().into()).unwrap();
    socket.listen(1).unwrap();
    let listener: TcpListener = socket.into();
    let addr = listener.local_addr().unwrap().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args([
            "load",
            "echo",
            &addr,
            "-c",
            "2000",
            "-d",
            "10m",
            "--timeout",
            "10m",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first connection comes once the handler for Ctrl-C is in place.
    let (_first, _) = listener.accept().unwrap();
    let (status, stdout) = util::interrupt_child(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(
        stdout.starts_with("interrupted: partial results\n"),
        "{stdout}"
    );
    assert!(stdout.contains(" requests in "), "{stdout}");
}
