//! Every lesson runs against a real server and reports the facts it teaches.
//!
//! The tests check the facts (byte counts, numbers of reads, counters, option values read
//! back), never how long anything took; each demo waits for its facts with a deadline of its
//! own. `tests/demo.rs` runs the binary, as a student would.

use super::{broadcast, eof, http, partial, sockopt, sticky, udp};

fn texts(messages: &[String]) -> Vec<&str> {
    messages.iter().map(String::as_str).collect()
}

#[test]
fn sticky_messages_glue_without_framing_and_come_apart_with_it() {
    let r = sticky::run().expect("sticky demo");
    // Two writes read late are one read: the boundary is gone.
    assert_eq!(r.unframed.writes.len(), 2);
    assert_eq!(r.unframed.reads, vec![10]);
    assert_eq!(texts(&r.unframed.messages), ["helloworld"]);
    // Length header and delimiter: still one read, but two messages decoded from it.
    assert_eq!(r.length.reads, vec![18]);
    assert_eq!(texts(&r.length.messages), ["hello", "world"]);
    assert_eq!(r.delimiter.reads, vec![12]);
    assert_eq!(texts(&r.delimiter.messages), ["hello", "world"]);
    // Sleeping between sends: all bytes arrive in order, in one or two reads (depends on the
    // scheduler, which is the point of the lesson); with a late reader always one.
    let eager = &r.sleep_eager_reader;
    assert!((1..=2).contains(&eager.reads.len()), "{:?}", eager.reads);
    assert_eq!(eager.reads.iter().sum::<usize>(), 10);
    assert_eq!(eager.messages.concat(), "helloworld");
    assert_eq!(r.sleep_late_reader.reads, vec![10]);
    assert_eq!(texts(&r.sleep_late_reader.messages), ["helloworld"]);

    let text = r.to_string();
    assert!(text.contains("received 1 read(s) of 10 bytes"), "{text}");
    assert!(text.contains("messages 2: \"hello\", \"world\""), "{text}");
}

#[test]
fn partial_writes_and_reads_are_counted() {
    let r = partial::run().expect("partial demo");
    assert!(r.client_sndbuf >= partial::SOCKET_BUFFER, "{r:?}");
    assert!(
        r.first_write > 0 && r.first_write < partial::REQUEST,
        "the first write should take part of the request: {r:?}"
    );
    assert!(r.taken_before_full >= r.first_write && r.taken_before_full < partial::REQUEST);
    assert!(r.write_calls >= 1);
    // The server stopped reading because its pending echo passed max_output.
    assert!(r.server_buffered_out > partial::MAX_OUTPUT as u64, "{r:?}");
    assert!(r.server_bytes_out < r.server_bytes_in, "{r:?}");
    assert!(r.server_bytes_in <= r.taken_before_full as u64, "{r:?}");
    // Nothing was lost: once the client read, write_all sent the rest and all came back.
    assert_eq!(r.echoed, partial::REQUEST);
    assert!(r.echo_intact);
    // "hello world" through a 4-byte buffer, and a frame in two parts answered once.
    assert_eq!(r.small_reads, vec![4, 4, 3]);
    assert_eq!(r.framed_in_after_part, partial::FIRST_PART as u64);
    assert_eq!(r.framed_frames_back, 1);
    assert_eq!(r.framed_bytes_out, 4 + partial::MESSAGE.len() as u64);

    let text = r.to_string();
    assert!(text.contains("reads of 4 + 4 + 3 bytes"), "{text}");
    assert!(
        text.contains(&format!("buffered_out={}", r.server_buffered_out)),
        "{text}"
    );
}

#[test]
fn eof_is_a_read_of_zero_and_a_half_closed_client_gets_its_echo() {
    let r = eof::run().expect("eof demo");
    assert_eq!(r.reads_after_shutdown, vec![eof::BYE.len(), 0]);
    assert_eq!(r.server_closed, 1);
    assert_eq!(r.half_closed_sent, eof::HALF_CLOSED_SEND);
    assert_eq!(r.half_closed_received, eof::HALF_CLOSED_SEND);
    assert!(r.ended_with_zero);
    assert!(r.half_closed_reads >= 2);
    assert!(r.to_string().contains("Its reads return: 3, then 0."));
}

#[test]
fn udp_keeps_boundaries_and_counts_truncated_datagrams() {
    let r = udp::run().expect("udp demo");
    let payloads: Vec<&[u8]> = r.boundaries.iter().map(|(p, _)| p.as_slice()).collect();
    assert_eq!(payloads, [&b"one"[..], b"two", b"three"]);
    assert!(r.boundaries.iter().all(|(_, from)| *from == r.server));
    assert_eq!(r.cut, &udp::LONG.as_bytes()[..udp::SMALL_BUFFER]);
    assert_eq!(r.after_cut, b"ping");
    assert_eq!(r.truncated, 1);
    assert_eq!(r.after_oversized, b"ping");
    // Three, the long one and two pings in and out; the oversized one only counted.
    assert_eq!((r.datagrams_in, r.datagrams_out), (6, 6));
    assert_eq!(r.accepted, 0);
    assert!(r.to_string().contains("datagrams_truncated=1"));
}

