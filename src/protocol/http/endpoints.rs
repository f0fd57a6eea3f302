//! The built-in resources: `/plain`, `/json`, `/echo`, `/stats`, `/healthz`, and the `OPTIONS`
//! and `TRACE` answers.
//!
//! `/plain` and `/json` are the benchmark routes (TechEmpower's plaintext and JSON tests), so
//! their answers are precomputed when the service starts ([`Canned`]): serving one is one copy
//! into the output buffer, with no allocation and no formatting. The other endpoints build
//! small JSON documents with `serde_json`; they are not on a hot path and clarity wins there.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::ServerStats;
use super::exchange::{BodySink, Handled, Reply};
use super::request::{BodyFraming, Persist, RequestHead, Version};
use super::response::{DATE_LEN, DateCache, HeadParts, connection_field};
use super::status::Status;
use crate::stats::Stats;

/// The body of `/plain`.
pub(super) const PLAIN_BODY: &[u8] = b"Hello, World!";

/// The body of `/json`: TechEmpower's JSON test document.
pub(super) const JSON_BODY: &[u8] = br#"{"message":"Hello, World!"}"#;

/// A fixed answer (`/plain`, `/json`), written in advance whole, once for each fate of the
/// connection ([`Persist`]): serving it is one copy into the output, with no allocation and no
/// formatting. The `Date` inside is rewritten in place when the date cache moves to the next
/// second, so once a second, not once a request.
#[derive(Debug)]
pub(super) struct Canned {
    /// The whole answer by [`Persist`]: status line, `Server`, `Content-Type`,
    /// `Content-Length`, `Date`, the `Connection` field, the end of the head, and the body.
    answers: RefCell<[Vec<u8>; 3]>,
    /// Where the date's text starts, the same in all three answers.
    date_at: usize,
    /// The date cache's generation the answers carry (`u64::MAX` before the first).
    dated: Cell<u64>,
    /// The body's length, left out of the answer to `HEAD`.
    body_len: usize,
}

impl Canned {
    /// Precomputes `body` as `content_type` for a server whose common fields are `parts`.
    pub(super) fn new(parts: &HeadParts, content_type: &[u8], body: &'static [u8]) -> Canned {
        let mut prefix = Status::Ok.line().to_vec();
        prefix.extend_from_slice(&parts.server_line);
        prefix.extend_from_slice(b"Content-Type: ");
        prefix.extend_from_slice(content_type);
        prefix.extend_from_slice(b"\r\nContent-Length: ");
        prefix.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        prefix.extend_from_slice(b"\r\nDate: ");
        let undated = [b' '; DATE_LEN];
        let answer = |persist| {
            [
                &prefix[..],
                &undated,
                b"\r\n",
                connection_field(persist),
                b"\r\n",
                body,
            ]
            .concat()
        };
        Canned {
            answers: RefCell::new([
                answer(Persist::KeepAlive),
                answer(Persist::KeepAliveAnnounced),
                answer(Persist::Close),
            ]),
            date_at: prefix.len(),
            dated: Cell::new(u64::MAX),
            body_len: body.len(),
        }
    }

    /// `/plain`: `Hello, World!` as `text/plain`.
    pub(super) fn plain(parts: &HeadParts) -> Canned {
        Canned::new(parts, b"text/plain", PLAIN_BODY)
    }

    /// `/json`: `{"message":"Hello, World!"}` as `application/json`.
    pub(super) fn json(parts: &HeadParts) -> Canned {
        Canned::new(parts, b"application/json", JSON_BODY)
    }

    /// Answers `GET` (or `HEAD`).
    pub(super) fn write(&self, reply: &mut Reply<'_, '_>) {
        let persist = reply.final_persist(Status::Ok);
        let with_body = reply.wants_body_bytes();
        let parts = &reply.shared.parts;
        parts.counts.record(Status::Ok);
        let now = reply.cx.now();
        if parts.date.generation(now) != self.dated.get() {
            self.redate(&parts.date, now);
        }
        let answers = self.answers.borrow();
        let answer = &answers[match persist {
            Persist::KeepAlive => 0,
            Persist::KeepAliveAnnounced => 1,
            Persist::Close => 2,
        }];
        let answer = if with_body {
            &answer[..]
        } else {
            &answer[..answer.len() - self.body_len]
        };
        reply.cx.out().extend_from_slice(answer);
    }

