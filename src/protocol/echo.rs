//! Echo (RFC 862): every byte received is sent back, over TCP and over UDP.
//!
//! Over UDP, a reply goes to whatever source address the datagram claims, so one forged
//! datagram "from" another echo (or chargen, daytime, ...) service makes two services answer
//! each other forever. UDP echo therefore does not answer a source port below
//! [`MIN_PEER_PORT`]: those are the well-known ports where such services live, while clients
//! send from ephemeral ports (32768 and up on Linux). The reactor adds the other half: no
//! datagram from one of this server's own UDP sockets is answered. This is inetd's
//! `check_loop` rule; docs/protocols.md argues it.

use std::net::SocketAddr;

use crate::session::{Ctx, DatagramService, Service, Session, Step};

/// The TCP echo service.
#[derive(Debug, Default)]
pub(crate) struct Echo;

impl Service for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
        Box::new(EchoSession)
    }
}

/// One echo connection. Stateless: whatever arrives is complete by definition.
#[derive(Debug, Default)]
pub(crate) struct EchoSession;

impl Session for EchoSession {
    fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
        // Forwarded, not copied: the reactor writes the bytes from its read buffer. It stops
        // reading while output is over its limit, so a client that never reads cannot make the
        // output grow without bound.
        Step::forward(input.len())
    }
}

/// The lowest source port UDP echo answers: below it live the services that answer every
/// datagram (echo 7, discard 9, daytime 13, chargen 19, time 37, ...).
pub(crate) const MIN_PEER_PORT: u16 = 1024;

/// The UDP echo service: each datagram goes back, unchanged, to its sender.
#[derive(Debug, Default)]
pub(crate) struct UdpEcho;

impl DatagramService for UdpEcho {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn answers(&self, peer: SocketAddr) -> bool {
        peer.port() >= MIN_PEER_PORT
    }

    fn on_datagram(&mut self, data: &[u8], _peer: SocketAddr, reply: &mut Vec<u8>) -> bool {
        reply.extend_from_slice(data);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Flow;
    use crate::testing::Harness;

    #[test]
    fn echoes_everything_it_is_given() {
        let mut h = Harness::new(EchoSession);
        let step = h.input(b"hello");
        assert_eq!(step, Step::forward(5));
        assert_eq!(h.take_output(), b"hello");
    }

    #[test]
    fn empty_input_produces_nothing() {
        let mut h = Harness::new(EchoSession);
        assert_eq!(h.input(b""), Step::consumed(0));
        assert!(h.take_output().is_empty());
    }

    #[test]
    fn successive_inputs_are_echoed_in_order() {
        let mut h = Harness::new(EchoSession);
        for chunk in [&b"a"[..], b"bc", b"\0\xff", b"def\n"] {
            h.input(chunk);
        }
        assert_eq!(h.take_output(), b"abc\0\xffdef\n");
    }

    #[test]
    fn output_is_appended_after_bytes_still_pending() {
        let mut h = Harness::new(EchoSession);
        h.input(b"first ");
        h.input(b"second");
        // Nothing was taken in between: the second echo must follow the first.
        assert_eq!(h.take_output(), b"first second");
    }

    #[test]
    fn eof_closes_after_flush() {
        let mut h = Harness::new(EchoSession);
        assert_eq!(h.eof(b""), Flow::Close);
    }

    #[test]
    fn udp_echo_replies_with_the_datagram() {
        let mut svc = UdpEcho;
        let mut reply = Vec::new();
        let peer = "127.0.0.1:9".parse().unwrap();
        assert!(svc.on_datagram(b"ping", peer, &mut reply));
        assert_eq!(reply, b"ping");
    }

    #[test]
    fn udp_echo_does_not_answer_the_well_known_ports() {
        let at = |s: &str| s.parse().unwrap();
        assert!(!UdpEcho.answers(at("127.0.0.1:7")));
        assert!(!UdpEcho.answers(at("127.0.0.1:19")));
        assert!(!UdpEcho.answers(at("127.0.0.1:1023")));
        assert!(UdpEcho.answers(at("127.0.0.1:1024")));
        assert!(UdpEcho.answers(at("[::1]:40000")));
    }
}
