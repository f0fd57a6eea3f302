//! WebSocket (RFC 6455) over real sockets, with a client written here from the RFC (it shares
//! no code with the server's codec), and once more with Python's `websockets` library as an
//! independent implementation (tests/ws/interop.py).

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use util::Server;

/// RFC 6455 §1.3's example key and the answer it must get.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const MASK: [u8; 4] = [0xa1, 0x5b, 0x07, 0xe4];

fn start() -> Server {
    start_pinging("30s")
}

/// A server whose WebSocket sessions ping a peer silent for `interval`.
fn start_pinging(interval: &str) -> Server {
    Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--chat",
            "127.0.0.1:0",
            "--ws-max-message",
            "1000",
            "--ws-ping-interval",
            interval,
            "--ws-allow-origin",
            "http://app.example",
            "--access-log",
            "false",
            "--chat-show-addresses",
        ],
        2,
    )
}

/// A frame as a client sends it: FIN, opcode, masked with [`MASK`].
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

struct Client {
    stream: BufReader<TcpStream>,
}

/// A server frame: (fin, opcode, payload).
type Frame = (bool, u8, Vec<u8>);

impl Client {
    /// Sends a handshake with `extra` header lines; returns the client and the response head.
    fn handshake(addr: SocketAddr, path: &str, extra: &str) -> (Client, String) {
        Client::handshake_then(addr, path, extra, &[])
    }

    /// Like [`Client::handshake`], with `first` sent in the same write as the request.
    fn handshake_then(addr: SocketAddr, path: &str, extra: &str, first: &[u8]) -> (Client, String) {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
        )
        .into_bytes();
        request.extend_from_slice(first);
        (&stream).write_all(&request).unwrap();
        let mut client = Client {
            stream: BufReader::new(stream),
        };
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if client.stream.read_line(&mut line).unwrap() == 0 {
                break;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        (client, head)
    }

    fn open(addr: SocketAddr, path: &str) -> Client {
        let (client, head) = Client::handshake(addr, path, "Sec-WebSocket-Version: 13\r\n");
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        client
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).unwrap();
    }

    fn recv(&mut self) -> Frame {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).unwrap();
        assert_eq!(head[1] & 0x80, 0, "server frames are never masked");
        let len = match head[1] & 0x7F {
            126 => {
                let mut b = [0; 2];
                self.stream.read_exact(&mut b).unwrap();
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0; 8];
                self.stream.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0; len as usize];
        self.stream.read_exact(&mut payload).unwrap();
        (head[0] & 0x80 != 0, head[0] & 0x0F, payload)
    }

    /// Expects a close frame with `code`, then the end of the stream.
    fn expect_close(&mut self, code: u16) {
        let (fin, opcode, payload) = self.recv();
        assert_eq!((fin, opcode), (true, 8), "expected a close frame");
        assert_eq!(
            payload.get(..2),
            Some(&code.to_be_bytes()[..]),
            "close code"
        );
        let mut rest = Vec::new();
        // The server closes after its close frame (it may linger, reading, before the FIN).
        self.stream
            .get_mut()
            .shutdown(std::net::Shutdown::Write)
            .ok();
        self.stream.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "nothing after the close frame: {rest:?}");
    }
}

#[test]
fn the_handshake_answers_with_the_accept_key() {
    let server = start();
    let (mut client, head) = Client::handshake(
        server.tcp("http"),
        "/ws/echo",
        "Sec-WebSocket-Version: 13\r\n",
    );
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n")),
        "{head}"
    );
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket\r\n"));
    client.send(&frame(true, 1, b"hi"));
    assert_eq!(client.recv(), (true, 1, b"hi".to_vec()));
}

#[test]
fn a_frame_sent_with_the_handshake_is_not_lost() {
    let server = start();
    let (mut client, head) = Client::handshake_then(
        server.tcp("http"),
        "/ws/echo",
        "Sec-WebSocket-Version: 13\r\n",
        &frame(true, 2, &[1, 2, 3]),
    );
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(client.recv(), (true, 2, vec![1, 2, 3]));
}

#[test]
fn refused_handshakes_get_their_status() {
    let server = start();
    let http = server.tcp("http");
    let (_, head) = Client::handshake(http, "/ws/echo", "Sec-WebSocket-Version: 8\r\n");
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
    let (_, head) = Client::handshake(http, "/ws/echo", "");
    assert!(head.starts_with("HTTP/1.1 426 "), "no version: {head}");
    let evil = "Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n";
    let (_, head) = Client::handshake(http, "/ws/chat", evil);
    assert!(head.starts_with("HTTP/1.1 403 "), "{head}");
    let listed = "Sec-WebSocket-Version: 13\r\nOrigin: http://app.example\r\n";
    let (_, head) = Client::handshake(http, "/ws/chat", listed);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let same = format!("Sec-WebSocket-Version: 13\r\nOrigin: http://{http}\r\n");
    let (_, head) = Client::handshake(http, "/ws/echo", &same);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    // A plain GET on a WebSocket resource.
    let mut plain = TcpStream::connect(http).unwrap();
    plain
        .write_all(b"GET /ws/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    plain.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 426 "), "{answer}");
    assert!(answer.contains("Upgrade: websocket\r\n"), "{answer}");
}

