//! Static files: types, directories, path safety, validators, ranges, streaming.

use std::fs;
use std::os::unix::fs::symlink;

use super::*;
use crate::session::Step;

#[test]
fn files_are_served_with_type_and_validators() {
    let (_dir, config) = site();
    let mut h = harness(config);
    let r = get(&mut h, "/hello.txt", &[]);
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("Content-Length"), Some("12"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert!(
        r.header("Last-Modified")
            .is_some_and(|d| httpdate::parse_http_date(d).is_ok())
    );
    let etag = r.header("ETag").unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.contains('-'),
        "{etag}"
    );
    assert_eq!(r.body, b"hello, file\n");

    assert_eq!(
        get(&mut h, "/page.html", &[]).header("Content-Type"),
        Some("text/html")
    );
    let empty = get(&mut h, "/empty.bin", &[]);
    assert_eq!(
        empty.header("Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(empty.header("Content-Length"), Some("0"));
}

#[test]
fn dot_segments_are_removed_and_a_file_is_no_directory() {
    let (_dir, config) = site();
    let mut h = harness(config);
    for path in [
        "/list/sub/./a.txt",
        "/list/./sub/a.txt",
        "/list/x/../sub/a.txt",
        "/list/sub/%2e/a.txt",
    ] {
        let r = get(&mut h, path, &[]);
        assert_eq!((r.code, r.body.as_slice()), (200, &b"in sub"[..]), "{path}");
    }
    for path in ["/hello.txt/", "/list/sub/a.txt/", "/list/sub/../.secret"] {
        assert_eq!(get(&mut h, path, &[]).code, 404, "{path}");
    }
    assert_eq!(get(&mut h, "/list/../../etc/passwd", &[]).code, 403);
}

#[test]
fn head_of_a_file_has_its_length_and_no_body() {
    let (_dir, config) = site();
    let mut h = harness(config);
    h.input(&request("HEAD", "/hello.txt", &[]));
    let out = h.take_output();
    let r = &parse_responses(&out, &[true])[0];
    r.assert_common();
    assert_eq!(r.header("Content-Length"), Some("12"));
    assert!(out.ends_with(b"\r\n\r\n"));
}

#[test]
fn directories_serve_their_index_or_a_listing() {
    let (_dir, mut config) = site();
    config.listings = true;
    let mut h = harness(config);
    assert_eq!(get(&mut h, "/docs/", &[]).body, b"<h1>docs</h1>");

    let r = get(&mut h, "/docs?x=1", &[]);
    assert_eq!(r.status_line, "HTTP/1.1 301 Moved Permanently");
    assert_eq!(r.header("Location"), Some("/docs/?x=1"));
    // No open redirect to another host.
    let r = get(&mut h, "//docs", &[]);
    assert_eq!(r.header("Location"), Some("/docs/"));

    let r = get(&mut h, "/list/", &[]);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(
        html.contains("<a href=\"a%26b%20%3Cc%3E.txt\">a&amp;b &lt;c&gt;.txt</a>"),
        "{html}"
    );
    assert!(html.contains("<a href=\"sub/\">sub/</a>"), "{html}");
    assert!(html.contains("<a href=\"../\">"), "{html}");
    assert!(!html.contains("secret"), "hidden files are not listed");
    assert!(
        get(&mut h, "/", &[])
            .text()
            .contains("<a href=\"list/\">list/</a>")
    );
}

#[test]
fn without_listings_a_directory_is_its_index_or_403() {
    let (_dir, config) = site();
    assert!(!config.listings, "listings are opt-in (--listings)");
    let mut h = harness(config);
    assert_eq!(get(&mut h, "/docs/", &[]).body, b"<h1>docs</h1>");
    for target in ["/list/", "/", "/list/sub/"] {
        let r = get(&mut h, target, &[]);
        assert_eq!(r.status_line, "HTTP/1.1 403 Forbidden", "{target}");
        assert!(!r.text().contains("a&amp;b"), "{target}: {}", r.text());
    }
}

#[test]
fn missing_and_hidden_files_are_404() {
    let (_dir, config) = site();
    let mut h = harness(config);
    for target in [
        "/nope",
        "/hello.txt/x",
        "/list/.secret",
        "/.secret",
        "/nodir/",
    ] {
        let r = get(&mut h, target, &[]);
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found", "{target}");
    }
}

#[test]
fn traversal_never_escapes_the_root() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.txt"), b"TOP SECRET").unwrap();
    let (dir, config) = site();
    let root = dir.path();
    fs::create_dir(root.join("a")).unwrap();
    symlink(outside.path(), root.join("out")).unwrap();
    symlink(outside.path().join("secret.txt"), root.join("a/leak.txt")).unwrap();
    // Relative: the kernel's walk beneath the root follows it. An absolute symlink is refused
    // even when it points inside (`RESOLVE_BENEATH`: its target is not resolved from the root).
    symlink("../hello.txt", root.join("a/inside.txt")).unwrap();
    symlink(root.join("hello.txt"), root.join("a/absolute.txt")).unwrap();
    let up = format!(
        "/../{}/secret.txt",
        outside.path().file_name().unwrap().to_string_lossy()
    );

    let mut h = harness(config);
    let cases: &[(&str, u16)] = &[
        (&up, 403),
        ("/a/../../etc/passwd", 403),
        ("/%2e%2e/%2e%2e/etc/passwd", 403),
        ("/a/%2E%2E/%2e%2e/etc/passwd", 403),
        ("/a/%2fetc/passwd", 403),
        ("/a/%2Fetc%2Fpasswd", 403),
        ("/a\\..\\..\\etc\\passwd", 403),
        ("/a/%5c..%5cetc", 403),
        ("/hello.txt%00.png", 403),
        ("/out/secret.txt", 403),
        ("/out/", 403),
        ("/a/leak.txt", 403),
        ("/a/inside.txt", 200),
        ("/a/absolute.txt", 403),
    ];
    for (target, code) in cases {
        let r = get(&mut h, target, &[]);
        assert_eq!(r.code, *code, "{target}");
        assert!(!r.text().contains("TOP SECRET"), "{target}");
    }
}

#[test]
fn sockets_and_other_special_files_are_forbidden() {
    let (dir, config) = site();
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
    let mut h = harness(config);
    assert_eq!(
        get(&mut h, "/sock", &[]).status_line,
        "HTTP/1.1 403 Forbidden"
    );
}

#[test]
fn files_whose_size_the_kernel_does_not_know_are_read_bounded() {
    // procfs reports a size of 0 for files it generates when read.
    let config = HttpConfig {
        root: "/proc/self".into(),
        ..HttpConfig::default()
    };
    let mut h = harness(config.clone());
    let r = get(&mut h, "/status", &[]);
    assert_eq!(r.code, 200);
    assert!(r.text().starts_with("Name:"), "{:?}", r.text());
    assert_eq!(r.header("Content-Length"), Some(&*r.body.len().to_string()));
    // Magic links point anywhere: not followed (`ELOOP`, a failure no ordinary root has).
    for magic in ["/root/etc/hostname", "/cwd/Cargo.toml"] {
        let r = expect_close(&mut h, &request("GET", magic, &[]));
        assert_eq!(r.code, 500, "{magic}");
        h = harness(HttpConfig {
            root: "/proc/self".into(),
            ..HttpConfig::default()
        });
    }
}

#[test]
fn filesystem_failures_are_500_and_close() {
    let (dir, config) = site();
    symlink("loop-b", dir.path().join("loop-a")).unwrap();
    symlink("loop-a", dir.path().join("loop-b")).unwrap();
    let mut h = harness(config);
    let r = expect_close(&mut h, &request("GET", "/loop-a", &[]));
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
}

#[test]
fn conditional_requests_answer_304() {
    let (_dir, config) = site();
    let mut h = harness(config);
    let first = get(&mut h, "/hello.txt", &[]);
    let etag = first.header("ETag").unwrap().to_owned();
    let modified = first.header("Last-Modified").unwrap().to_owned();
    let later = httpdate::fmt_http_date(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
    );
    let earlier = "Sat, 01 Jan 2000 00:00:00 GMT";

    let inm = |v: &str| format!("If-None-Match: {v}");
    let ims = |v: &str| format!("If-Modified-Since: {v}");
    let cases: Vec<(Vec<String>, u16)> = vec![
        (vec![inm(&etag)], 304),
        (vec![inm(&format!("\"x\", {etag}"))], 304),
        (vec![inm(&format!("W/{etag}"))], 304),
        (vec![inm("*")], 304),
        (vec![inm("\"other\"")], 200),
        (vec![ims(&modified)], 304),
        (vec![ims(&later)], 304),
        (vec![ims(earlier)], 200),
        (vec![ims("not a date")], 200),
        // If-None-Match decides when present, even against a matching date.
        (vec![inm("\"other\""), ims(&later)], 200),
    ];
    for (fields, code) in cases {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let r = get(&mut h, "/hello.txt", &fields);
        assert_eq!(r.code, code, "{fields:?}");
        if code == 304 {
            assert_eq!(r.status_line, "HTTP/1.1 304 Not Modified");
            assert_eq!(r.header("ETag"), Some(etag.as_str()));
            assert_eq!(r.header("Last-Modified"), Some(modified.as_str()));
            assert!(r.body.is_empty());
        }
    }
}

#[test]
fn if_match_and_if_unmodified_since_answer_412() {
    let (_dir, config) = site();
    let mut h = harness(config);
    let first = get(&mut h, "/hello.txt", &[]);
    let etag = first.header("ETag").unwrap().to_owned();
    let modified = first.header("Last-Modified").unwrap().to_owned();
    let earlier = "Sat, 01 Jan 2000 00:00:00 GMT";
    let im = |v: &str| format!("If-Match: {v}");
    let ius = |v: &str| format!("If-Unmodified-Since: {v}");
    let inm = |v: &str| format!("If-None-Match: {v}");
    let cases: Vec<(Vec<String>, u16)> = vec![
        (vec![im(&etag)], 200),
        (vec![im(&format!("\"x\", {etag}"))], 200),
        (vec![im("*")], 200),
        (vec![im("\"other\"")], 412),
        // If-Match compares strongly: a weak tag never matches.
        (vec![im(&format!("W/{etag}"))], 412),
        (vec![ius(&modified)], 200),
        (vec![ius(earlier)], 412),
        (vec![ius("not a date")], 200),
        // If-Match decides when present: If-Unmodified-Since is then ignored.
        (vec![im(&etag), ius(earlier)], 200),
        // Both kinds: 412 comes first, then 304.
        (vec![im("\"other\""), inm(&etag)], 412),
        (vec![im(&etag), inm(&etag)], 304),
    ];
    for (fields, code) in cases {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let r = get(&mut h, "/hello.txt", &fields);
        assert_eq!(r.code, code, "{fields:?}");
        if code == 412 {
            assert_eq!(r.status_line, "HTTP/1.1 412 Precondition Failed");
            assert_eq!(r.body, b"412 Precondition Failed\n");
        }
    }
}

#[test]
fn single_ranges_answer_206_and_impossible_ones_416() {
    let (dir, config) = site();
    let data: Vec<u8> = (0..100u8).collect();
    fs::write(dir.path().join("data.bin"), &data).unwrap();
    let mut h = harness(config);
    let etag = get(&mut h, "/data.bin", &[])
        .header("ETag")
        .unwrap()
        .to_owned();
    let cases: &[(&str, u16, Option<&str>, std::ops::Range<usize>)] = &[
        ("bytes=0-9", 206, Some("bytes 0-9/100"), 0..10),
        ("bytes=90-", 206, Some("bytes 90-99/100"), 90..100),
        ("bytes=-5", 206, Some("bytes 95-99/100"), 95..100),
        ("bytes=50-500", 206, Some("bytes 50-99/100"), 50..100),
        ("bytes=0-1,5-6", 200, None, 0..100),
        ("bytes=oops", 200, None, 0..100),
        ("bytes=100-", 416, Some("bytes */100"), 0..0),
        ("bytes=-0", 416, Some("bytes */100"), 0..0),
    ];
    for (range, code, content_range, slice) in cases {
        let r = get(&mut h, "/data.bin", &[&format!("Range: {range}")]);
        assert_eq!(r.code, *code, "{range}");
        assert_eq!(r.header("Content-Range"), *content_range, "{range}");
        if *code == 206 {
            assert_eq!(r.status_line, "HTTP/1.1 206 Partial Content");
            assert_eq!(r.body, &data[slice.clone()], "{range}");
        } else if *code == 200 {
            assert_eq!(r.body, data);
        } else {
            assert_eq!(r.status_line, "HTTP/1.1 416 Range Not Satisfiable");
        }
    }
    let matching = format!("If-Range: {etag}");
    assert_eq!(
        get(&mut h, "/data.bin", &["Range: bytes=0-0", &matching]).code,
        206
    );
    assert_eq!(
        get(
            &mut h,
            "/data.bin",
            &["Range: bytes=0-0", "If-Range: \"stale\""]
        )
        .code,
        200
    );
    // HEAD ignores Range (it is defined for GET only).
    h.input(&request("HEAD", "/data.bin", &["Range: bytes=0-0"]));
    assert_eq!(parse_responses(&h.take_output(), &[true])[0].code, 200);
}

#[test]
fn big_files_stream_with_bounded_output() {
    let (dir, config) = site();
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 77)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    fs::write(dir.path().join("big.bin"), &data).unwrap();
    let mut h = harness(config);
    let mut input = request("GET", "/big.bin", &[]);
    input.extend_from_slice(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n");
    let first = request("GET", "/big.bin", &[]).len();
    // The pipelined /plain waits behind the stream.
    assert_eq!(h.input(&input), Step::consumed(first));
    let mut received = h.take_output();
    let bound = 256 * 1024 + 64 * 1024 + 1024;
    assert!(received.len() <= bound);
    let mut drains = 0;
    loop {
        let flow = h.drain();
        assert_eq!(flow, Flow::Continue);
        assert!(
            h.output().len() <= bound,
            "pending output {}",
            h.output().len()
        );
        let chunk = h.take_output();
        if chunk.is_empty() {
            break;
        }
        received.extend_from_slice(&chunk);
        drains += 1;
    }
    assert!(drains > 5, "streamed in {drains} steps");
    assert!(
        h.pending_input().is_empty(),
        "the queued request was answered"
    );
    let responses = parse_responses(&received, &[]);
    assert_eq!(responses.len(), 2);
    assert_eq!(
        responses[0].header("Content-Length"),
        Some(data.len().to_string().as_str())
    );
    assert!(responses[0].body == data, "streamed body differs");
    assert_eq!(responses[1].body, b"Hello, World!");
}

#[test]
fn a_range_of_a_big_file_streams_too() {
    let (dir, config) = site();
    let data: Vec<u8> = (0..2 * 1024 * 1024).map(|i: u32| (i % 253) as u8).collect();
    fs::write(dir.path().join("big.bin"), &data).unwrap();
    let mut h = harness(config);
    h.input(&request("GET", "/big.bin", &["Range: bytes=1000-1500000"]));
    let mut received = h.take_output();
    while h.drain() == Flow::Continue {
        let chunk = h.take_output();
        if chunk.is_empty() {
            break;
        }
        received.extend_from_slice(&chunk);
    }
    let r = one(&received);
    assert_eq!(r.code, 206);
    assert!(r.body == data[1000..=1_500_000], "range body differs");
}

#[test]
fn http_1_0_stream_closes_after_the_last_byte_and_eof_waits_for_it() {
    let (dir, config) = site();
    fs::write(dir.path().join("big.bin"), vec![7u8; 1024 * 1024]).unwrap();
    let mut h = harness(config);
    assert_eq!(
        h.input(b"GET /big.bin HTTP/1.0\r\n\r\n").flow,
        Flow::Continue
    );
    // The client half-closes; the answer still completes.
    assert_eq!(h.eof(b""), Flow::Continue);
    let mut total = h.take_output().len();
    let last = loop {
        let flow = h.drain();
        total += h.take_output().len();
        if flow != Flow::Continue {
            break flow;
        }
    };
    assert_eq!(last, Flow::Close);
    assert!(total > 1024 * 1024);
}
