//! `GET /connections`: every open connection of the worker that answers, with what the
//! reactor and the kernel know of its socket.
//!
//! The HTTP session cannot see other connections; it asks the reactor ([`Ctx::inspect`](crate::session::Ctx::inspect)) and
//! answers when the reactor hands it the table (see `session/inspect.rs`):
//!
//! ```text
//!  GET /connections?service=echo&limit=2
//!    ask()     parse the query, cx.inspect(..)           Handled::Inspecting
//!    ...       the reactor counts its connections, describes the first 2
//!    answer()  the table as JSON                         (in the session's next on_drain)
//! ```
//!
//! Bounded three ways: at most [`MAX_LIMIT`] connections are described (the rest are only
//! counted, `"more"`), the body stops at [`MAX_ANSWER_BYTES`] (`"truncated": true`), and
//! nothing is computed unless asked. It names peers' addresses, so when the server has Basic
//! credentials (`--auth`) it asks for them, as `PUT` and `DELETE` do (`routes.rs`).
//!
//! With `--workers N` every worker has its own connections, and the one the kernel gave this
//! client's connection to answers: the document says which (`"worker"`).

use serde_json::{Map, Value, json};

use super::endpoints::parse_query;
use super::exchange::{Handled, Reply};
use super::status::Status;
use crate::session::inspect::{
    ConnRow, ConnTable, DEFAULT_LIMIT, Inspect, MAX_LIMIT, ServiceName, TcpInfo,
};

/// The largest `/connections` body: rows that would go past it are left out and counted.
pub(super) const MAX_ANSWER_BYTES: usize = 512 * 1024;

/// Why a `/connections` query was refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QueryError {
    /// `limit` is not a number from 1 to [`MAX_LIMIT`].
    Limit,
    /// `service` is longer than any service name.
    Service,
}

/// Reads `?limit=N&service=NAME` (both optional; other keys are ignored).
pub(super) fn parse(query: Option<&str>) -> Result<Inspect, QueryError> {
    let map = parse_query(query.unwrap_or_default());
    let limit = match map.get("limit") {
        None => DEFAULT_LIMIT,
        Some(Value::String(s)) => match s.parse::<usize>() {
            Ok(n @ 1..=MAX_LIMIT) => n,
            _ => return Err(QueryError::Limit),
        },
        Some(_) => return Err(QueryError::Limit), // given twice
    };
    let service = match map.get("service") {
        None => None,
        Some(Value::String(s)) => Some(ServiceName::new(s).ok_or(QueryError::Service)?),
        Some(_) => return Err(QueryError::Service),
    };
    Ok(Inspect { service, limit })
}

/// `GET /connections`: asks the reactor for its table; the answer follows in [`answer`].
pub(super) fn ask(reply: &mut Reply<'_, '_>, query: Option<&str>) -> Handled {
    match parse(query) {
        Ok(inspect) => {
            reply.cx.inspect(inspect);
            Handled::Inspecting
        }
        Err(_) => {
            reply.refuse(Status::BadRequest);
            Handled::Answered
        }
    }
}

/// Answers with the table the reactor handed over.
pub(super) fn answer(reply: &mut Reply<'_, '_>, table: &ConnTable) {
    let workers = reply.shared.server.reactors.members().len().max(1);
    let draining = reply.cx.stats().is_draining();
    let body = render(table, worker_index(), workers, draining);
    reply.send(Status::Ok, b"application/json", &body);
}

