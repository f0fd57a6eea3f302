//! Who the server answers: the `Host` names it answers for (DNS rebinding), the WebSocket
//! handshake's `Origin` and key, and the dashboard's framing policy.

use super::*;

/// `GET target` with `Host: host` and the given extra lines.
fn get_as(h: &mut Harness<HttpSession>, host: &str, target: &str, extra: &[&str]) -> Response {
    let mut r = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n");
    for line in extra {
        r.push_str(line);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    exchange(h, r.as_bytes())
}

const WS: [&str; 4] = [
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
];

const GUARDED: [&str; 7] = [
    "/stats",
    "/metrics",
    "/connections",
    "/dashboard",
    "/events",
    "/ws/chat",
    "/ws/echo",
];

#[test]
fn a_rebinding_host_reaches_nothing_that_shows_or_acts_inside() {
    let (_dir, config) = site();
    let rebind = "rebind.attacker.example:8080";
    for path in GUARDED {
        let mut h = harness(config.clone());
        let origin = format!("Origin: http://{rebind}");
        let r = get_as(
            &mut h,
            rebind,
            path,
            &[&WS[..], &[origin.as_str()]].concat(),
        );
        assert_eq!(r.code, 421, "{path}: {}", r.status_line);
        assert_eq!(r.text(), "421 Misdirected Request\n");
    }
    // Files and the balancer's health check are served to any name, as before.
    let mut h = harness(config.clone());
    assert_eq!(get_as(&mut h, rebind, "/hello.txt", &[]).code, 200);
    assert_eq!(get_as(&mut h, rebind, "/healthz", &[]).code, 200);
    assert_eq!(get_as(&mut h, rebind, "/plain", &[]).code, 200);
}

#[test]
fn localhost_ip_literals_and_server_names_pass() {
    let (_dir, config) = site();
    let config = HttpConfig {
        host_names: vec!["example.test".to_owned()],
        ..config
    };
    for host in [
        "localhost",
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
        "192.0.2.7",
        "example.test",
        "Example.Test:8443",
    ] {
        let mut h = harness(config.clone());
        for path in ["/stats", "/dashboard"] {
            let r = get_as(&mut h, host, path, &[]);
            assert_eq!(r.code, 200, "{host} {path}");
        }
    }
    let mut h = harness(config.clone());
    assert_eq!(get_as(&mut h, "www.example.test", "/stats", &[]).code, 421);
    // HTTP/1.0 without Host: no browser sends that, so nothing to rebind.
    let r = exchange(&mut h, b"GET /stats HTTP/1.0\r\n\r\n");
    assert_eq!(r.code, 200);
}

#[test]
fn strict_host_refuses_unknown_hosts_on_every_route() {
    let (_dir, config) = site();
    let config = HttpConfig {
        strict_host: true,
        ..config
    };
    let mut h = harness(config.clone());
    for path in ["/hello.txt", "/plain", "/healthz", "/stats"] {
        assert_eq!(
            get_as(&mut h, "rebind.example", path, &[]).code,
            421,
            "{path}"
        );
        assert_eq!(get_as(&mut h, "localhost", path, &[]).code, 200, "{path}");
    }
    let r = exchange(
        &mut h,
        b"OPTIONS * HTTP/1.1\r\nHost: rebind.example\r\n\r\n",
    );
    assert_eq!(r.code, 421);
    let r = exchange(&mut h, b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(r.code, 204);
}

#[test]
fn a_websocket_origin_must_be_an_accepted_name_at_the_same_host_and_port() {
    let (_dir, config) = site();
    let config = HttpConfig {
        host_names: vec!["example.test".to_owned()],
        ..config
    };
    for (host, origin, code) in [
        ("localhost:8080", "http://localhost:8080", 101),
        ("example.test", "https://example.test", 101),
        ("127.0.0.1:8080", "http://127.0.0.1:8080", 101),
        ("localhost:8080", "http://localhost:3000", 403),
        ("localhost:8080", "http://rebind.attacker.example:8080", 403),
        ("127.0.0.1:8080", "http://192.0.2.1:8080", 403),
    ] {
        let mut h = harness(config.clone());
        let origin_line = format!("Origin: {origin}");
        let r = get_as(
            &mut h,
            host,
            "/ws/echo",
            &[&WS[..], &[origin_line.as_str()]].concat(),
        );
        assert_eq!(r.code, code, "Host {host}, Origin {origin}");
    }
}

#[test]
fn a_repeated_websocket_key_is_a_bad_request() {
    let mut h = default_harness();
    let r = exchange(
        &mut h,
        &request(
            "GET",
            "/ws/echo",
            &[&WS[..], &["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]].concat(),
        ),
    );
    assert_eq!(r.code, 400, "RFC 6455 §11.3.1: the field must not repeat");
    let mut h = default_harness();
    assert_eq!(exchange(&mut h, &request("GET", "/ws/echo", &WS)).code, 101);
}

#[test]
fn the_dashboard_may_not_be_framed() {
    let mut h = default_harness();
    let r = get(&mut h, "/dashboard", &[]);
    assert_eq!(r.code, 200);
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
    let csp = r.header("Content-Security-Policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}
