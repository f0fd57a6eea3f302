//! `PUT` and `DELETE` under `/files/`, credentials, and uploads cut short.

use std::fs;

use super::*;

fn writable() -> (TempDir, HttpConfig) {
    let (dir, config) = site();
    let config = HttpConfig {
        writable: true,
        ..config
    };
    (dir, config)
}

fn put(name: &str, body: &[u8], extra: &[&str]) -> Vec<u8> {
    let length = format!("Content-Length: {}", body.len());
    let mut fields = vec![length.as_str()];
    fields.extend_from_slice(extra);
    let mut input = request("PUT", &format!("/files/{name}"), &fields);
    input.extend_from_slice(body);
    input
}

#[test]
fn uploaded_files_are_served_sandboxed_and_others_are_not() {
    let (_dir, config) = writable();
    let mut h = harness(config);
    let page = b"<script>alert(document.cookie)</script>";
    assert_eq!(exchange(&mut h, &put("x.html", page, &[])).code, 201);
    for _ in 0..2 {
        // The first answer reads the file, the second comes from the cache.
        let r = get(&mut h, "/files/x.html", &[]);
        assert_eq!((r.code, r.body.as_slice()), (200, &page[..]));
        assert_eq!(r.header("Content-Security-Policy"), Some("sandbox"));
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
        let r = get(&mut h, "/list/../files/x.html", &[]);
        assert_eq!(r.header("Content-Security-Policy"), Some("sandbox"));
    }
    let r = get(&mut h, "/page.html", &[]);
    assert_eq!(r.header("Content-Security-Policy"), None);
}

#[test]
fn put_get_replace_delete() {
    let (dir, config) = writable();
    let mut h = harness(config);
    let r = exchange(&mut h, &put("notes.txt", b"first", &[]));
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    assert_eq!(r.header("Location"), Some("/files/notes.txt"));
    assert_eq!(r.header("Content-Length"), Some("0"));
    assert_eq!(
        fs::read(dir.path().join("files/notes.txt")).unwrap(),
        b"first"
    );

    let r = get(&mut h, "/files/notes.txt", &[]);
    assert_eq!((r.code, r.body.as_slice()), (200, &b"first"[..]));

    let r = exchange(&mut h, &put("notes.txt", b"second version", &[]));
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(get(&mut h, "/files/notes.txt", &[]).body, b"second version");

    let r = exchange(&mut h, &request("DELETE", "/files/notes.txt", &[]));
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(get(&mut h, "/files/notes.txt", &[]).code, 404);
    let r = exchange(&mut h, &request("DELETE", "/files/notes.txt", &[]));
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert!(names_in(&dir.path().join("files")).is_empty());
}

