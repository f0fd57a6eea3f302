//! `GET /connections` over real sockets: each client's connection is found by its own address
//! with the bytes it moved and its kernel figures; the service filter, the limit and the
//! count of the rest; requests pipelined behind it; `--auth`; `--workers`.

mod util;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::Value;
use util::Server;
use util::http::{Response, connect, read_response};

/// An HTTP/1.1 client that keeps count of the raw bytes it sent and received.
struct Client {
    reader: BufReader<TcpStream>,
    sent: usize,
    received: usize,
}

/// The body of `answer`, parsed as JSON.
fn json(answer: &Response) -> Value {
    serde_json::from_slice(&answer.body).unwrap_or_else(|e| panic!("{e}: {}", answer.text()))
}

impl Client {
    fn open(addr: SocketAddr) -> Client {
        Client {
            reader: BufReader::new(connect(addr)),
            sent: 0,
            received: 0,
        }
    }

    fn local(&self) -> SocketAddr {
        self.reader.get_ref().local_addr().unwrap()
    }

    fn send(&mut self, request: &str) {
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        self.sent += request.len();
    }

    /// Reads one response, counting its bytes.
    fn answer(&mut self, head_request: bool) -> Response {
        let answer = read_response(&mut self.reader, head_request).expect("a response");
        self.received += answer.head_len + answer.body.len();
        answer
    }

    fn get(&mut self, path: &str) -> Response {
        self.send(&format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        self.answer(false)
    }
}

/// `path` on a connection of its own.
fn get(addr: SocketAddr, path: &str) -> Response {
    Client::open(addr).get(path)
}

/// A TCP echo client that has sent `n` bytes and read them all back: once it has, the server
/// has accepted it, read them and written them.
fn echoed(addr: SocketAddr, n: usize) -> TcpStream {
    let mut s = connect(addr);
    let data = vec![b'e'; n];
    s.write_all(&data).unwrap();
    let mut back = vec![0; n];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, data);
    s
}