#[test]
fn an_unmasked_frame_is_a_protocol_error() {
    let server = start();
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    client.send(&[0x81, 0x02, b'h', b'i']);
    client.expect_close(1002);
}

#[test]
fn reserved_bits_and_unknown_opcodes_are_protocol_errors() {
    let server = start();
    for first_byte in [0x81 | 0x40, 0x83, 0x8B] {
        let mut client = Client::open(server.tcp("http"), "/ws/echo");
        let mut f = frame(true, 1, b"x");
        f[0] = first_byte;
        client.send(&f);
        client.expect_close(1002);
    }
}

#[test]
fn control_frames_are_short_and_whole() {
    let server = start();
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    client.send(&frame(true, 9, &[b'p'; 126]));
    client.expect_close(1002);
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    client.send(&frame(false, 9, b"p"));
    client.expect_close(1002);
}

#[test]
fn fragments_are_joined_around_a_ping() {
    let server = start();
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    // "é" (C3 A9) cut between two fragments is still valid UTF-8 across them.
    client.send(&frame(false, 1, b"H\xc3"));
    client.send(&frame(true, 9, b"ping!"));
    client.send(&frame(false, 0, b"\xa9l"));
    client.send(&frame(true, 0, b"lo"));
    assert_eq!(client.recv(), (true, 10, b"ping!".to_vec()), "pong first");
    assert_eq!(client.recv(), (true, 1, "Héllo".as_bytes().to_vec()));
}

#[test]
fn invalid_utf8_across_fragments_is_1007() {
    let server = start();
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    client.send(&frame(false, 1, b"ok\xc3"));
    client.send(&frame(true, 0, b"\x28"));
    client.expect_close(1007);
}

#[test]
fn a_message_over_the_limit_is_1009() {
    let server = start();
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    client.send(&frame(true, 2, &[7; 1000]));
    assert_eq!(client.recv().2.len(), 1000, "exactly the limit passes");
    client.send(&frame(false, 2, &[7; 600]));
    client.send(&frame(true, 0, &[7; 401]));
    client.expect_close(1009);
}

#[test]
fn the_close_handshake_echoes_the_code() {
    let server = start();
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    let mut payload = 4001u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    client.send(&frame(true, 8, &payload));
    client.expect_close(4001);
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    client.send(&frame(true, 8, &1005u16.to_be_bytes()));
    client.expect_close(1002);
}

/// A peer the reactor gives up on (too slow while sending a message, or idle past
/// `--idle-timeout`) is told so with a close frame 1008 before the connection closes
/// (RFC 6455 §7.1.7), not dropped silently.
#[test]
fn a_stalled_peer_gets_a_close_1008_before_the_socket_closes() {
    // Half a message, then nothing: below --min-rate over one --rate-window.
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--min-rate",
            "100000",
            "--rate-window",
            "1s",
        ],
        1,
    );
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    let message = frame(true, 1, &[b'x'; 1000]);
    client.send(&message[..500]);
    client.expect_close(1008);

    // Idle past --idle-timeout, sooner than the session's own ping.
    let server = Server::start(&["--http", "127.0.0.1:0", "--idle-timeout", "1s"], 1);
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    client.expect_close(1008);
}

#[test]
fn a_silent_peer_is_pinged_then_closed_with_1001() {
    let server = start_pinging("300ms");
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    let (fin, opcode, _) = client.recv();
    assert_eq!((fin, opcode), (true, 9), "a ping after --ws-ping-interval");
    client.expect_close(1001);
    // A peer that answers stays.
    let mut client = Client::open(server.tcp("http"), "/ws/echo");
    for _ in 0..3 {
        let (_, opcode, payload) = client.recv();
        assert_eq!(opcode, 9);
        client.send(&frame(true, 10, &payload));
    }
    client.send(&frame(true, 1, b"still here"));
    assert_eq!(client.recv(), (true, 1, b"still here".to_vec()));
}