    /// Writes the current date into every answer.
    #[cold]
    fn redate(&self, date: &DateCache, now: Instant) {
        let text = date.get(now);
        for answer in self.answers.borrow_mut().iter_mut() {
            if let Some(field) = answer.get_mut(self.date_at..self.date_at + DATE_LEN) {
                field.copy_from_slice(&text);
            }
        }
        self.dated.set(date.generation(now));
    }
}

/// `GET /healthz`: `200` while serving, `503` once a graceful stop has begun, so a load
/// balancer's health check (HAProxy's `option httpchk`) stops sending new requests before the
/// listener closes. The body names the client as the server sees it (behind a proxy speaking
/// the PROXY protocol, the real client).
pub(super) fn healthz(reply: &mut Reply<'_, '_>) {
    let (status, state) = if reply.cx.stats().is_draining() {
        (Status::ServiceUnavailable, "draining")
    } else {
        (Status::Ok, "serving")
    };
    let body = serde_json::json!({ "status": state, "client": reply.cx.peer().to_string() });
    reply.send(status, b"application/json", format!("{body}\n").as_bytes());
}

/// `GET /echo?...`: the query as a JSON object.
pub(super) fn echo_query(reply: &mut Reply<'_, '_>, query: Option<&str>) {
    let json = Value::Object(parse_query(query.unwrap_or_default()));
    reply.send(Status::Ok, b"application/json", json.to_string().as_bytes());
}

