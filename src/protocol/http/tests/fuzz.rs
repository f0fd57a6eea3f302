//! Property tests of the whole session: how input is split must not matter, and no input,
//! however hostile, may panic it or make it answer anything but well-formed responses.

use proptest::prelude::*;

use super::*;
use crate::protocol::http::status::Status;
use crate::session::Flow;
use crate::testing::damaged;

/// One request from a family that exercises every framing: bodies by length and chunked,
/// HEAD, errors that keep the connection, `Expect`, queries needing decoding.
fn a_request() -> impl Strategy<Value = Vec<u8>> {
    let body = proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        Just(request("GET", "/plain", &[])),
        Just(request("HEAD", "/plain", &[])),
        Just(request("GET", "/echo?a=1&b=x%20y&c", &[])),
        Just(request("GET", "/missing", &[])),
        Just(request("OPTIONS", "*", &[])),
        Just(request("DELETE", "/plain", &[])),
        Just(request("BREW", "/pot", &[])),
        body.clone().prop_map(|body| {
            let length = format!("Content-Length: {}", body.len());
            let mut r = request("POST", "/echo", &[&length, "Content-Type: a/b"]);
            r.extend_from_slice(&body);
            r
        }),
        (body, 1usize..50).prop_map(|(body, chunk)| {
            let mut r = request("POST", "/echo", &["Transfer-Encoding: chunked"]);
            for piece in body.chunks(chunk) {
                r.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
                r.extend_from_slice(piece);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\nTrailer: t\r\n\r\n");
            r
        }),
    ]
}

/// A write to the upload area: `PUT` (by length or chunked, maybe conditional, maybe
/// announcing `100-continue`) or `DELETE` of one of three names.
fn a_write() -> impl Strategy<Value = Vec<u8>> {
    let condition = prop_oneof![
        Just(None),
        Just(Some("If-None-Match: *")),
        Just(Some("If-Match: *")),
        Just(Some("Expect: 100-continue")),
    ];
    prop_oneof![
        4 => (0..3u8, proptest::collection::vec(any::<u8>(), 0..400), any::<bool>(), 1usize..60, condition)
            .prop_map(|(name, body, chunked, chunk, condition)| {
                let target = format!("/files/u{name}");
                let length = format!("Content-Length: {}", body.len());
                let framing = if chunked { "Transfer-Encoding: chunked" } else { length.as_str() };
                let mut fields = vec![framing];
                fields.extend(condition);
                let mut r = request("PUT", &target, &fields);
                if chunked {
                    for piece in body.chunks(chunk) {
                        r.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                        r.extend_from_slice(piece);
                        r.extend_from_slice(b"\r\n");
                    }
                    r.extend_from_slice(b"0\r\n\r\n");
                } else {
                    r.extend_from_slice(&body);
                }
                r
            }),
        1 => (0..3u8).prop_map(|name| request("DELETE", &format!("/files/u{name}"), &[])),
    ]
}

/// Feeds `input` in pieces to a default session (see [`run_on`]).
fn run(input: &[u8], pieces: &[usize]) -> (Vec<u8>, Flow) {
    run_on(&mut default_harness(), input, pieces)
}

/// Feeds `input` in pieces of the given sizes, as reads would deliver it, until the session
/// stops the connection. Returns the output with `Date` values blanked, since two runs may
/// straddle a second, and the last flow.
fn run_on(h: &mut Harness<HttpSession>, input: &[u8], pieces: &[usize]) -> (Vec<u8>, Flow) {
    let flow = h.input_in_pieces(input, pieces);
    let mut out = h.take_output();
    blank_dates(&mut out);
    (out, flow)
}

fn blank_dates(out: &mut [u8]) {
    const FIELD: &[u8] = b"\r\nDate: ";
    let mut i = 0;
    while let Some(at) = out[i..].windows(FIELD.len()).position(|w| w == FIELD) {
        let start = i + at + FIELD.len();
        let end = (start + 29).min(out.len());
        out[start..end].fill(b'#');
        i = end;
    }
}

