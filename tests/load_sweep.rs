//! `evserve load sweep` against a server with a known knee: an echo server that answers at
//! most `CAPACITY` messages per second across all its connections and queues the rest, so
//! below that rate latency stays low and above it grows with the queue.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Messages per second the test server can answer.
const CAPACITY: f64 = 400.0;
/// The sweep's step, requests per second.
const STEP: f64 = 100.0;

/// An echo server for 64-byte messages that answers at most `CAPACITY` per second: one worker
/// answers them in arrival order, each at least 1/CAPACITY s after the one before.
fn capped_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<(TcpStream, [u8; 64])>();
    std::thread::spawn(move || {
        let spacing = Duration::from_secs_f64(1.0 / CAPACITY);
        let mut next = Instant::now();
        for (mut stream, message) in rx {
            // No credit for idle time: a burst after a pause is served at the same pace.
            next = next.max(Instant::now());
            // The pace is the behaviour under test, not a wait for something to happen.
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            next += spacing;
            let _ = stream.write_all(&message); // the load may have closed it: no matter
        }
    });
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut message = [0u8; 64];
                while stream.read_exact(&mut message).is_ok() {
                    let Ok(writer) = stream.try_clone() else {
                        return;
                    };
                    if tx.send((writer, message)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn the_sweep_finds_the_knee_stops_at_the_objective_and_writes_its_results() {
    let addr = capped_echo().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let run = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["load", "sweep", "echo", &addr, "-c", "4", "--slo", "100ms"])
        .args(["--start", "100", "--step", "100", "--stop", "1000"])
        .args(["--warmup", "300ms", "--measure", "1s"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(text.starts_with("    rate/s   achieved/s"), "{text}");

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.with_extension("json")).unwrap()).unwrap();
    let target = &json["targets"][0];
    let steps = target["steps"].as_array().unwrap();
    let knee = target["knee_rate"].as_f64().expect("a knee");
    assert!(
        (knee - CAPACITY).abs() <= STEP,
        "knee {knee}, capacity {CAPACITY}: {text}"
    );
    // The objective stops the sweep at its first miss, long before --stop.
    let last = steps.last().unwrap();
    assert_eq!(last["met"], false, "{text}");
    assert!(
        steps[..steps.len() - 1].iter().all(|s| s["met"] == true),
        "{text}"
    );
    assert!(steps.len() < 10, "{text}");
    assert!(
        text.contains(&format!("knee: echo {addr}: {knee:.0} requests/s")),
        "{text}"
    );
    // Every step is in the table, the JSON and the CSV.
    let rows = text
        .lines()
        .filter(|l| l.ends_with("met") || l.ends_with("missed"))
        .count();
    assert_eq!(rows, steps.len(), "{text}");
    let csv = std::fs::read_to_string(out.with_extension("csv")).unwrap();
    assert_eq!(csv.lines().count(), steps.len() + 1, "{csv}");

    // The chart is well-formed XML, with its axes' units, the objective and the knee.
    let svg = out.with_extension("svg");
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])",
        ])
        .arg(&svg)
        .output()
        .expect("python3 is needed: apt-get install python3");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let chart = std::fs::read_to_string(&svg).unwrap();
    for label in [
        "requests/s",
        "latency (log scale)",
        "SLO p99 100 ms",
        "knee: ",
        "p99.9",
    ] {
        assert!(chart.contains(label), "{label} missing");
    }
}

#[test]
fn sweep_usage_errors_exit_2() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_evserve"))
            .args(["load", "sweep"])
            .args(args)
            .output()
            .unwrap()
    };
    for (args, says) in [
        (&["echo", "127.0.0.1:1"][..], "--slo"),
        (
            &["echo", "127.0.0.1:1", "--slo", "5ms", "--factor", "1"],
            "--factor",
        ),
        (&["--slo", "5ms"], "target to sweep"),
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
