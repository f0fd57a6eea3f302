//! Every refusal: the exact status line, `Connection: close`, and the end of the connection.

use super::*;

fn small_limits() -> HttpConfig {
    HttpConfig {
        max_header_bytes: 200,
        max_uri: 50,
        max_headers: 4,
        max_body: 10,
        ..HttpConfig::default()
    }
}

#[test]
fn refusals_close_the_connection() {
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(50));
    let long_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "a".repeat(200)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", b"HELLO\r\n\r\n".to_vec(), "400 Bad Request"),
        (
            "bad header name",
            b"GET / HTTP/1.1\r\nHost: t\r\nA B: c\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        (
            "space before colon",
            b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length : 1\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        (
            "no host",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        (
            "two hosts",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        (
            "a host with a path and user info",
            b"GET / HTTP/1.1\r\nHost: a b/c@d\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        (
            "a list of hosts",
            b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        (
            "chunk size with trailing whitespace",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n"
                .to_vec(),
            "400 Bad Request",
        ),
        (
            "a request line smuggled as a trailer",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nGET /x HTTP/1.1\r\n\r\n"
                .to_vec(),
            "400 Bad Request",
        ),
        (
            "asterisk for GET",
            request("GET", "*", &[]),
            "400 Bad Request",
        ),
        (
            "relative target",
            request("GET", "plain", &[]),
            "400 Bad Request",
        ),
        (
            "cl+te",
            request(
                "POST",
                "/echo",
                &["Content-Length: 3", "Transfer-Encoding: chunked"],
            ),
            "400 Bad Request",
        ),
        (
            "te+cl",
            request(
                "POST",
                "/echo",
                &["Transfer-Encoding: chunked", "Content-Length: 3"],
            ),
            "400 Bad Request",
        ),
        (
            "two lengths",
            request("POST", "/echo", &["Content-Length: 3", "Content-Length: 4"]),
            "400 Bad Request",
        ),
        (
            "length list",
            request("POST", "/echo", &["Content-Length: 3, 4"]),
            "400 Bad Request",
        ),
        (
            "signed length",
            request("POST", "/echo", &["Content-Length: -1"]),
            "400 Bad Request",
        ),
        (
            "gzip",
            request("POST", "/echo", &["Transfer-Encoding: gzip"]),
            "400 Bad Request",
        ),
        (
            "chunked twice",
            request("POST", "/echo", &["Transfer-Encoding: chunked, chunked"]),
            "400 Bad Request",
        ),
        (
            "identity",
            request("POST", "/echo", &["Transfer-Encoding: identity"]),
            "400 Bad Request",
        ),
        (
            "te on 1.0",
            b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            "400 Bad Request",
        ),
        (
            "http/2.0",
            b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(),
            "505 HTTP Version Not Supported",
        ),
        (
            "http/1.2",
            b"GET / HTTP/1.2\r\nHost: t\r\n\r\n".to_vec(),
            "505 HTTP Version Not Supported",
        ),
        ("http/0.9", b"GET /\r\n\r\n".to_vec(), "400 Bad Request"),
        ("long uri", long_uri.into_bytes(), "414 URI Too Long"),
        (
            "long head",
            long_head.into_bytes(),
            "431 Request Header Fields Too Large",
        ),
        (
            "many headers",
            request("GET", "/", &["A: 1", "B: 2", "C: 3", "D: 4"]),
            "431 Request Header Fields Too Large",
        ),
        (
            "big body",
            request("POST", "/echo", &["Content-Length: 11"]),
            "413 Content Too Large",
        ),
        (
            "huge body",
            request("POST", "/echo", &["Content-Length: 184467440737095516160"]),
            "413 Content Too Large",
        ),
        (
            "no length",
            request("POST", "/echo", &[]),
            "411 Length Required",
        ),
        (
            "put no length",
            request("PUT", "/files/a", &[]),
            "411 Length Required",
        ),
        (
            "expectation",
            request("GET", "/plain", &["Expect: tea"]),
            "417 Expectation Failed",
        ),
    ];
    for (name, input, status) in cases {
        let mut h = harness(small_limits());
        let r = expect_close(&mut h, &input);
        assert_eq!(r.status_line, format!("HTTP/1.1 {status}"), "{name}");
        assert_eq!(r.header("Content-Type"), Some("text/plain"), "{name}");
        assert_eq!(r.text(), format!("{status}\n"), "{name}");
        // Whatever else arrives is not answered.
        h.input(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
        assert!(h.take_output().is_empty(), "{name}");
    }
}

#[test]
fn limits_accept_their_edge() {
    let at_uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(49));
    let mut h = harness(small_limits());
    assert_eq!(exchange(&mut h, at_uri.as_bytes()).code, 404);

    let prefix = "GET /plain HTTP/1.1\r\nHost: t\r\nX: ";
    let at_head = format!("{prefix}{}\r\n\r\n", "a".repeat(200 - prefix.len() - 4));
    assert_eq!(at_head.len(), 200);
    assert_eq!(exchange(&mut h, at_head.as_bytes()).code, 200);

    assert_eq!(
        exchange(&mut h, &request("GET", "/plain", &["A: 1", "B: 2", "C: 3"])).code,
        200
    );

    let mut at_body = request("POST", "/echo", &["Content-Length: 10"]);
    at_body.extend_from_slice(b"0123456789");
    assert_eq!(exchange(&mut h, &at_body).body, b"0123456789");
}

#[test]
fn oversized_input_is_refused_before_the_head_completes() {
    // The request line alone is over max_uri: 414 with no newline in sight.
    let mut h = harness(small_limits());
    let r = expect_close(&mut h, format!("GET /{}", "a".repeat(60)).as_bytes());
    assert_eq!(r.status_line, "HTTP/1.1 414 URI Too Long");

    // A head that never ends: 431 as soon as it passes max_header_bytes.
    let mut h = harness(small_limits());
    let mut input = b"GET / HTTP/1.1\r\n".to_vec();
    while input.len() < 199 {
        input.extend_from_slice(b"X: y\r\n");
    }
    input.truncate(199);
    assert_eq!(h.input(&input).flow, Flow::Continue);
    let r = expect_close(&mut h, b"z");
    assert_eq!(
        r.status_line,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
}

#[test]
fn broken_chunked_bodies_are_refused() {
    let cases: &[(&[u8], &str)] = &[
        (b"zz\r\n", "400 Bad Request"),
        (b"\r\n", "400 Bad Request"),
        (b"3\r\nabcXX", "400 Bad Request"),
        (b"3;x\nabc\r\n0\r\n\r\n", "400 Bad Request"),
        (b"6\r\n012345\r\n5\r\n", "413 Content Too Large"),
    ];
    for (body, status) in cases {
        let mut h = harness(small_limits());
        let mut input = request("POST", "/echo", &["Transfer-Encoding: chunked"]);
        input.extend_from_slice(body);
        let r = expect_close(&mut h, &input);
        assert_eq!(
            r.status_line,
            format!("HTTP/1.1 {status}"),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn smuggled_requests_are_never_answered() {
    // The classic CL.TE / TE.CL payloads: a second request hidden in what one reading of the
    // framing takes for the body. Whatever happens, only one answer (a 400) may come out.
    let payloads: &[&[u8]] = &[
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0;\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    for payload in payloads {
        let mut h = default_harness();
        let r = expect_close(&mut h, payload);
        assert_eq!(r.code, 400, "{:?}", String::from_utf8_lossy(payload));
    }
}

#[test]
fn a_chunked_echo_is_collected_only_up_to_a_mebibyte() {
    let mut h = default_harness();
    let mut input = request("POST", "/echo", &["Transfer-Encoding: chunked"]);
    input.extend_from_slice(b"100000\r\n"); // 1 MiB: just fits
    input.extend_from_slice(&vec![b'a'; 1 << 20]);
    input.extend_from_slice(b"\r\n0\r\n\r\n");
    let r = exchange(&mut h, &input);
    assert_eq!((r.code, r.body.len()), (200, 1 << 20));

    let mut h = default_harness();
    let mut input = request("POST", "/echo", &["Transfer-Encoding: chunked"]);
    input.extend_from_slice(b"100000\r\n");
    input.extend_from_slice(&vec![b'a'; 1 << 20]);
    input.extend_from_slice(b"\r\n1\r\n");
    let r = expect_close(&mut h, &input);
    assert_eq!(r.status_line, "HTTP/1.1 413 Content Too Large");
}

#[test]
fn a_chunked_echo_body_is_reported_as_held_until_it_is_answered() {
    let mut h = default_harness();
    let mut input = request("POST", "/echo", &["Transfer-Encoding: chunked"]);
    input.extend_from_slice(b"5\r\nhello\r\n3\r\nab");
    assert_eq!(h.input(&input).flow, Flow::Continue);
    assert_eq!(
        h.held(),
        7,
        "the collected body counts in the memory budget"
    );
    assert_eq!(h.input(b"c\r\n").flow, Flow::Continue);
    assert_eq!(h.held(), 8);
    let r = exchange(&mut h, b"0\r\n\r\n");
    assert_eq!(r.body, b"helloabc");
    assert_eq!(h.held(), 0, "answered: nothing held");

    // A body with a length streams through: nothing held.
    let mut input = request("POST", "/echo", &["Content-Length: 10"]);
    input.extend_from_slice(b"12345");
    h.input(&input);
    assert_eq!(h.held(), 0);

    // A collected body the peer abandons, or lets time out, is released.
    for end in ["eof", "timeout"] {
        let mut h = default_harness();
        let mut input = request("POST", "/echo", &["Transfer-Encoding: chunked"]);
        input.extend_from_slice(b"4\r\nabcd\r\n");
        h.input(&input);
        assert_eq!(h.held(), 4, "{end}");
        let flow = match end {
            "eof" => h.eof(b""),
            _ => h.timeout(),
        };
        assert_eq!((flow, h.held()), (Flow::Close, 0), "{end}");
    }
}

#[test]
fn a_stalled_body_times_out_with_408() {
    let mut h = default_harness();
    let mut input = request("POST", "/echo", &["Transfer-Encoding: chunked"]);
    input.extend_from_slice(b"5\r\nhel");
    assert_eq!(h.input(&input).flow, Flow::Continue);
    assert_eq!(
        h.deadline(),
        None,
        "the reactor's minimum rate covers bodies"
    );
    assert!(h.receiving(), "the reactor is told a body is arriving");
    assert_eq!(h.timeout(), Flow::Close);
    let r = one(&h.take_output());
    assert_eq!(r.status_line, "HTTP/1.1 408 Request Timeout");
    assert_eq!(r.header("Connection"), Some("close"));
}