/// The row whose peer is `client`.
fn row_of(doc: &Value, client: SocketAddr) -> &Value {
    doc["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["peer"] == client.to_string())
        .unwrap_or_else(|| panic!("no row for {client} in {doc:#}"))
}

fn echo_and_http() -> (Server, SocketAddr, SocketAddr) {
    let server = Server::start(&["--echo", "127.0.0.1:0", "--http", "127.0.0.1:0"], 2);
    let (echo, http) = (server.tcp("echo"), server.tcp("http"));
    (server, echo, http)
}

#[test]
fn every_connection_appears_with_its_bytes_and_its_socket() {
    let (_server, echo, http) = echo_and_http();
    let sizes = [10, 200, 3000];
    let clients: Vec<TcpStream> = sizes.iter().map(|&n| echoed(echo, n)).collect();
    // A kept-alive HTTP connection: one request answered, then it asks for the table.
    let mut keep = Client::open(http);
    let plain = keep.get("/plain");
    assert_eq!(
        (plain.status, plain.body.as_slice()),
        (200, &b"Hello, World!"[..])
    );
    let (sent_before, received_before) = (keep.sent, keep.received);
    let answer = keep.get("/connections");
    assert_eq!(answer.status, 200);
    let doc = json(&answer);
    assert_eq!(
        (&doc["worker"], &doc["workers"]),
        (&Value::from(0), &Value::from(1))
    );
    assert_eq!(
        (&doc["total"], &doc["matched"]),
        (&Value::from(4), &Value::from(4))
    );
    assert_eq!(
        (&doc["shown"], &doc["more"]),
        (&Value::from(4), &Value::from(0))
    );

    for (client, &n) in clients.iter().zip(&sizes) {
        let row = row_of(&doc, client.local_addr().unwrap());
        assert_eq!(row["service"], "echo", "{row}");
        assert_eq!(row["local"], echo.to_string(), "{row}");
        assert_eq!(row["state"], "open", "{row}");
        assert_eq!(
            (&row["read"], &row["write"]),
            (&"waiting".into(), &"ready".into()),
            "{row}"
        );
        assert_eq!(
            (&row["read_paused"], &row["held_back"]),
            (&false.into(), &false.into())
        );
        assert_eq!(
            (&row["bytes_in"], &row["bytes_out"]),
            (&n.into(), &n.into()),
            "{row}"
        );
        assert_eq!(row["pending_out"], 0, "{row}");
        assert!(row["fd"].as_u64().unwrap() > 2, "{row}");
        assert!(row["so_sndbuf"].as_u64().unwrap() > 0, "{row}");
        assert!(row["so_rcvbuf"].as_u64().unwrap() > 0, "{row}");
        assert!(row["age_ms"].is_u64() && row["idle_ms"].is_u64(), "{row}");
        let tcp = &row["tcp_info"];
        assert_eq!(tcp["state"], 1, "TCP_ESTABLISHED: {row}");
        assert!(tcp["snd_cwnd"].as_u64().unwrap() > 0, "{row}");
        assert!(tcp["snd_mss"].as_u64().unwrap() > 0, "{row}");
        for field in [
            "rtt_us",
            "rttvar_us",
            "retransmits",
            "unacked",
            "total_retrans",
        ] {
            assert!(tcp[field].is_u64(), "{field}: {row}");
        }
    }
    // The asking connection sees itself: both its requests read, the first answer written,
    // and nothing pending (its own answer is written after the table is made).
    let me = row_of(&doc, keep.local());
    assert_eq!(me["service"], "http");
    assert_eq!(me["local"], http.to_string());
    assert_eq!(me["bytes_in"], keep.sent, "{me}");
    assert_eq!(me["bytes_out"], received_before, "{me}");
    assert_eq!(me["pending_out"], 0, "{me}");
    assert!(keep.sent > sent_before);
}

#[test]
fn the_service_filter_and_the_limit() {
    let (_server, echo, http) = echo_and_http();
    let _clients: Vec<TcpStream> = (1..=3).map(|n| echoed(echo, n)).collect();
    // One asking connection throughout: a closed one could linger in the table for a moment.
    let mut c = Client::open(http);
    let doc = json(&c.get("/connections?service=echo"));
    assert_eq!(
        (&doc["matched"], &doc["total"]),
        (&Value::from(3), &Value::from(4))
    );
    let rows = doc["connections"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["service"] == "echo"), "{doc:#}");

    let doc = json(&c.get("/connections?service=http"));
    assert_eq!(doc["matched"], 1, "only the asking connection: {doc:#}");
    let doc = json(&c.get("/connections?service=nosuch"));
    assert_eq!(
        (&doc["matched"], &doc["shown"]),
        (&Value::from(0), &Value::from(0))
    );

    let doc = json(&c.get("/connections?limit=2"));
    assert_eq!(doc["connections"].as_array().unwrap().len(), 2);
    assert_eq!(
        (&doc["shown"], &doc["more"]),
        (&Value::from(2), &Value::from(2))
    );
    let doc = json(&c.get("/connections?service=echo&limit=2"));
    assert_eq!(
        (&doc["shown"], &doc["more"]),
        (&Value::from(2), &Value::from(1))
    );
    let doc = json(&c.get("/connections?limit=1000"));
    assert_eq!(
        (&doc["shown"], &doc["more"]),
        (&Value::from(4), &Value::from(0))
    );

    for bad in [
        "limit=0",
        "limit=1001",
        "limit=many",
        "service=a-name-too-long-for-any",
    ] {
        let answer = c.get(&format!("/connections?{bad}"));
        assert_eq!(answer.status, 400, "{bad}");
    }
    // HEAD: the same head, no body.
    c.send("HEAD /connections HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = c.answer(true);
    assert_eq!(head.status, 200);
    assert!(
        c.get("/plain").body == b"Hello, World!",
        "the connection goes on"
    );
}

#[test]
fn requests_pipelined_behind_it_are_answered_in_order() {
    let (_server, _echo, http) = echo_and_http();
    let mut c = Client::open(http);
    c.send(concat!(
        "GET /connections HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /connections?limit=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /plain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ));
    let first = json(&c.answer(false));
    assert_eq!(first["matched"], 1);
    assert_eq!(c.answer(false).body, b"Hello, World!");
    let third = json(&c.answer(false));
    assert_eq!(third["shown"], 1);
    // By the third request the connection had answered the first two.
    assert!(third["connections"][0]["bytes_out"].as_u64().unwrap() > 0);
    assert_eq!(c.answer(false).body, b"Hello, World!");
    let mut rest = Vec::new();
    c.reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "closed after the last answer");
}

#[test]
fn with_credentials_configured_only_their_holder_sees_it() {
    let server = Server::start(
        &[
            "--echo",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--auth",
            "user:secret",
        ],
        2,
    );
    let http = server.tcp("http");
    let mut c = Client::open(http);
    c.send("GET /connections HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let refused = c.answer(false);
    assert_eq!(refused.status, 401);
    assert!(!String::from_utf8_lossy(&refused.body).contains("peer"));
    c.send("GET /connections HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic dXNlcjp3cm9uZw==\r\n\r\n");
    assert_eq!(c.answer(false).status, 401, "user:wrong");
    c.send("GET /connections HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic dXNlcjpzZWNyZXQ=\r\n\r\n");
    let allowed = c.answer(false);
    assert_eq!(allowed.status, 200);
    assert_eq!(json(&allowed)["matched"], 1);
}

#[test]
fn with_workers_the_answer_says_which_worker_it_is() {
    let server = Server::start(&["--http", "127.0.0.1:0", "--workers", "2"], 1);
    let doc = json(&get(server.tcp("http"), "/connections"));
    assert_eq!(doc["workers"], 2);
    let worker = doc["worker"].as_u64().unwrap();
    assert!(worker < 2, "{doc:#}");
    // Each worker sees its own connections only: here, at least the asking one.
    assert!(doc["matched"].as_u64().unwrap() >= 1, "{doc:#}");
}

#[test]
fn over_tls_the_inner_session_gets_its_table_and_the_bytes_are_the_encrypted_ones() {
    use util::tls::{TlsServer, client_config, handshake, read_to_close};
    let s = TlsServer::self_signed(&["--https", "127.0.0.1:0"], 1);
    let config = client_config(&s.cert());
    let mut c = handshake(s.tcp("https"), &config, "localhost");
    let me = c.sock.local_addr().unwrap();
    let request = b"GET /connections HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    c.write_all(request).unwrap();
    let answer = read_to_close(&mut c);
    let answer = read_response(&mut &answer[..], false).expect("a response");
    assert_eq!(answer.status, 200, "{answer:?}");
    let doc = json(&answer);
    let row = row_of(&doc, me);
    assert_eq!(row["service"], "https");
    // The handshake and the request, encrypted: more than the request's plain bytes.
    assert!(
        row["bytes_in"].as_u64().unwrap() > request.len() as u64,
        "{row}"
    );
    assert_eq!(row["tcp_info"]["state"], 1, "{row}");
}