// 256 cases each by default; `PROPTEST_CASES=100000` for a longer hunt.
proptest! {
    /// Pipelined requests give byte-identical answers whether they arrive at once, byte by
    /// byte, or cut anywhere.
    #[test]
    fn answers_do_not_depend_on_how_input_is_split(
        requests in proptest::collection::vec(a_request(), 1..8),
        pieces in proptest::collection::vec(1usize..80, 1..10),
    ) {
        let input = requests.concat();
        let whole = run(&input, &[input.len()]);
        prop_assert_eq!(&run(&input, &pieces), &whole);
        prop_assert_eq!(&run(&input, &[1]), &whole);
        let answers = parse_responses(&whole.0, &heads_of(&requests));
        prop_assert_eq!(answers.iter().filter(|r| r.code >= 200).count(), requests.len());
    }

    /// Valid requests with bytes flipped or cut anywhere: never a panic, and whatever comes
    /// out is a sequence of complete, well-formed responses with codes we send.
    #[test]
    fn damaged_requests_get_well_formed_answers(
        requests in proptest::collection::vec(a_request(), 1..5),
        damage in proptest::collection::vec(any::<(usize, u8)>(), 0..6),
        cut in any::<usize>(),
        pieces in proptest::collection::vec(1usize..80, 1..10),
    ) {
        let input = damaged(requests.concat(), &damage, cut);
        let (out, flow) = run(&input, &pieces);
        check_well_formed(&out, flow);
    }

    /// Uploads and deletes, damaged and cut anywhere: well-formed answers, and when the
    /// connection is gone no temporary file is left and nothing was written outside
    /// `<root>/files/`.
    #[test]
    fn damaged_uploads_leave_no_temporary_file(
        writes in proptest::collection::vec(a_write(), 1..5),
        damage in proptest::collection::vec(any::<(usize, u8)>(), 0..4),
        cut in any::<usize>(),
        pieces in proptest::collection::vec(1usize..80, 1..10),
    ) {
        let root = tempfile::tempdir().unwrap();
        let config = HttpConfig {
            root: root.path().to_path_buf(),
            writable: true,
            ..HttpConfig::default()
        };
        let input = damaged(writes.concat(), &damage, cut);
        let mut h = harness(config);
        let (out, flow) = run_on(&mut h, &input, &pieces);
        check_well_formed(&out, flow);
        if flow == Flow::Continue {
            h.eof(&[]);
        }
        drop(h); // the connection is gone: an unfinished upload removes its temporary file
        let top = names_in(root.path());
        prop_assert!(top.is_empty() || top == ["files"], "{:?}", top);
        for name in names_in(&root.path().join("files")) {
            prop_assert!(!name.starts_with('.'), "left behind: {}", name);
        }
    }

    /// Arbitrary bytes, sprinkled with the tokens a parser cares about.
    #[test]
    fn byte_soup_gets_well_formed_answers(
        soup in proptest::collection::vec(prop_oneof![
            any::<u8>().prop_map(|b| vec![b]),
            Just(b"\r\n".to_vec()),
            Just(b"GET / HTTP/1.1\r\n".to_vec()),
            Just(b"Content-Length: 5\r\n".to_vec()),
            Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
            Just(b"Host: h\r\n".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(b"ffffffffffffffff\r\n".to_vec()),
        ], 0..60),
        pieces in proptest::collection::vec(1usize..80, 1..10),
    ) {
        let (out, flow) = run(&soup.concat(), &pieces);
        check_well_formed(&out, flow);
    }
}

/// Which of `requests` are HEADs (their answers carry no body).
fn heads_of(requests: &[Vec<u8>]) -> Vec<bool> {
    requests.iter().map(|r| r.starts_with(b"HEAD ")).collect()
}

/// Parses `out` as a sequence of responses, each with a code we send. An answer to HEAD has a
/// `Content-Length` and no body, so a response may be followed directly by the next one, or
/// end the output. The last body may be cut short only if the session is still waiting for
/// input (an echoed request body that was itself cut short).
fn check_well_formed(out: &[u8], flow: Flow) {
    if out.is_empty() {
        return;
    }
    let mut rest = out;
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        let len = match parsed.parse(rest) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!(
                "not a response: {other:?} in {:?}",
                String::from_utf8_lossy(out)
            ),
        };
        let code = parsed.code.unwrap();
        assert!(
            Status::ALL.iter().any(|s| s.code() == code),
            "unexpected {code} in {:?}",
            String::from_utf8_lossy(out)
        );
        let length = parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map(|h| {
                std::str::from_utf8(h.value)
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            })
            .unwrap_or(0);
        rest = &rest[len..];
        // The body follows, unless this answered a HEAD (damage can make any request one):
        // then the next response, or nothing, starts here.
        if rest.is_empty() || rest.starts_with(b"HTTP/1.1 ") {
            continue;
        }
        if rest.len() < length {
            assert_eq!(
                flow,
                Flow::Continue,
                "truncated body in {:?}",
                String::from_utf8_lossy(out)
            );
            return;
        }
        rest = &rest[length..];
    }
}