#[test]
fn the_chat_room_spans_tcp_and_websocket() {
    let server = start();
    let tcp = TcpStream::connect(server.tcp("chat")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut lines = BufReader::new(tcp.try_clone().unwrap());
    let mut ws = Client::open(server.tcp("http"), "/ws/chat");
    let ws_addr = ws.stream.get_ref().local_addr().unwrap();
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    assert_eq!(line, format!("* {ws_addr} joined\n"));
    ws.send(&frame(true, 1, "héllo \x1b[2J".as_bytes()));
    line.clear();
    lines.read_line(&mut line).unwrap();
    assert_eq!(line, format!("{ws_addr}: héllo ?[2J\n"));
    (&tcp).write_all(b"from nc\n").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    assert_eq!(
        ws.recv(),
        (true, 1, format!("{tcp_addr}: from nc").into_bytes())
    );
    ws.send(&frame(true, 2, b"bin"));
    ws.expect_close(1003);
    line.clear();
    lines.read_line(&mut line).unwrap();
    assert_eq!(line, format!("* {ws_addr} left\n"));
}

#[test]
fn no_dashboard_means_no_websocket() {
    let server = Server::start(&["--http", "127.0.0.1:0", "--dashboard", "false"], 1);
    let (_, head) = Client::handshake(
        server.tcp("http"),
        "/ws/echo",
        "Sec-WebSocket-Version: 13\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
}

/// Python's `websockets` (an independent implementation) against /ws/echo and /ws/chat.
#[test]
fn python_websockets_interoperates() {
    let server = start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws/interop.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(server.tcp("http").to_string())
        .arg(server.tcp("chat").to_string())
        .output()
        .expect("run python3: install Python 3 (CI: see .ci/run)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/ws/interop.py failed (needs `pip install websockets`):\n{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("interop ok"));
}

#[test]
fn every_chat_listener_shares_the_room_and_echo_sessions_hear_nothing() {
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--chat",
            "127.0.0.1:0",
            "--chat",
            "127.0.0.1:0",
        ],
        3,
    );
    let chats: Vec<SocketAddr> = server
        .listening()
        .iter()
        .filter(|(name, _, _)| name == "chat")
        .map(|(_, _, addr)| *addr)
        .collect();
    assert_eq!(chats.len(), 2);
    let mut echo = Client::open(server.tcp("http"), "/ws/echo");
    let a = TcpStream::connect(chats[0]).unwrap();
    a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut a_lines = BufReader::new(a.try_clone().unwrap());
    let b = TcpStream::connect(chats[1]).unwrap();
    let mut line = String::new();
    a_lines.read_line(&mut line).unwrap();
    assert!(line.ends_with(" joined\n"), "{line}");
    (&b).write_all(b"across listeners\n").unwrap();
    line.clear();
    a_lines.read_line(&mut line).unwrap();
    assert!(line.ends_with(": across listeners\n"), "{line}");
    // The echo session is on the HTTP listener, in no room: the next thing it gets is its own
    // echo, not a chat line.
    echo.send(&frame(true, 1, b"mine"));
    assert_eq!(echo.recv(), (true, 1, b"mine".to_vec()));
}

#[test]
fn a_websocket_that_stops_reading_is_cut_off_not_waited_for() {
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--chat",
            "127.0.0.1:0",
            "--max-output",
            "64KiB",
            "--send-buffer",
            "8192",
        ],
        2,
    );
    let slow = Client::open(server.tcp("http"), "/ws/chat");
    let fast = TcpStream::connect(server.tcp("chat")).unwrap();
    fast.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let line = format!("{}\n", "x".repeat(1000));
    // At most ~4 MB: far beyond what the slow client's buffers and --max-output can hold.
    for _ in 0..4000 {
        if (&fast).write_all(line.as_bytes()).is_err() {
            break;
        }
        if server
            .wait_log("slow consumer disconnected", Duration::ZERO)
            .is_some()
        {
            drop(slow);
            return;
        }
    }
    assert!(
        server
            .wait_log("slow consumer disconnected", Duration::from_secs(10))
            .is_some(),
        "the WebSocket that never read was not cut off"
    );
    drop(slow);
}

