//! The chat room over real sockets: relaying, notices, and a slow consumer cut off.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use util::Server;

struct Client {
    stream: TcpStream,
    lines: BufReader<TcpStream>,
}

impl Client {
    fn join(server: &Server) -> Client {
        let stream = TcpStream::connect(server.tcp("chat")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let lines = BufReader::new(stream.try_clone().unwrap());
        Client { stream, lines }
    }

    fn addr(&self) -> String {
        self.stream.local_addr().unwrap().to_string()
    }

    fn say(&mut self, line: &str) {
        self.stream.write_all(line.as_bytes()).unwrap();
        self.stream.write_all(b"\n").unwrap();
    }

    fn next(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("read line");
        line
    }
}

#[test]
fn three_clients_hear_each_other_in_order_with_notices() {
    let server = Server::start(&["--chat", "127.0.0.1:0", "--chat-show-addresses"], 1);
    let mut a = Client::join(&server);
    let mut b = Client::join(&server);
    assert_eq!(a.next(), format!("* {} joined\n", b.addr()));
    let mut c = Client::join(&server);
    assert_eq!(a.next(), format!("* {} joined\n", c.addr()));
    assert_eq!(b.next(), format!("* {} joined\n", c.addr()));

    for i in 0..20 {
        a.say(&format!("a{i}"));
    }
    // One sender's lines arrive in the order sent; lines of different senders have no
    // defined order, so b speaks only after it has heard all of a's.
    for client in [&mut b, &mut c] {
        for i in 0..20 {
            assert_eq!(client.next(), format!("{}: a{i}\n", a.addr()));
        }
    }
    b.say("from b");
    assert_eq!(a.next(), format!("{}: from b\n", b.addr()));
    assert_eq!(c.next(), format!("{}: from b\n", b.addr()));

    let gone = c.addr();
    drop(c);
    assert_eq!(a.next(), format!("* {gone} left\n"));
    assert_eq!(b.next(), format!("* {gone} left\n"));
}

/// Anyone may join, the operator's dashboard too: by default members are `guest-N`, and
/// nobody learns where the others connect from.
#[test]
fn members_are_named_without_their_addresses_by_default() {
    let server = Server::start(&["--chat", "127.0.0.1:0"], 1);
    let mut a = Client::join(&server);
    let mut b = Client::join(&server);
    let joined = a.next();
    assert!(
        joined.starts_with("* guest-") && joined.ends_with(" joined\n"),
        "{joined}"
    );
    assert!(
        !joined.contains("127.0.0.1") && !joined.contains(&b.addr()),
        "{joined}"
    );
    let name = &joined["* ".len()..joined.len() - " joined\n".len()];
    b.say("hello");
    assert_eq!(a.next(), format!("{name}: hello\n"));
}

#[test]
fn a_slow_consumer_is_cut_off_and_never_slows_the_room() {
    let server = Server::start(&["--chat", "127.0.0.1:0", "--max-output", "64KiB"], 1);
    // A small receive window so the slow client's kernel buffer cannot hide the backlog.
    let slow_sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    slow_sock.set_recv_buffer_size(4096).unwrap();
    slow_sock.connect(&server.tcp("chat").into()).unwrap();
    let mut slow: TcpStream = slow_sock.into();

    let mut reader = Client::join(&server);
    let mut writer = Client::join(&server);
    assert!(reader.next().contains("joined"));
    let lines = 4000;
    let body = "x".repeat(1000);
    let w = thread::spawn(move || {
        for i in 0..lines {
            writer.say(&format!("{i} {body}"));
        }
        writer
    });
    let mut i = 0;
    while i < lines {
        let line = reader.next();
        if line.starts_with("* ") {
            continue; // the slow client's leave notice
        }
        assert!(line.contains(&format!(": {i} x")), "line {i}: {line:.40}");
        i += 1;
    }
    let _writer = w.join().unwrap();
    assert!(
        server
            .wait_log("slow consumer disconnected", Duration::from_secs(10))
            .is_some(),
        "the slow consumer was never cut off"
    );
    // The slow client sees the end of its stream rather than hanging.
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sink = Vec::new();
    let ended = slow.read_to_end(&mut sink);
    assert!(ended.is_ok() || ended.is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock));
    assert!(
        sink.len() < lines * 1000,
        "it did not get the whole backlog"
    );
}

#[test]
fn a_room_of_three_hundred_hears_a_speaker_and_every_departure_at_once() {
    let server = Server::start(&["--chat", "127.0.0.1:0", "--chat-show-addresses"], 1);
    let mut stay = Client::join(&server);
    let members: Vec<Client> = (0..300).map(|_| Client::join(&server)).collect();
    let addrs: Vec<String> = members.iter().map(Client::addr).collect();
    for addr in &addrs {
        assert_eq!(stay.next(), format!("* {addr} joined\n"));
    }
    // A speaker to a large room reads in small pieces and yields after each fan-out: every
    // line still arrives whole and in order.
    let mut speaker = Client::join(&server);
    assert_eq!(stay.next(), format!("* {} joined\n", speaker.addr()));
    let text: String = (0..2000)
        .map(|i| format!("line {i} {}\n", "x".repeat(i % 97)))
        .collect();
    speaker.stream.write_all(text.as_bytes()).unwrap();
    for i in 0..2000 {
        assert_eq!(
            stay.next(),
            format!("{}: line {i} {}\n", speaker.addr(), "x".repeat(i % 97))
        );
    }
    // Everyone leaves at once: the notices of a turn reach each remaining member together,
    // and every departure is told, each notice a whole line.
    drop(members);
    let mut left: Vec<String> = (0..300).map(|_| stay.next()).collect();
    left.sort();
    let mut want: Vec<String> = addrs.iter().map(|a| format!("* {a} left\n")).collect();
    want.sort();
    assert_eq!(left, want);
    speaker.say("still here");
    assert_eq!(stay.next(), format!("{}: still here\n", speaker.addr()));
}

#[test]
fn with_several_workers_the_room_is_one() {
    let server = Server::start(
        &[
            "--chat",
            "127.0.0.1:0",
            "--workers",
            "3",
            "--chat-show-addresses",
        ],
        1,
    );
    let mut first = Client::join(&server);
    // Twelve more: the kernel spreads them over the workers (all on one: odds of 1 in 177,000).
    let mut others: Vec<Client> = (0..12).map(|_| Client::join(&server)).collect();
    let mut joined: Vec<String> = (0..12).map(|_| first.next()).collect();
    joined.sort();
    let mut want: Vec<String> = others
        .iter()
        .map(|c| format!("* {} joined\n", c.addr()))
        .collect();
    want.sort();
    assert_eq!(joined, want, "every arrival is announced on every worker");
    // Every member is open on its worker now: a line reaches all of them.
    first.say("hello, every worker");
    let line = format!("{}: hello, every worker\n", first.addr());
    for (i, other) in others.iter_mut().enumerate() {
        // Arrivals after its own come first, in no fixed order across workers.
        let heard = (0..13)
            .map(|_| other.next())
            .find(|l| !l.ends_with(" joined\n"));
        assert_eq!(heard.as_deref(), Some(line.as_str()), "member {i}");
    }
    let addr = first.addr();
    drop(first);
    for other in &mut others {
        assert_eq!(other.next(), format!("* {addr} left\n"));
    }
}