/// Decodes a query string into a JSON object. Keys and values are percent-decoded, with `+`
/// read as a space (HTML form encoding) and invalid UTF-8 replaced. A key given once maps to a
/// string; a repeated key maps to an array of its values in order. `a` alone means `a=`.
pub(super) fn parse_query(query: &str) -> Map<String, Value> {
    let mut map = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (form_decode(key), Value::String(form_decode(value)));
        match map.get_mut(&key) {
            None => {
                map.insert(key, value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => {
                let first = first.take();
                map.insert(key, Value::Array(vec![first, value]));
            }
        }
    }
    map
}

fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// What `POST /echo` does with the body as it arrives.
#[derive(Debug)]
pub(super) enum EchoBody {
    /// The length was known up front, so the head is already out and body bytes are copied
    /// straight to the output as they arrive: nothing is buffered.
    Through,
    /// Chunked: the length is only known at the end, so the body is collected (at most
    /// [`ECHO_COLLECT_MAX`] bytes, see [`BodySink::max_body`]) and sent back whole.
    Collect {
        /// The request's `Content-Type`, to send back.
        content_type: Vec<u8>,
        /// The body so far.
        body: Vec<u8>,
    },
}

/// `POST /echo`: the body comes back with the request's `Content-Type`.
pub(super) fn echo_body(head: &RequestHead<'_, '_>, reply: &mut Reply<'_, '_>) -> Handled {
    let content_type = head
        .header("content-type")
        .unwrap_or(b"application/octet-stream");
    if head.framing == BodyFraming::Chunked && reply.cx.memory_tight() {
        // A chunked body is held until it ends: over the server's memory budget, refuse
        // it rather than grow (before `100 Continue`, so a waiting client sends nothing).
        reply.exchange.persist = Persist::Close;
        reply.refuse_with(Status::ServiceUnavailable, Some(("Retry-After", b"1")));
        return Handled::Answered;
    }
    reply.accept_body();
    match head.framing {
        BodyFraming::Length(n) => {
            reply
                .start(Status::Ok)
                .header("Content-Type", content_type)
                .end(n);
            Handled::AwaitBody(Box::new(EchoBody::Through))
        }
        BodyFraming::Chunked => Handled::AwaitBody(Box::new(EchoBody::Collect {
            content_type: content_type.to_vec(),
            body: Vec::new(),
        })),
        BodyFraming::None => {
            reply.send(Status::Ok, content_type, b"");
            Handled::Answered
        }
    }
}

/// The largest chunked body `/echo` collects: bodies held in memory until they end are what
/// a few hundred clients that never read their answer would use to exhaust the server's
/// memory, so this is kept far below `max_body` (bodies with a length stream through instead).
pub(super) const ECHO_COLLECT_MAX: u64 = 1024 * 1024;

impl BodySink for EchoBody {
    /// The largest body this echo takes, given the service's `max_body`: a larger one is 413.
    fn max_body(&self, max_body: u64) -> u64 {
        match self {
            EchoBody::Through => max_body,
            EchoBody::Collect { .. } => max_body.min(ECHO_COLLECT_MAX),
        }
    }

    /// Copies body bytes through, or collects them.
    fn write(&mut self, data: &[u8], reply: &mut Reply<'_, '_>) -> std::io::Result<()> {
        match self {
            EchoBody::Through => reply.cx.out().extend_from_slice(data),
            EchoBody::Collect { body, .. } => body.extend_from_slice(data),
        }
        Ok(())
    }

    /// A collected body, until it ends.
    fn held(&self) -> usize {
        match self {
            EchoBody::Through => 0,
            EchoBody::Collect { body, .. } => body.len(),
        }
    }

    /// The body is complete: answer, if not done already.
    fn finish(self: Box<Self>, reply: &mut Reply<'_, '_>) {
        if let EchoBody::Collect { content_type, body } = *self {
            reply.send(Status::Ok, &content_type, &body);
        }
    }
}

/// `GET /stats`: the server's counters and the responses it sent, by class, summed over
/// every worker (`workers` says how many), whichever worker answers.
pub(super) fn stats(reply: &mut Reply<'_, '_>) {
    let map = snapshot(&reply.shared.server, reply.cx.stats());
    reply.send(
        Status::Ok,
        b"application/json",
        Value::Object(map).to_string().as_bytes(),
    );
}

/// The `/stats` document (also each `/events` snapshot): the counters of every worker summed,
/// or those of `own` (the reactor answering) when the service runs on its own.
pub(super) fn snapshot(server: &ServerStats, own: &Stats) -> Map<String, Value> {
    let reactors = server.reactors.members().len();
    let totals = if reactors == 0 {
        own.snapshot()
    } else {
        server.reactors.total()
    };
    let mut map: Map<String, Value> = totals
        .iter()
        .map(|&(name, value)| (name.to_owned(), Value::from(value)))
        .collect();
    let services = if reactors == 0 {
        own.services.get()
    } else {
        server.reactors.services()
    };
    for (service, open) in services {
        map.insert(format!("active_{service}"), Value::from(open));
    }
    let mut counts = [0u64; 5];
    for member in server.responses.members() {
        for (sum, n) in counts.iter_mut().zip(member.get()) {
            *sum += n;
        }
    }
    let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"];
    let requests: Map<String, Value> = classes
        .iter()
        .zip(counts)
        .map(|(class, n)| ((*class).to_owned(), Value::from(n)))
        .collect();
    map.insert("requests".to_owned(), Value::Object(requests));
    map.insert("workers".to_owned(), Value::from(reactors.max(1)));
    map
}

/// `OPTIONS`: 204 with the methods `allow` lists (an `Allow` value, from `routes.rs`).
pub(super) fn options(reply: &mut Reply<'_, '_>, allow: &[u8]) {
    let _ = reply.start(Status::NoContent).header("Allow", allow).end(0);
}

/// `TRACE`: the request head echoed back as `message/http`, minus the fields that carry
/// credentials (RFC 9110 §9.3.8 asks the server to leave those out).
pub(super) fn trace(head: &RequestHead<'_, '_>, reply: &mut Reply<'_, '_>) {
    const SENSITIVE: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];
    let mut body = Vec::with_capacity(256);
    for part in [head.method_token, " ", head.uri, " "] {
        body.extend_from_slice(part.as_bytes());
    }
    body.extend_from_slice(match head.version {
        Version::Http10 => b"HTTP/1.0\r\n",
        Version::Http11 => b"HTTP/1.1\r\n",
    });
    for h in head.headers {
        if SENSITIVE.iter().any(|s| h.name.eq_ignore_ascii_case(s)) {
            continue;
        }
        body.extend_from_slice(h.name.as_bytes());
        body.extend_from_slice(b": ");
        body.extend_from_slice(h.value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"\r\n");
    reply.send(Status::Ok, b"message/http", &body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queries_decode_into_objects() {
        let cases: &[(&str, Value)] = &[
            ("a=1&b=2", json!({"a": "1", "b": "2"})),
            ("", json!({})),
            ("a", json!({"a": ""})),
            ("a=&&b", json!({"a": "", "b": ""})),
            (
                "q=a+b%2Bc&x%20y=%E2%9C%93",
                json!({"q": "a b+c", "x y": "✓"}),
            ),
            ("k=1&k=2&k=3", json!({"k": ["1", "2", "3"]})),
            ("bad=%ff%", json!({"bad": "\u{fffd}%"})),
            ("eq=a=b", json!({"eq": "a=b"})),
        ];
        for (query, expected) in cases {
            assert_eq!(Value::Object(parse_query(query)), *expected, "{query}");
        }
    }
}