#[test]
fn evserve_load_ws_benchmarks_the_echo() {
    let server = start();
    let http = server.tcp("http").to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args([
            "load", "ws", &http, "-c", "4", "-n", "2000", "--size", "300",
        ])
        .args(["-d", "60s", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["requests"], 2000, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    let stats = util::http::stats(server.tcp("http"));
    assert!(stats["ws_messages_in"].as_u64() >= Some(2000), "{stats}");
}

#[test]
fn an_upgraded_connection_counts_as_ws_not_as_http() {
    let server = start();
    let http = server.tcp("http");
    let mut ws = Client::open(http, "/ws/echo");
    ws.send(&frame(true, 1, b"hi"));
    assert_eq!(ws.recv(), (true, 1, b"hi".to_vec()), "upgraded and served");
    let stats = util::http::stats(http);
    assert_eq!(stats["active_ws"], 1, "{stats}");
    assert_eq!(stats["active_http"], 1, "the /stats request's own: {stats}");
    assert_eq!(stats["ws_open"], 1, "{stats}");
    drop(ws);
    // The close reaches the server when it does: wait for the gauge, not for a time.
    let mut left = serde_json::Value::Null;
    for _ in 0..400 {
        left = util::http::stats(http);
        if left["active_ws"] == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(left["active_ws"], 0, "{left}");
    assert_eq!(left["active_http"], 1, "{left}");
}

/// A graceful stop says goodbye in each protocol's own words: a WebSocket close frame with
/// 1001 ("going away", RFC 6455 §7.4.1), a notice line in the chat room, then the end.
#[test]
fn a_stopping_server_says_going_away() {
    let mut server = start();
    let mut ws = Client::open(server.tcp("http"), "/ws/chat");
    let tcp = TcpStream::connect(server.tcp("chat")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    // The join notice says the chat connection was accepted and its session is open.
    assert_eq!(
        ws.recv(),
        (true, 1, format!("* {tcp_addr} joined").into_bytes())
    );
    server.terminate();
    // Room notices may come first; then the close frame.
    loop {
        let (_, opcode, payload) = ws.recv();
        if opcode == 8 {
            assert_eq!(payload.get(..2), Some(&1001u16.to_be_bytes()[..]));
            break;
        }
        assert_eq!(opcode, 1, "only room notices before the close");
    }
    let mut rest = String::new();
    BufReader::new(tcp).read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "* server shutting down\n");
    let status = server.wait_exit(Duration::from_secs(30)).expect("exit");
    assert!(status.success());
}

/// Issue 24: the message a WebSocket session assembles is the server's memory too. 48 peers
/// each send a non-final fragment of 1 MiB - 1 bytes (a finished frame: the minimum rate does
/// not apply, and the message is not over its limit) and stop. Under `--max-memory 8MiB` the
/// server holds at most the budget plus one read (64 KiB) per connection taken as it was
/// crossed (the rest waits in the kernel's socket buffers), still answers others, and closes
/// every unfinished message at `--ws-message-timeout` with 1008.
#[test]
fn unfinished_messages_stay_within_the_memory_budget_and_time_out() {
    const CLIENTS: usize = 48;
    const BUDGET: u64 = 8 << 20;
    const READ: u64 = 64 << 10;
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--max-memory",
            "8MiB",
            "--ws-message-timeout",
            "6s",
            "--access-log",
            "false",
        ],
        1,
    );
    let http = server.tcp("http");
    let rss_before = util::rss_bytes(server.pid());
    let fragment = frame(false, 2, &vec![7u8; (1 << 20) - 1]);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let fragment = fragment.clone();
            std::thread::spawn(move || {
                let mut client = Client::open(http, "/ws/echo");
                let stream = client.stream.get_mut();
                stream
                    .set_write_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                // The server stops reading a connection held back by the budget: what it
                // does not take waits in the socket buffers, or the write times out.
                let mut sent = 0;
                while sent < fragment.len() {
                    match stream.write(&fragment[sent..(sent + 65536).min(fragment.len())]) {
                        Ok(n) => sent += n,
                        Err(_) => break,
                    }
                }
                client
            })
        })
        .collect();
    let mut clients: Vec<Client> = clients.into_iter().map(|t| t.join().unwrap()).collect();

    // The server reaches its budget, and holds there while the messages are unfinished.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    let bound = BUDGET + CLIENTS as u64 * READ;
    let held = |s: &serde_json::Value| {
        ["buffered_in", "buffered_out", "session_buffered"]
            .iter()
            .map(|k| s[k].as_u64().unwrap())
            .sum::<u64>()
    };
    let full = loop {
        let s = util::http::stats(http);
        assert!(held(&s) <= bound, "held {} > {bound}: {s}", held(&s));
        if s["memory_waits"].as_u64() > Some(0) && s["session_buffered"].as_u64() > Some(BUDGET / 2)
        {
            break s;
        }
        assert!(
            std::time::Instant::now() < until,
            "the budget was never reached: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let rss = util::rss_bytes(server.pid()).saturating_sub(rss_before);
    assert!(
        rss <= bound + (8 << 20),
        "resident memory grew by {rss} bytes (bound {bound} plus 8 MiB of slack): {full}"
    );
    // Someone else is still answered.
    assert_eq!(util::http::get(http, "/plain").status, 200);

    // The unfinished messages end at their deadline, whatever the budget held back.
    for client in &mut clients {
        client
            .stream
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        client.expect_close(1008);
    }
    let s = util::http::stats(http);
    assert_eq!(
        s["ws_message_timeouts"].as_u64(),
        Some(CLIENTS as u64),
        "{s}"
    );
    assert_eq!(
        s["session_buffered"].as_u64(),
        Some(0),
        "released once the close frame is sent: {s}"
    );
}
