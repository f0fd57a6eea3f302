//! `evserve load ws` runs on the same engine as every other target: Ctrl-C prints the partial
//! report and exits 130, and `--rate`, `--threads` and `--pipeline` apply.

mod util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::Server;

fn server() -> Server {
    Server::start(&["--http", "127.0.0.1:0", "--access-log", "false"], 1)
}

fn load_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .arg("load")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("not JSON: {out:?}"));
    (out.status.code(), doc)
}

/// The server's count of WebSocket messages received.
fn ws_messages_in(server: &Server) -> u64 {
    let stats = util::http::stats(server.tcp("http"));
    stats["ws_messages_in"].as_u64().unwrap_or(0)
}

#[test]
fn ctrl_c_prints_the_partial_report_and_exits_130() {
    let server = server();
    let addr = server.tcp("http").to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["load", "ws", &addr, "-c", "4", "-d", "10m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Messages flowing: the run, and its Ctrl-C handler, are under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ws_messages_in(&server) == 0 {
        assert!(Instant::now() < deadline, "no WebSocket message in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, stdout) = util::interrupt_child(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(
        stdout.starts_with("interrupted: partial results\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("\n0 requests in "), "{stdout}");
}

#[test]
fn rate_threads_and_pipeline_apply_to_ws() {
    let server = server();
    let addr = server.tcp("http").to_string();
    // 200 messages at 500/s: the last is due 398 ms after the start, however fast the server.
    let (code, r) = load_json(&["ws", &addr, "-c", "2", "-n", "200", "--rate", "500"]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(
        (r["requests"].as_u64(), r["errors"].as_u64()),
        (Some(200), Some(0)),
        "{r}"
    );
    assert!(r["duration_secs"].as_f64().unwrap() >= 0.39, "{r}");

    let (code, r) = load_json(&[
        "ws",
        &addr,
        "-c",
        "5",
        "-t",
        "2",
        "--pipeline",
        "4",
        "-n",
        "3001",
        "--size",
        "300",
    ]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(
        (r["requests"].as_u64(), r["errors"].as_u64()),
        (Some(3001), Some(0)),
        "{r}"
    );
    assert_eq!(r["connects"], 5, "{r}");
}

#[test]
fn ws_is_a_target_the_help_and_the_errors_name() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_evserve"))
            .args(args)
            .output()
            .unwrap()
    };
    let help = String::from_utf8_lossy(&run(&["load", "--help"]).stdout).into_owned();
    assert!(help.contains("`framed`, `ws`"), "{help}");
    let top = String::from_utf8_lossy(&run(&["--help"]).stdout).into_owned();
    assert!(top.contains("echo|udp|framed|ws"), "{top}");
    let out = run(&["load", "gopher", "127.0.0.1:1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("echo, udp, framed or ws"), "{stderr}");
}
