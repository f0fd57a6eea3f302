//! Session-level tests: whole exchanges through the [`Harness`], no sockets.
//!
//! Responses are parsed back with httparse, so assertions speak of status lines and fields
//! rather than byte offsets; where the exact bytes matter (the `/plain` hot path, pipelining,
//! byte-by-byte input) the raw output is compared.

mod core;
mod errors;
mod files;
mod fuzz;
mod trust;
mod upload;

use std::path::Path;

use tempfile::TempDir;

use super::{Http, HttpConfig, HttpSession};
use crate::session::Flow;
use crate::testing::Harness;

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Response {
    pub status_line: String,
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// Checks the fields every response carries.
    pub(super) fn assert_common(&self) {
        assert!(
            self.header("Date")
                .is_some_and(|d| httpdate::parse_http_date(d).is_ok()),
            "Date: {self:?}"
        );
        assert_eq!(self.header("Server"), Some("evserve"), "{self:?}");
        assert_eq!(
            self.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{self:?}"
        );
        let bodiless = matches!(self.code, 100..=199 | 204 | 304);
        assert_eq!(
            self.header("Content-Length").is_some(),
            !bodiless,
            "{self:?}"
        );
        assert!(self.count("Content-Length") <= 1);
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Splits `bytes` into responses. `heads[i]` says the i-th final response answers a HEAD, so
/// carries no body whatever its `Content-Length`. Interim (1xx) responses are included.
pub(super) fn parse_responses(mut bytes: &[u8], heads: &[bool]) -> Vec<Response> {
    let mut responses = Vec::new();
    let mut finals = 0;
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        let len = match parsed.parse(bytes) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!(
                "unparsable response {other:?}: {:?}",
                String::from_utf8_lossy(bytes)
            ),
        };
        let code = parsed.code.unwrap();
        let status_line = format!("HTTP/1.1 {} {}", code, parsed.reason.unwrap());
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        let interim = (100..200).contains(&code);
        let head_only = !interim && heads.get(finals).copied().unwrap_or(false);
        let body_len = match headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            Some((_, v)) if !head_only => v.parse::<usize>().unwrap(),
            _ => 0,
        };
        assert!(bytes.len() >= len + body_len, "truncated body");
        let body = bytes[len..len + body_len].to_vec();
        bytes = &bytes[len + body_len..];
        if !interim {
            finals += 1;
        }
        responses.push(Response {
            status_line,
            code,
            headers,
            body,
        });
    }
    responses
}

/// Exactly one response, no HEAD.
pub(super) fn one(bytes: &[u8]) -> Response {
    let mut all = parse_responses(bytes, &[]);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

pub(super) fn harness(config: HttpConfig) -> Harness<HttpSession> {
    let http = Http::new(config);
    Harness::new(http.session())
}

pub(super) fn default_harness() -> Harness<HttpSession> {
    harness(HttpConfig::default())
}

/// A request with `Host` (a name every server answers for, see `host.rs`) and the given
/// extra lines.
pub(super) fn request(method: &str, target: &str, extra: &[&str]) -> Vec<u8> {
    let mut r = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
    for line in extra {
        r.push_str(line);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// Sends one request and parses the single response; asserts the connection stays open.
pub(super) fn exchange(h: &mut Harness<HttpSession>, bytes: &[u8]) -> Response {
    let step = h.input(bytes);
    assert_eq!(step.consumed, bytes.len());
    let response = one(&h.take_output());
    response.assert_common();
    response
}

pub(super) fn get(h: &mut Harness<HttpSession>, target: &str, extra: &[&str]) -> Response {
    exchange(h, &request("GET", target, extra))
}

/// Sends `bytes`, expects one error answer that closes the connection.
pub(super) fn expect_close(h: &mut Harness<HttpSession>, bytes: &[u8]) -> Response {
    let step = h.input(bytes);
    assert_eq!(
        step.flow,
        Flow::Close,
        "{:?}",
        String::from_utf8_lossy(h.output())
    );
    let response = one(&h.take_output());
    response.assert_common();
    assert_eq!(response.header("Connection"), Some("close"));
    response
}

/// A document root with a few files, and a config serving it.
pub(super) fn site() -> (TempDir, HttpConfig) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("hello.txt"), b"hello, file\n").unwrap();
    std::fs::write(root.join("page.html"), b"<p>hi</p>").unwrap();
    std::fs::write(root.join("empty.bin"), b"").unwrap();
    std::fs::create_dir(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/index.html"), b"<h1>docs</h1>").unwrap();
    std::fs::create_dir(root.join("list")).unwrap();
    std::fs::write(root.join("list/a&b <c>.txt"), b"x").unwrap();
    std::fs::write(root.join("list/.secret"), b"x").unwrap();
    std::fs::create_dir(root.join("list/sub")).unwrap();
    std::fs::write(root.join("list/sub/a.txt"), b"in sub").unwrap();
    let config = HttpConfig {
        root: root.to_path_buf(),
        ..HttpConfig::default()
    };
    (dir, config)
}

/// Names in a directory (for checking that no temporary file is left).
pub(super) fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
