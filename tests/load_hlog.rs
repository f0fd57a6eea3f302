//! `--hdr-log` and `evserve load merge`: histograms written by concurrent runs combine into the
//! percentiles of all their samples together, never an average of percentiles.

mod util;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use util::Server;

fn evserve(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(args)
        .output()
        .unwrap()
}

/// Every interval of the log at `path`, decoded here with the hdrhistogram crate itself.
fn intervals(path: &Path) -> Vec<Histogram<u64>> {
    let bytes = std::fs::read(path).unwrap();
    IntervalLogIterator::new(&bytes)
        .filter_map(|entry| match entry.unwrap() {
            LogEntry::Interval(h) => Some(h.encoded_histogram().to_string()),
            _ => None,
        })
        .map(|encoded| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap();
            Deserializer::new()
                .deserialize(&mut std::io::Cursor::new(raw))
                .unwrap()
        })
        .collect()
}

#[test]
fn two_concurrent_runs_merge_to_the_percentiles_of_both() {
    let server = Server::start(&["--echo", "127.0.0.1:0"], 1);
    let echo = server.tcp("echo").to_string();
    let dir = tempfile::tempdir().unwrap();
    let logs = [dir.path().join("a.hlog"), dir.path().join("b.hlog")];
    let runs: Vec<_> = logs
        .iter()
        .zip([("2", "3000"), ("5", "5000")])
        .map(|(log, (c, n))| {
            let (echo, log) = (echo.clone(), log.to_str().unwrap().to_string());
            std::thread::spawn(move || {
                evserve(&[
                    "load",
                    "echo",
                    &echo,
                    "-c",
                    c,
                    "-n",
                    n,
                    "--hdr-log",
                    &log,
                    "--json",
                ])
            })
        })
        .collect();
    let mut reports = Vec::new();
    for run in runs {
        let out = run.join().unwrap();
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        reports.push(report);
    }

    // Both logs recorded into one histogram, independently of evserve's reader.
    let mut both = Histogram::<u64>::new(3).unwrap();
    for log in &logs {
        let found = intervals(log);
        assert_eq!(found.len(), 1, "one interval per run");
        both.add(&found[0]).unwrap();
    }
    assert_eq!(both.len(), 8000);

    let percentiles = [50.0, 90.0, 99.0, 99.9, 99.99];
    let out = evserve(&[
        "load",
        "merge",
        logs[0].to_str().unwrap(),
        logs[1].to_str().unwrap(),
        "--percentiles",
        "50,90,99,99.9,99.99",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let merged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let latency = &merged["latency_us"];
    assert_eq!(latency["samples"], 8000, "{merged}");
    for (p, key) in percentiles
        .iter()
        .zip(["p50", "p90", "p99", "p999", "p9999"])
    {
        let got = latency[key].as_u64().unwrap();
        let want = both.value_at_percentile(*p);
        assert!(both.equivalent(got, want), "{key}: {got} against {want}");
    }
    // The slowest of both runs is the slowest merged: a maximum, not a mean.
    let maxes: Vec<u64> = reports
        .iter()
        .map(|r| r["latency_us"]["max"].as_u64().unwrap())
        .collect();
    let max = latency["max"].as_u64().unwrap();
    assert!(
        both.equivalent(max, maxes[0].max(maxes[1])),
        "{max} {maxes:?}"
    );

    // The text report says the same, and a file that is no log is named.
    let text = evserve(&["load", "merge", logs[0].to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with("3000 samples in 1 intervals from 1 files\n"),
        "{text}"
    );
    let bad = dir.path().join("bad.hlog");
    std::fs::write(&bad, "not a log\n").unwrap();
    let out = evserve(&["load", "merge", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad.hlog"), "{stderr}");
}
