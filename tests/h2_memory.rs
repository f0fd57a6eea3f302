//! HTTP/2 answers kept for clients that never open their flow-control windows count in the
//! memory budget (issue 24, item 4), over real sockets, with clients built from Python `h2`'s
//! frame libraries (`tests/h2/held.py`).

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::http::stats;
use util::tls::require;
use util::{Server, pattern};

fn held(s: &serde_json::Value) -> u64 {
    ["buffered_in", "buffered_out", "session_buffered"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum()
}

/// 16 connections each ask for 128 copies of a 60 kB file (small enough to be served from
/// the file cache, so each answer is copied into its stream's buffer) with every stream
/// window at 0, and never grant more: 123 MB of answers if the server kept them all.
/// Under `--max-memory 4MiB` with `--http2-max-held 256KiB`, the counted total reaches the
/// budget and stays within it plus, per connection, `max_held` and one answer (what one
/// read of 128 requests may open before the budget is seen); resident memory likewise; the
/// streams past it are refused with REFUSED_STREAM; a client on another connection, HTTP/1.1
/// and HTTP/2, is still answered; and everything is released when the clients go.
#[test]
fn zero_window_clients_stay_within_the_memory_budget() {
    require("python3", "python3");
    const CONNS: u64 = 16;
    const STREAMS: u64 = 128;
    const FILE: usize = 60_000;
    const BUDGET: u64 = 4 << 20;
    const MAX_HELD: u64 = 256 << 10;
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f.bin"), pattern(FILE, 5)).unwrap();
    let dir = root.path().to_str().unwrap().to_owned();
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--root",
            &dir,
            "--max-memory",
            "4MiB",
            "--http2-max-held",
            "256KiB",
            "--workers",
            "1",
            "--access-log",
            "false",
        ],
        1,
    );
    let http = server.tcp("http");
    let rss_before = util::rss_bytes(server.pid());

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/h2/held.py");
    let mut clients = Command::new("timeout")
        .args(["120", "python3", script])
        .arg(http.to_string())
        .args(["/f.bin", &CONNS.to_string(), &STREAMS.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(clients.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "sent",
        "tests/h2/held.py failed (Python's h2 missing? python3 -m pip install h2)"
    );

    let bound = BUDGET + CONNS * (MAX_HELD + 64 * 1024);
    let until = Instant::now() + Duration::from_secs(10);
    let full = loop {
        let s = stats(http);
        assert!(held(&s) <= bound, "held {} > {bound}: {s}", held(&s));
        let refused = s["http2_resets_refused"].as_u64().unwrap();
        // Every request has been read: opened (and held), or refused.
        let streams = s["http2_streams"].as_u64().unwrap();
        if held(&s) >= BUDGET && streams + refused >= CONNS * STREAMS {
            break s;
        }
        assert!(
            Instant::now() < until,
            "the answers held for zero windows were never counted up to the budget: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        full["http2_resets_refused"].as_u64() > Some(0),
        "streams past the budget are refused: {full}"
    );
    let rss = util::rss_bytes(server.pid()).saturating_sub(rss_before);
    assert!(
        rss <= bound + (8 << 20),
        "resident memory grew by {rss} bytes (bound {bound} plus 8 MiB of slack): {full}"
    );

    // Others are still served: HTTP/1.1, and HTTP/2 on a connection that holds nothing.
    assert_eq!(util::http::get(http, "/plain").status, 200);
    require("curl", "curl");
    let out = Command::new("timeout")
        .args(["20", "curl", "-sS", "--http2-prior-knowledge"])
        .arg(format!("http://{http}/f.bin"))
        .output()
        .unwrap();
    assert!(
        out.stdout == pattern(FILE, 5),
        "curl got {} bytes: {}",
        out.stdout.len(),
        String::from_utf8_lossy(&out.stderr)
    );

    // The clients go: every byte held for them is released.
    drop(clients.stdin.take());
    clients.wait().unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats(http);
        if s["session_buffered"].as_u64() == Some(0) {
            break;
        }
        assert!(Instant::now() < until, "released on close: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