#[test]
fn chunked_put_split_anywhere() {
    let (dir, config) = writable();
    let mut h = harness(config);
    let mut input = request("PUT", "/files/c.bin", &["Transfer-Encoding: chunked"]);
    input.extend_from_slice(b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    assert_eq!(h.input_bytewise(&input), Flow::Continue);
    assert_eq!(one(&h.take_output()).code, 201);
    assert_eq!(
        fs::read(dir.path().join("files/c.bin")).unwrap(),
        b"abcdefg"
    );
}

#[test]
fn put_with_expect_continue() {
    let (dir, config) = writable();
    let mut h = harness(config);
    let head = request(
        "PUT",
        "/files/e.txt",
        &["Content-Length: 2", "Expect: 100-continue"],
    );
    h.input(&head);
    assert_eq!(h.take_output(), b"HTTP/1.1 100 Continue\r\n\r\n");
    h.input(b"ok");
    assert_eq!(one(&h.take_output()).code, 201);
    assert_eq!(fs::read(dir.path().join("files/e.txt")).unwrap(), b"ok");
}

#[test]
fn writes_need_the_writable_switch() {
    let (dir, config) = site();
    let mut h = harness(config);
    for input in [put("x", b"data", &[]), request("DELETE", "/files/x", &[])] {
        let r = exchange(&mut h, &input);
        assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
        assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
    }
    assert!(!dir.path().join("files").exists());
}

#[test]
fn writes_need_credentials_when_configured() {
    let (dir, config) = writable();
    let mut h = harness(HttpConfig {
        auth: Some(std::sync::Arc::new(
            crate::protocol::http::auth::Users::plain("alice", "s3cret").unwrap(),
        )),
        ..config
    });
    // alice:s3cret and alice:wrong
    let good = "Authorization: Basic YWxpY2U6czNjcmV0";
    let cases: &[(&[&str], u16)] = &[
        (&[], 401),
        (&["Authorization: Basic YWxpY2U6d3Jvbmc="], 401),
        (&["Authorization: Bearer YWxpY2U6czNjcmV0"], 401),
        (&["Authorization: Basic !!!"], 401),
        (&["Authorization: basic YWxpY2U6czNjcmV0"], 201),
    ];
    for (fields, code) in cases {
        let r = exchange(&mut h, &put("a.txt", b"x", fields));
        assert_eq!(r.code, *code, "{fields:?}");
        if *code == 401 {
            assert_eq!(r.status_line, "HTTP/1.1 401 Unauthorized");
            assert_eq!(
                r.header("WWW-Authenticate"),
                Some("Basic realm=\"evserve\"")
            );
        }
    }
    let r = exchange(&mut h, &request("DELETE", "/files/a.txt", &[]));
    assert_eq!(r.code, 401);
    let r = exchange(&mut h, &request("DELETE", "/files/a.txt", &[good]));
    assert_eq!(r.code, 204);
    // Reading needs no credentials.
    assert_eq!(get(&mut h, "/hello.txt", &[]).code, 200);
    assert!(names_in(&dir.path().join("files")).is_empty());
}

#[test]
fn upload_names_must_be_plain() {
    let (dir, config) = writable();
    let mut h = harness(config);
    for name in [
        ".hidden",
        "%2e%2e",
        "..%2fhello.txt",
        "a%2fb",
        "a%5cb",
        "%00",
    ] {
        let r = exchange(&mut h, &put(name, b"x", &[]));
        assert_eq!(r.status_line, "HTTP/1.1 403 Forbidden", "{name}");
    }
    // `/files/a/b` is not an upload name either.
    assert_eq!(exchange(&mut h, &put("a/b", b"x", &[])).code, 403);
    assert_eq!(
        fs::read(dir.path().join("hello.txt")).unwrap(),
        b"hello, file\n"
    );
    assert!(names_in(&dir.path().join("files")).is_empty());
}

#[test]
fn cut_off_uploads_leave_nothing() {
    type End = fn(&mut Harness<HttpSession>);
    let endings: &[(&str, End)] = &[
        ("eof", |h| assert_eq!(h.eof(b"more"), Flow::Close)),
        ("timeout", |h| assert_eq!(h.timeout(), Flow::Close)),
        ("close", |h| h.close()),
        ("bad chunk", |h| {
            assert_eq!(h.input(b"zz\r\n").flow, Flow::Close)
        }),
    ];
    for (name, end) in endings {
        let (dir, config) = writable();
        let mut h = harness(HttpConfig {
            max_body: 1000,
            ..config
        });
        let chunked = *name == "bad chunk";
        let mut input = if chunked {
            let mut head = request("PUT", "/files/big.bin", &["Transfer-Encoding: chunked"]);
            head.extend_from_slice(b"5\r\n12345\r\n");
            head
        } else {
            request("PUT", "/files/big.bin", &["Content-Length: 1000"])
        };
        input.extend_from_slice(if chunked { b"" } else { b"partial" });
        assert_eq!(h.input(&input).flow, Flow::Continue);
        assert_eq!(
            names_in(&dir.path().join("files")).len(),
            1,
            "a temporary file exists"
        );
        end(&mut h);
        assert!(names_in(&dir.path().join("files")).is_empty(), "{name}");
    }
}

#[test]
fn oversized_chunked_uploads_are_413_and_leave_nothing() {
    let (dir, config) = writable();
    let mut h = harness(HttpConfig {
        max_body: 8,
        ..config
    });
    let mut input = request("PUT", "/files/x", &["Transfer-Encoding: chunked"]);
    input.extend_from_slice(b"5\r\n12345\r\n5\r\n");
    let r = expect_close(&mut h, &input);
    assert_eq!(r.status_line, "HTTP/1.1 413 Content Too Large");
    assert!(names_in(&dir.path().join("files")).is_empty());
}

#[test]
fn a_directory_cannot_be_replaced() {
    let (dir, config) = writable();
    fs::create_dir_all(dir.path().join("files/sub")).unwrap();
    let mut h = harness(config);
    assert_eq!(exchange(&mut h, &put("sub", b"x", &[])).code, 403);
    assert_eq!(
        exchange(&mut h, &request("DELETE", "/files/sub", &[])).code,
        403
    );
    assert_eq!(names_in(&dir.path().join("files")), ["sub"]);
}

#[test]
fn conditional_writes_create_once_and_replace_only_the_version_seen() {
    let (dir, config) = writable();
    let mut h = harness(config);
    let path = dir.path().join("files/doc.txt");
    // Replacing what does not exist yet.
    let r = exchange(&mut h, &put("doc.txt", b"v0", &["If-Match: *"]));
    assert_eq!(r.code, 412);
    assert!(!path.exists());
    // Create-only: the first succeeds and says which version it made.
    let r = exchange(&mut h, &put("doc.txt", b"v1", &["If-None-Match: *"]));
    assert_eq!(r.code, 201);
    let v1 = r.header("ETag").expect("ETag of the new file").to_owned();
    assert_eq!(
        get(&mut h, "/files/doc.txt", &[]).header("ETag"),
        Some(v1.as_str())
    );
    let r = exchange(&mut h, &put("doc.txt", b"v1 again", &["If-None-Match: *"]));
    assert_eq!(r.code, 412);
    assert_eq!(fs::read(&path).unwrap(), b"v1");
    // Replace the version we have, once; a second writer holding v1 too is refused.
    let if_v1 = format!("If-Match: {v1}");
    let r = exchange(&mut h, &put("doc.txt", b"version 2", &[&if_v1]));
    assert_eq!(r.code, 204);
    let v2 = r.header("ETag").unwrap().to_owned();
    assert_ne!(v1, v2);
    let r = exchange(&mut h, &put("doc.txt", b"lost update", &[&if_v1]));
    assert_eq!(r.code, 412);
    assert_eq!(fs::read(&path).unwrap(), b"version 2");
    // DELETE is conditional too.
    let r = exchange(&mut h, &request("DELETE", "/files/doc.txt", &[&if_v1]));
    assert_eq!(r.code, 412);
    let if_v2 = format!("If-Match: {v2}");
    let r = exchange(&mut h, &request("DELETE", "/files/doc.txt", &[&if_v2]));
    assert_eq!(r.code, 204);
    assert!(
        names_in(&dir.path().join("files")).is_empty(),
        "no temporary file left"
    );
}

#[test]
fn a_precondition_that_fails_while_the_body_arrives_is_412_and_leaves_the_file() {
    let (dir, config) = writable();
    let mut h = harness(config);
    let path = dir.path().join("files/race.txt");
    // Head accepted (the name is free), then another writer creates the file before the body
    // is complete: the create-only write must not replace it.
    let mut input = request(
        "PUT",
        "/files/race.txt",
        &["Content-Length: 4", "If-None-Match: *"],
    );
    input.extend_from_slice(b"mi");
    h.input(&input);
    assert!(h.output().is_empty(), "no answer before the body");
    fs::write(&path, b"theirs").unwrap();
    h.input(b"ne");
    assert_eq!(one(&h.take_output()).code, 412);
    assert_eq!(fs::read(&path).unwrap(), b"theirs");
    assert_eq!(names_in(&dir.path().join("files")), ["race.txt"]);
}

#[test]
fn a_refused_conditional_put_with_expect_continue_never_gets_100() {
    let (dir, config) = writable();
    let mut h = harness(config);
    fs::create_dir_all(dir.path().join("files")).unwrap();
    fs::write(dir.path().join("files/kept.txt"), b"kept").unwrap();
    let head = request(
        "PUT",
        "/files/kept.txt",
        &[
            "Content-Length: 5",
            "Expect: 100-continue",
            "If-None-Match: *",
        ],
    );
    h.input(&head);
    let r = one(&h.take_output());
    assert_eq!(r.code, 412, "refused before the body, without 100 Continue");
    assert_eq!(
        fs::read(dir.path().join("files/kept.txt")).unwrap(),
        b"kept"
    );
}