/// Which worker this thread is: worker 0 runs on the thread that started the server, worker
/// `n` on the thread `server.rs` names `evserve-worker-n`.
fn worker_index() -> usize {
    std::thread::current()
        .name()
        .and_then(|name| name.strip_prefix("evserve-worker-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The `/connections` document: the table's rows while they fit in [`MAX_ANSWER_BYTES`],
/// and counts that say what was left out.
/// `draining`: a graceful stop has begun (every connection is then closing, or soon will be).
pub(super) fn render(table: &ConnTable, worker: usize, workers: usize, draining: bool) -> Vec<u8> {
    // Each row is serialized once, straight into the body, so its size is known as it goes;
    // room for the wrapping object (a few hundred bytes) is kept out of the rows' share.
    let budget = MAX_ANSWER_BYTES - 1024;
    let mut body = Vec::with_capacity(512 * table.rows.len().min(64) + 1024);
    body.extend_from_slice(b"{\"connections\":[");
    let mut shown = 0;
    let mut truncated = false;
    for row in &table.rows {
        let mark = body.len();
        if shown > 0 {
            body.push(b',');
        }
        // Writing a `Value` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut body, &row_json(row));
        if body.len() > budget {
            body.truncate(mark);
            truncated = true;
            break;
        }
        shown += 1;
    }
    body.extend_from_slice(b"],");
    // The rest of the document, its keys sorted as serde_json sorts them (after
    // "connections"): serialized as an object, then spliced in without its opening brace.
    let rest = json!({
        "worker": worker,
        "workers": workers,
        "draining": draining,
        "note": "the connections of the worker that answered; with --workers N each worker \
                 has its own",
        "total": table.total,
        "matched": table.matched,
        "shown": shown,
        "more": table.matched - shown,
        "truncated": truncated,
    });
    let rest = rest.to_string();
    body.extend_from_slice(rest.as_bytes().get(1..).unwrap_or_default());
    body.push(b'\n');
    body
}

fn row_json(row: &ConnRow) -> Value {
    let mut map = Map::new();
    let mut put = |key: &str, value: Value| {
        map.insert(key.to_owned(), value);
    };
    put("fd", row.fd.into());
    put("service", row.service.into());
    put("local", row.local.map(|a| a.to_string()).into());
    put("peer", row.peer.to_string().into());
    put("state", row.state.name().into());
    put("read", row.read.name().into());
    put("read_paused", row.read_paused.into());
    put("held_back", row.held_back.into());
    put("write", row.write.name().into());
    put("bytes_in", row.bytes_in.into());
    put("bytes_out", row.bytes_out.into());
    put("pending_out", row.pending_out.into());
    put("age_ms", row.age_ms.into());
    put("idle_ms", row.idle_ms.into());
    put("so_rcvbuf", row.rcvbuf.into());
    put("so_sndbuf", row.sndbuf.into());
    put(
        "tcp_info",
        row.tcp_info.as_ref().map_or(Value::Null, tcp_json),
    );
    Value::Object(map)
}

fn tcp_json(info: &TcpInfo) -> Value {
    json!({
        "state": info.state,
        "rtt_us": info.rtt_us,
        "rttvar_us": info.rttvar_us,
        "snd_cwnd": info.snd_cwnd,
        "snd_mss": info.snd_mss,
        "retransmits": info.retransmits,
        "unacked": info.unacked,
        "total_retrans": info.total_retrans,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http::tests::{Response, default_harness, parse_responses, request};
    use crate::session::Flow;
    use crate::session::inspect::{ConnState, ReadState, WriteState};

    fn row(n: u16) -> ConnRow {
        ConnRow {
            fd: 10 + i32::from(n),
            service: "echo",
            local: Some("127.0.0.1:7007".parse().unwrap()),
            peer: format!("127.0.0.1:{}", 40000 + n).parse().unwrap(),
            state: ConnState::Open,
            read: ReadState::Waiting,
            read_paused: false,
            held_back: true,
            write: WriteState::Ready,
            bytes_in: 5,
            bytes_out: 4,
            pending_out: 1,
            age_ms: 100,
            idle_ms: 7,
            rcvbuf: Some(131_072),
            sndbuf: Some(2_626_560),
            tcp_info: Some(TcpInfo {
                state: 1,
                rtt_us: 30,
                rttvar_us: 15,
                snd_cwnd: 10,
                snd_mss: 32768,
                retransmits: 0,
                unacked: 0,
                total_retrans: 2,
            }),
        }
    }

    fn doc(table: &ConnTable) -> Value {
        serde_json::from_slice(&render(table, 1, 2, false)).unwrap()
    }

    #[test]
    fn a_row_renders_every_field() {
        let table = ConnTable {
            rows: vec![row(1)],
            matched: 3,
            total: 9,
        };
        let d = doc(&table);
        assert_eq!(
            (&d["worker"], &d["workers"], &d["total"], &d["matched"]),
            (&json!(1), &json!(2), &json!(9), &json!(3))
        );
        assert_eq!((&d["shown"], &d["more"]), (&json!(1), &json!(2)));
        assert_eq!(d["truncated"], json!(false));
        assert_eq!(d["draining"], json!(false));
        let c = &d["connections"][0];
        assert_eq!(c["peer"], "127.0.0.1:40001");
        assert_eq!(c["local"], "127.0.0.1:7007");
        assert_eq!(c["fd"], 11);
        assert_eq!(
            (&c["state"], &c["read"], &c["write"]),
            (&json!("open"), &json!("waiting"), &json!("ready"))
        );
        assert_eq!(
            (&c["bytes_in"], &c["bytes_out"], &c["pending_out"]),
            (&json!(5), &json!(4), &json!(1))
        );
        assert_eq!((&c["age_ms"], &c["idle_ms"]), (&json!(100), &json!(7)));
        assert_eq!(
            (&c["so_rcvbuf"], &c["so_sndbuf"]),
            (&json!(131_072), &json!(2_626_560))
        );
        assert_eq!(
            (&c["read_paused"], &c["held_back"]),
            (&json!(false), &json!(true))
        );
        assert_eq!(c["tcp_info"]["rtt_us"], 30);
        assert_eq!(c["tcp_info"]["total_retrans"], 2);
    }

    #[test]
    fn unknown_kernel_figures_are_null() {
        let mut r = row(1);
        (r.local, r.rcvbuf, r.tcp_info) = (None, None, None);
        let d = doc(&ConnTable {
            rows: vec![r],
            matched: 1,
            total: 1,
        });
        let c = &d["connections"][0];
        assert!(c["local"].is_null() && c["so_rcvbuf"].is_null() && c["tcp_info"].is_null());
    }

    #[test]
    fn the_body_stops_at_its_cap_and_counts_the_rest() {
        let rows: Vec<ConnRow> = (0..MAX_LIMIT as u16).map(row).collect();
        let one = row_json(&rows[0]).to_string().len() + 1;
        let fit = (MAX_ANSWER_BYTES - 1024) / one;
        // Enough rows of this size to pass the cap (each is a little over 400 bytes).
        let many: Vec<ConnRow> = rows.iter().cycle().take(fit + 50).cloned().collect();
        let table = ConnTable {
            matched: many.len() + 7,
            total: many.len() + 7,
            rows: many,
        };
        let body = render(&table, 0, 1, true);
        assert!(body.len() <= MAX_ANSWER_BYTES, "{}", body.len());
        let d: Value = serde_json::from_slice(&body).unwrap();
        let shown = d["shown"].as_u64().unwrap() as usize;
        // Rows differ by a digit or two (fds, ports): nearly as many as the first's size fit.
        assert!(
            shown < table.rows.len() && shown * 100 >= fit * 99,
            "{shown} of {fit}"
        );
        assert_eq!(d["truncated"], json!(true));
        assert_eq!(d["draining"], json!(true));
        assert_eq!(d["more"].as_u64().unwrap() as usize, table.matched - shown);
        assert_eq!(d["connections"].as_array().unwrap().len(), shown);
    }

    #[test]
    fn the_session_waits_for_the_table_and_answers_in_order() {
        let mut h = default_harness();
        let mut bytes = request("GET", "/connections?service=echo&limit=3", &[]);
        bytes.extend(request("GET", "/plain", &[]));
        assert_eq!(h.input(&bytes).flow, Flow::Continue);
        let asked = h.inspection().expect("the session asked the reactor");
        assert_eq!(
            (asked.limit, asked.service.is_some_and(|s| s.is("echo"))),
            (3, true)
        );
        assert!(
            h.output().is_empty(),
            "nothing is answered before the table"
        );
        assert_eq!(h.drain(), Flow::Continue);
        assert!(h.output().is_empty(), "an ordinary drain is no answer");
        let table = ConnTable {
            rows: vec![row(1)],
            matched: 1,
            total: 2,
        };
        assert_eq!(h.answer_inspection(&table), Some(Flow::Continue));
        let answers = parse_responses(&h.take_output(), &[false, false]);
        assert_eq!(answers.len(), 2, "the table, then the request behind it");
        let d: Value = serde_json::from_slice(&answers[0].body).unwrap();
        assert_eq!((answers[0].code, &d["matched"]), (200, &json!(1)));
        assert_eq!(d["connections"][0]["peer"], "127.0.0.1:40001");
        assert_eq!(answers[1].body, b"Hello, World!");
        assert_eq!(
            h.answer_inspection(&table),
            None,
            "asked once, answered once"
        );
    }

    #[test]
    fn a_closing_request_closes_after_its_table() {
        let mut h = default_harness();
        let bytes = request("GET", "/connections", &["Connection: close"]);
        assert_eq!(h.input(&bytes).flow, Flow::Continue, "open until answered");
        let table = ConnTable {
            rows: Vec::new(),
            matched: 0,
            total: 0,
        };
        assert_eq!(h.answer_inspection(&table), Some(Flow::Close));
        let answers = parse_responses(&h.take_output(), &[false]);
        assert_eq!(answers[0].header("connection"), Some("close"));
        let d: Value = serde_json::from_slice(&answers[0].body).unwrap();
        assert_eq!((&d["shown"], &d["connections"]), (&json!(0), &json!([])));
        let bad = h_refuses("/connections?limit=0");
        assert_eq!(bad.code, 400);
    }

    fn h_refuses(target: &str) -> Response {
        let mut h = default_harness();
        h.input(&request("GET", target, &[]));
        assert_eq!(h.inspection(), None, "a bad query asks nothing");
        parse_responses(&h.take_output(), &[false]).remove(0)
    }

    #[test]
    fn queries_are_read_and_limits_enforced() {
        let ok = |q| parse(Some(q)).unwrap();
        assert_eq!(parse(None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(parse(None).unwrap().service, None);
        assert_eq!(ok("limit=1").limit, 1);
        assert_eq!(ok("limit=1000").limit, MAX_LIMIT);
        assert!(ok("service=http&x=1").service.unwrap().is("http"));
        assert!(!ok("service=http").service.unwrap().is("https"));
        assert!(ok("service=tls-framed").service.unwrap().is("tls-framed"));
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "limit=",
            "limit=1&limit=2",
        ] {
            assert_eq!(parse(Some(bad)), Err(QueryError::Limit), "{bad}");
        }
        for bad in ["service=a-name-longer-than-16", "service=a&service=b"] {
            assert_eq!(parse(Some(bad)), Err(QueryError::Service), "{bad}");
        }
    }
}