#[test]
fn socket_options_are_read_back_from_the_kernel() {
    let r = sockopt::run().expect("sockopt demo");
    assert!(
        r.fd > 2,
        "0, 1 and 2 are stdin, stdout and stderr: {}",
        r.fd
    );
    assert_eq!(r.tcp_type, "SOCK_STREAM");
    assert_eq!(r.udp_type, "SOCK_DGRAM");
    assert_eq!(r.peer, r.server);
    assert!(r.local.ip().is_loopback() && r.local.port() != 0);
    assert_eq!(
        (r.reuse_address.before, r.reuse_address.after),
        (false, true)
    );
    assert_eq!((r.nodelay.before, r.nodelay.after), (false, true));
    // Linux doubles SO_RCVBUF, after capping the request at net.core.rmem_max.
    let max = r
        .rmem_max
        .expect("/proc/sys/net/core/rmem_max is readable on Linux");
    assert_eq!(r.recv_buffer.after, 2 * sockopt::ASKED_RCVBUF.min(max));
    let text = r.to_string();
    assert!(
        text.contains(&format!(
            "set {} -> {}",
            sockopt::ASKED_RCVBUF,
            r.recv_buffer.after
        )),
        "{text}"
    );
}

#[test]
fn broadcast_beacon_is_heard_and_the_rate_floor_holds() {
    let r = broadcast::run().expect("broadcast demo");
    assert!(
        !r.without_so_broadcast.starts_with("sent"),
        "a send to a broadcast address without SO_BROADCAST should fail: {}",
        r.without_so_broadcast
    );
    assert_eq!(r.to.ip(), broadcast::LOOPBACK_BROADCAST);
    assert_eq!(r.beacon.name, broadcast::NAME);
    assert!(
        r.beacon
            .services
            .iter()
            .any(|s| s.name == "echo" && s.transport == "tcp" && s.addr == r.echo_addr),
        "{:?}",
        r.beacon
    );
    assert!(r.from.ip().is_loopback());
    assert_eq!(r.floored_interval, evserve::discovery::MIN_INTERVAL);
    assert!(r.shortest_delay >= evserve::discovery::MIN_INTERVAL);
    assert!(r.longest_delay >= r.shortest_delay);
    let floor = evserve::discovery::MIN_INTERVAL.as_secs_f64();
    let asked = broadcast::ASKED_INTERVAL.as_secs_f64();
    assert_eq!(r.storm.len(), broadcast::SEGMENTS.len());
    for row in &r.storm {
        assert_eq!(
            row.floored_per_sec,
            (row.servers as f64 / floor).round() as u64
        );
        assert_eq!(
            row.unfloored_per_sec,
            (row.servers as f64 / asked).round() as u64
        );
        assert!(row.floored_per_sec < row.unfloored_per_sec);
    }
    assert!(r.to_string().contains("name lesson-broadcast"));
}

#[test]
fn http_exchanges_cover_every_method_of_the_notes() {
    let r = http::run().expect("http demo");
    let seen: Vec<(&str, u16)> = r.exchanges.iter().map(|x| (x.method, x.status)).collect();
    assert_eq!(
        seen,
        [
            ("GET", 200),
            ("HEAD", 200),
            ("POST", 200),
            ("PUT", 401),
            ("PUT", 201),
            ("GET", 200),
            ("DELETE", 204),
            ("GET", 404),
            ("OPTIONS", 204),
            ("TRACE", 200),
            ("CONNECT", 405),
        ]
    );
    let body = |i: usize| {
        let resp = &r.exchanges[i].response;
        let at = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("head")
            + 4;
        String::from_utf8_lossy(&resp[at..]).into_owned()
    };
    assert_eq!(body(0), r#"{"a":"1","b":"2"}"#);
    assert_eq!(body(1), "", "HEAD has no body");
    assert_eq!(body(2), "name=evserve&lesson=http");
    assert_eq!(body(5), "my first upload\n");
    assert!(
        body(9).starts_with("TRACE /plain HTTP/1.1\r\n"),
        "{}",
        body(9)
    );
    let options = String::from_utf8_lossy(&r.exchanges[8].response).into_owned();
    assert!(options.contains("Allow: GET, HEAD, POST, OPTIONS, TRACE\r\n"));
    let text = r.to_string();
    assert!(text.contains("request line: method, target, version"));
    assert!(text.contains("blank line: the head ends"));
}

#[test]
fn every_lesson_is_listed_once() {
    assert_eq!(super::Lesson::EACH.len(), 7);
}
