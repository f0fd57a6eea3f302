//! `evserve load` against real servers on 127.0.0.1: counts exact, wrong replies never count.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use evserve::load::{self, Framing, LoadConfig, Protocol};
use evserve::protocol::framed::FramedConfig;
use evserve::protocol::http::HttpConfig;
use evserve::server::{self, ServerConfig, ServiceSpec};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn servers() -> server::Running {
    server::spawn(ServerConfig {
        services: vec![
            ServiceSpec::Echo(any()),
            ServiceSpec::UdpEcho(any()),
            ServiceSpec::Framed(any(), FramedConfig::length()),
            ServiceSpec::Http(
                any(),
                Box::new(HttpConfig {
                    root: std::env::temp_dir(),
                    ..HttpConfig::default()
                }),
            ),
        ],
        ..ServerConfig::default()
    })
    .unwrap()
}

fn config(addr: SocketAddr, protocol: Protocol, pipeline: usize) -> LoadConfig {
    LoadConfig {
        addr,
        protocol,
        connections: 4,
        pipeline,
        size: 64,
        duration: Duration::from_secs(20),
        requests: Some(2000),
        timeout: Duration::from_secs(5),
    }
}

fn http(path: &str) -> Protocol {
    Protocol::Http {
        method: "GET".into(),
        path: path.into(),
        host: "localhost".into(),
    }
}

#[test]
fn every_protocol_counts_exactly_against_evserve() {
    let running = servers();
    let [echo, udp, framed, web] = running.addrs[..] else {
        panic!("four services")
    };
    let cases = [
        ("echo", config(echo, Protocol::Echo, 1)),
        ("udp", config(udp, Protocol::Udp, 4)),
        (
            "framed",
            config(framed, Protocol::Framed(Framing::Length), 2),
        ),
        ("http", config(web, http("/plain"), 1)),
        ("http pipelined", config(web, http("/plain"), 8)),
    ];
    for (name, cfg) in cases {
        let report = load::run(&cfg).unwrap();
        assert_eq!(report.requests, 2000, "{name}: {}", report.to_text());
        assert_eq!((report.errors, report.reconnects), (0, 0), "{name}");
        assert!(
            report.latency.len() == 2000 && report.mb_per_sec() > 0.0,
            "{name}"
        );
    }
}

#[test]
fn an_http_error_status_is_an_error_not_throughput() {
    let running = servers();
    let mut cfg = config(running.addrs[3], http("/no-such-file-here"), 1);
    cfg.duration = Duration::from_secs(1);
    let report = load::run(&cfg).unwrap();
    assert_eq!(report.requests, 0);
    assert!(report.errors > 0 && report.reconnects > 0);
}

#[test]
fn a_server_that_echoes_wrong_bytes_scores_errors_only() {
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    buf[..n].iter_mut().for_each(|b| *b = b.wrapping_add(1));
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut cfg = config(addr, Protocol::Echo, 1);
    cfg.connections = 1;
    cfg.duration = Duration::from_millis(500);
    let report = load::run(&cfg).unwrap();
    assert_eq!(report.requests, 0, "wrong echoes must not count");
    assert!(report.errors > 0);
}

#[test]
fn the_cli_prints_one_json_object() {
    let running = servers();
    let out = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args([
            "load",
            "echo",
            &running.addrs[0].to_string(),
            "-n",
            "500",
            "-c",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["requests"], 500);
    assert_eq!(doc["errors"], 0);
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(doc["latency_us"][key].is_u64(), "{key} in {doc}");
    }
    assert!(doc["requests_per_sec"].as_f64().unwrap() > 0.0);
    let bad = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["load", "gopher", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
