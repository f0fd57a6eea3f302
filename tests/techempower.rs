//! `/plain` and `/json` pass the checks of TechEmpower's verification (its plaintext and JSON
//! test rules): the exact body and Content-Type, a Content-Length, `Server` and a well-formed
//! `Date` that changes as time passes, and pipelining 16 requests deep, as its plaintext test
//! sends them.

mod util;

use std::time::{Duration, Instant, SystemTime};

use util::http;

fn check_common(r: &http::Response, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.status_line);
    assert!(!r.must("server").is_empty(), "{what}: Server");
    let date = r.must("date");
    let when = httpdate::parse_http_date(date)
        .unwrap_or_else(|e| panic!("{what}: Date {date:?} is not an HTTP date: {e}"));
    let skew = SystemTime::now()
        .duration_since(when)
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew < Duration::from_secs(5),
        "{what}: Date {date} is {skew:?} off"
    );
    assert_eq!(r.content_length(), Some(r.body.len() as u64), "{what}");
}

#[test]
fn json_and_plaintext_pass_the_techempower_checks() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let addr = server.tcp("http");

    let json = http::get(addr, "/json");
    check_common(&json, "/json");
    assert_eq!(json.must("content-type"), "application/json");
    let doc: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(doc, serde_json::json!({"message": "Hello, World!"}));
    assert_eq!(json.body, br#"{"message":"Hello, World!"}"#);

    let plain = http::get(addr, "/plain");
    check_common(&plain, "/plain");
    assert!(plain.must("content-type").starts_with("text/plain"));
    assert_eq!(plain.body, b"Hello, World!");

    // The Date changes as time passes (it is cached, but never for longer than its second).
    let first = plain.must("date").to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let later = http::get(addr, "/json");
        if later.must("date") != first {
            break;
        }
        assert!(Instant::now() < deadline, "Date stuck at {first} for 5 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sixteen_pipelined_plaintext_requests_get_sixteen_answers_in_order() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &[]);
    let mut conn = http::Conn::open(server.tcp("http"));
    let mut batch = Vec::new();
    for i in 0..16 {
        let path = if i % 2 == 0 { "/plain" } else { "/json" };
        batch.extend_from_slice(
            format!("GET {path} HTTP/1.1\r\nHost: tfb-server\r\nAccept: text/plain\r\n\r\n")
                .as_bytes(),
        );
    }
    conn.send(&batch);
    for i in 0..16 {
        let r = conn.response();
        check_common(&r, "pipelined");
        let want: &[u8] = if i % 2 == 0 {
            b"Hello, World!"
        } else {
            br#"{"message":"Hello, World!"}"#
        };
        assert_eq!(r.body, want, "answer {i}");
    }
}
