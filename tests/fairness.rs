//! Bounds across connections: what one client does must not cost the others, nor make the
//! server give a stale or wrong answer. (Per-connection limits are tested with each service.)

mod util;

use util::http;

/// With two workers, each keeps its own file cache; a write through either must be seen by
/// the next read through either (the kernel deals new connections to both).
#[test]
fn every_worker_sees_a_write_at_once() {
    let root = tempfile::tempdir().unwrap();
    let server = http::start(root.path(), &["--writable", "--workers", "2"]);
    let addr = server.tcp("http");
    let put = |body: &str| {
        let request = format!(
            "PUT /files/v.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        http::once(addr, request.as_bytes()).status
    };
    for round in 0..40 {
        let body = format!("version {round}");
        assert!(matches!(put(&body), 201 | 204), "round {round}");
        // Warm both workers' caches, then check every read of several connections.
        for _ in 0..4 {
            let r = http::get(addr, "/files/v.txt");
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), body, "round {round}: a stale cached file");
        }
    }
    let delete = b"DELETE /files/v.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_eq!(http::once(addr, delete).status, 204);
    for _ in 0..8 {
        assert_eq!(
            http::get(addr, "/files/v.txt").status,
            404,
            "served after DELETE"
        );
    }
}
