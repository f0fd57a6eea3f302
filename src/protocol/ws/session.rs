//! [`WsSession`]: one WebSocket connection after its handshake, echoing or in the chat room.
//!
//! ```text
//!   Open ──(we send close: error, idle, shutdown)──► Closing ──(peer's close or EOF)──► gone
//!     └──(peer sends close: we answer it)──────────────────────────────────────────────► gone
//! ```
//!
//! Liveness: a peer silent for `ping_interval` gets a ping; still silent one more interval
//! later, it gets a close 1001 and the connection ends. Any frame from the peer counts as a
//! sign of life, a pong included.
//!
//! The reactor may also give up on the peer before that: it trickled a message in below
//! `--min-rate`, or stayed idle past `--idle-timeout`. The session hears it as a timeout
//! that is not its own deadline, and says so with a close frame 1008 (policy violation)
//! before the connection closes (RFC 6455 §7.1.7: fail the connection with a close frame when
//! one can be sent; the reactor writes it unless the peer has stopped reading). 1008 rather
//! than 1011: the server did not fail, the peer broke its limits.
//!
//! The chat endpoint joins [`RoomId::CHAT`], the room of the TCP chat service: a text message
//! goes to the room as the line `<name>: <text>\n` (defused as chat lines are; the name is
//! `guest-N`, or the address with `--chat-show-addresses`, as for chat), and a room
//! line comes to the browser as a text message without its newline. Binary messages have no
//! place in a line chat and close the connection with 1003.

use std::time::{Duration, Instant};

use super::frame::{self, CloseCode, Decoder, Message, Opcode, Role};
use crate::protocol::{chat, text};
use crate::session::{Ctx, Flow, RoomId, Session, Step};

/// What a WebSocket session does with messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/ws/echo`: every message comes back as it was sent (text as text, binary as binary).
    Echo,
    /// `/ws/chat`: text messages go to the chat room, and the room's lines come back.
    Chat,
}

/// The limits of a WebSocket session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsConfig {
    /// The largest message, fragments joined; larger is closed with 1009. Default 1 MiB.
    pub max_message: usize,
    /// Silence after which the peer is pinged, and then after which it is dropped.
    /// Default 30 s.
    pub ping_interval: Duration,
    /// Whether chat members are named by their addresses (`--chat-show-addresses`) rather
    /// than `guest-N`. Default `false`.
    pub show_addresses: bool,
    /// How long a message may take from its first byte to its last, fragments and control
    /// frames between them included; a late one is closed with 1008. Pings and pongs do not
    /// stretch it. Default 30 s.
    pub message_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> WsConfig {
        WsConfig {
            max_message: 1024 * 1024,
            ping_interval: Duration::from_secs(30),
            show_addresses: false,
            message_timeout: Duration::from_secs(30),
        }
    }
}

/// Where the close handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's (input is still decoded, then dropped).
    Closing,
}

/// Whether the peer owes us a sign of life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Liveness {
    /// Heard from at `Instant`.
    Heard(Instant),
    /// Pinged at `Instant`, no answer yet.
    Pinged(Instant),
}

/// One WebSocket connection, from just after the `101`.
#[derive(Debug)]
pub(crate) struct WsSession {
    endpoint: Endpoint,
    config: WsConfig,
    decoder: Decoder,
    state: State,
    liveness: Liveness,
    /// The chat member's name (see `chat::member_name`), set when the chat is joined.
    name: String,
    /// `"<name>: "` for chat lines, formatted once.
    prefix: Vec<u8>,
    /// The chat line being assembled, reused.
    line: Vec<u8>,
    /// When the message under way began to arrive (see `WsConfig::message_timeout`).
    message_started: Option<Instant>,
}

impl WsSession {
    /// A session for `endpoint`.
    pub(crate) fn new(endpoint: Endpoint, config: WsConfig) -> WsSession {
        WsSession {
            endpoint,
            config,
            decoder: Decoder::new(Role::Server, config.max_message),
            state: State::Open,
            liveness: Liveness::Heard(Instant::now()),
            name: String::new(),
            prefix: Vec::new(),
            line: Vec::new(),
            message_started: None,
        }
    }

    /// Sends a close frame with `code` and stops taking messages.
    fn close(&mut self, code: CloseCode, cx: &mut Ctx<'_>) -> Flow {
        if self.state == State::Open {
            frame::encode_close(code, None, &mut cx.out());
            self.state = State::Closing;
            // No message will be delivered now: its bytes are not held while the close
            // is flushed.
            self.decoder.discard();
            self.message_started = None;
            cx.set_held(0);
        }
        Flow::Close
    }

    fn arm(&mut self, cx: &mut Ctx<'_>) {
        let since = match self.liveness {
            Liveness::Heard(t) | Liveness::Pinged(t) => t,
        };
        let alive = since.checked_add(self.config.ping_interval);
        let message = self.message_due();
        cx.set_deadline(match (alive, message) {
            (Some(a), Some(m)) => Some(a.min(m)),
            (a, m) => a.or(m),
        });
    }

    /// When the message under way must be complete.
    fn message_due(&self) -> Option<Instant> {
        self.message_started?
            .checked_add(self.config.message_timeout)
    }

    /// Notes when a message began (its own deadline) and reports the bytes the decoder holds
    /// to the reactor's memory budget.
    fn account(&mut self, cx: &mut Ctx<'_>) {
        if !self.decoder.in_message() {
            self.message_started = None;
        } else if self.message_started.is_none() {
            self.message_started = Some(cx.now());
        }
        self.arm(cx);
        cx.set_held(self.decoder.held());
    }

    /// Handles one whole message; `Some(flow)` ends the input loop.
    fn on_message(&mut self, message: Message, cx: &mut Ctx<'_>) -> Option<Flow> {
        if !self.decoder.in_message() {
            self.message_started = None;
        }
        let stats = cx.stats();
        match message {
            Message::Text | Message::Binary => {
                stats.ws_messages_in.incr();
                if self.state != State::Open {
                    return None;
                }
                match (self.endpoint, message) {
                    (Endpoint::Echo, _) => {
                        let op = if message == Message::Text {
                            Opcode::Text
                        } else {
                            Opcode::Binary
                        };
                        frame::encode(op, self.decoder.payload(), None, &mut cx.out());
                        cx.stats().ws_messages_out.incr();
                    }
                    (Endpoint::Chat, Message::Text) => {
                        self.line.clear();
                        self.line.extend_from_slice(&self.prefix);
                        text::defuse_into(self.decoder.payload(), &mut self.line);
                        self.line.push(b'\n');
                        cx.stats().chat_messages.incr();
                        cx.broadcast(&self.line);
                    }
                    (Endpoint::Chat, _) => return Some(self.close(CloseCode::UNSUPPORTED, cx)),
                }
            }
            Message::Ping => {
                if self.state == State::Open {
                    frame::encode(Opcode::Pong, self.decoder.payload(), None, &mut cx.out());
                }
            }
            Message::Pong => {}
            Message::Close(code) => {
                // Answer with the peer's code (RFC 6455 §5.5.1), or 1000 if it gave none.
                let reply = code.unwrap_or(CloseCode::NORMAL);
                return Some(self.close(reply, cx));
            }
        }
        None
    }
}

impl Session for WsSession {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.stats().ws_open.incr();
        cx.count_as("ws");
        self.liveness = Liveness::Heard(cx.now());
        self.arm(cx);
        if self.endpoint == Endpoint::Chat {
            self.name = chat::member_name(cx.peer(), self.config.show_addresses);
            self.prefix = format!("{}: ", self.name).into_bytes();
            cx.join(RoomId::CHAT);
            cx.broadcast(format!("* {} joined\n", self.name).as_bytes());
        }
        Flow::Continue
    }

    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let mut used = 0;
        if !input.is_empty() {
            self.liveness = Liveness::Heard(cx.now());
        }
        loop {
            let rest = input.get(used..).unwrap_or_default();
            let decoded = match self.decoder.decode(rest) {
                Ok(decoded) => decoded,
                Err(code) => {
                    log::debug!("{}: websocket: closing with {}", cx.peer(), code.0);
                    let flow = self.close(code, cx);
                    // Nothing after a violation can be trusted: drop it.
                    return Step {
                        consumed: input.len(),
                        forward: 0,
                        flow,
                    };
                }
            };
            used += decoded.consumed;
            let Some(message) = decoded.message else {
                // A message under way that is larger than one read: the reactor holds the
                // peer to its minimum transfer rate while we wait.
                cx.set_receiving(self.decoder.state() != frame::State::Head);
                self.account(cx);
                return Step::consumed(used);
            };
            if let Some(flow) = self.on_message(message, cx) {
                return Step {
                    consumed: input.len(),
                    forward: 0,
                    flow,
                };
            }
        }
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if self.message_due().is_some_and(|due| due <= cx.now()) {
            log::debug!(
                "{}: websocket: message unfinished after {:?}, closing with 1008",
                cx.peer(),
                self.config.message_timeout
            );
            cx.stats().ws_message_timeouts.incr();
            return self.close(CloseCode::POLICY, cx);
        }
        let since = match self.liveness {
            Liveness::Heard(t) | Liveness::Pinged(t) => t,
        };
        if since
            .checked_add(self.config.ping_interval)
            .is_some_and(|due| cx.now() < due)
        {
            // Not our deadline: the reactor's limits (minimum rate, idle timeout) cut in.
            log::debug!("{}: websocket: stalled, closing with 1008", cx.peer());
            return self.close(CloseCode::POLICY, cx);
        }
        match self.liveness {
            Liveness::Heard(_) if self.state == State::Open => {
                frame::encode(Opcode::Ping, b"", None, &mut cx.out());
                self.liveness = Liveness::Pinged(cx.now());
                self.arm(cx);
                Flow::Continue
            }
            _ => self.close(CloseCode::GOING_AWAY, cx),
        }
    }

    /// One text message per line: a broadcast may carry several (a chat client's join
    /// notice and its first line, when both were read in one go).
    fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
        if self.state == State::Open {
            let message = message.strip_suffix(b"\n").unwrap_or(message);
            for line in message.split(|&b| b == b'\n') {
                frame::encode(Opcode::Text, line, None, &mut cx.out());
                cx.stats().ws_messages_out.incr();
            }
        }
        Flow::Continue
    }

    /// RFC 6455 §7.4.1: 1001, the endpoint is going away (a server going down).
    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
        self.close(CloseCode::GOING_AWAY, cx);
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        cx.stats().ws_open.sub(1);
        if self.endpoint == Endpoint::Chat {
            cx.broadcast(format!("* {} left\n", self.name).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Watch;
    use crate::stats::Stats;

    const KEY: [u8; 4] = [1, 2, 3, 4];

    struct Harness {
        session: WsSession,
        stats: Stats,
        out: Vec<u8>,
        broadcast: Vec<u8>,
        watch: Watch,
        /// The clock the session sees.
        now: Instant,
    }

    impl Harness {
        fn new(endpoint: Endpoint) -> Harness {
            Harness::configured(endpoint, WsConfig::default())
        }

        fn configured(endpoint: Endpoint, config: WsConfig) -> Harness {
            let mut h = Harness {
                session: WsSession::new(endpoint, config),
                stats: Stats::default(),
                out: Vec::new(),
                broadcast: Vec::new(),
                watch: Watch::default(),
                now: Instant::now(),
            };
            h.with(|s, cx| s.on_open(cx));
            h
        }

        fn with<R>(&mut self, f: impl FnOnce(&mut WsSession, &mut Ctx<'_>) -> R) -> R {
            let peer = "127.0.0.1:5555".parse().unwrap();
            let mut cx = Ctx::new(
                &mut self.out,
                &mut self.broadcast,
                &mut self.watch,
                peer,
                self.now,
                &self.stats,
            );
            f(&mut self.session, &mut cx)
        }

        fn send(&mut self, op: Opcode, payload: &[u8]) -> Step {
            let mut input = Vec::new();
            frame::encode(op, payload, Some(KEY), &mut input);
            self.with(|s, cx| s.on_input(&input, cx))
        }

        /// The frames the session wrote, decoded as a client would.
        fn replies(&mut self) -> Vec<(Message, Vec<u8>)> {
            let mut decoder = Decoder::new(Role::Client, 1 << 20);
            let mut at = 0;
            let mut found = Vec::new();
            while let Ok(d) = decoder.decode(&self.out[at..]) {
                at += d.consumed;
                match d.message {
                    Some(m) => found.push((m, decoder.payload().to_vec())),
                    None => break,
                }
            }
            self.out.clear();
            found
        }
    }

    #[test]
    fn echo_sends_messages_back_and_answers_pings() {
        let mut h = Harness::new(Endpoint::Echo);
        assert_eq!(h.send(Opcode::Text, b"hi").flow, Flow::Continue);
        h.send(Opcode::Binary, &[0, 1]);
        h.send(Opcode::Ping, b"p");
        assert_eq!(
            h.replies(),
            vec![
                (Message::Text, b"hi".to_vec()),
                (Message::Binary, vec![0, 1]),
                (Message::Pong, b"p".to_vec())
            ]
        );
    }

    #[test]
    fn a_close_is_answered_with_its_code() {
        let mut h = Harness::new(Endpoint::Echo);
        let step = h.send(Opcode::Close, &4000u16.to_be_bytes());
        assert_eq!(step.flow, Flow::Close);
        assert_eq!(
            h.replies(),
            vec![(Message::Close(Some(CloseCode(4000))), vec![])]
        );
    }

    #[test]
    fn the_chat_relays_text_and_refuses_binary() {
        let config = WsConfig {
            show_addresses: true,
            ..WsConfig::default()
        };
        let mut h = Harness::configured(Endpoint::Chat, config);
        assert_eq!(h.watch.room, Some(RoomId::CHAT));
        assert_eq!(h.broadcast, b"* 127.0.0.1:5555 joined\n");
        h.broadcast.clear();
        h.send(Opcode::Text, b"hello\x1b[2J");
        assert_eq!(h.broadcast, b"127.0.0.1:5555: hello?[2J\n");
        h.with(|s, cx| s.on_broadcast(b"* 1.2.3.4:5 joined\n1.2.3.4:5: yo\n", cx));
        assert_eq!(
            h.replies(),
            vec![
                (Message::Text, b"* 1.2.3.4:5 joined".to_vec()),
                (Message::Text, b"1.2.3.4:5: yo".to_vec())
            ]
        );
        assert_eq!(h.send(Opcode::Binary, b"x").flow, Flow::Close);
        assert_eq!(
            h.replies(),
            vec![(Message::Close(Some(CloseCode::UNSUPPORTED)), vec![])]
        );
    }

    #[test]
    fn chat_members_are_named_without_their_addresses_by_default() {
        let mut h = Harness::new(Endpoint::Chat);
        let joined = String::from_utf8(std::mem::take(&mut h.broadcast)).unwrap();
        assert!(joined.starts_with("* guest-"), "{joined}");
        assert!(!joined.contains("127.0.0.1"), "{joined}");
        let name = joined["* ".len()..joined.len() - " joined\n".len()].to_owned();
        h.send(Opcode::Text, b"hi");
        assert_eq!(h.broadcast, format!("{name}: hi\n").into_bytes());
        h.broadcast.clear();
        h.with(|s, cx| s.on_close(cx));
        assert_eq!(h.broadcast, format!("* {name} left\n").into_bytes());
    }

    #[test]
    fn a_peer_the_reactor_gives_up_on_gets_a_close_1008() {
        // A timeout before the session's own deadline is the reactor's (too slow, idle).
        let mut h = Harness::new(Endpoint::Echo);
        let mut input = Vec::new();
        frame::encode(Opcode::Text, b"half a message", Some(KEY), &mut input);
        let step = h.with(|s, cx| s.on_input(&input[..6], cx));
        assert_eq!(step.flow, Flow::Continue);
        assert!(h.watch.receiving, "mid-message: the minimum rate applies");
        assert_eq!(h.with(|s, cx| s.on_timeout(cx)), Flow::Close);
        assert_eq!(
            h.replies(),
            vec![(Message::Close(Some(CloseCode::POLICY)), vec![])]
        );
        // Only one close frame, whatever comes next.
        assert_eq!(h.with(|s, cx| s.on_timeout(cx)), Flow::Close);
        assert!(h.replies().is_empty());
    }

    #[test]
    fn a_silent_peer_is_pinged_then_closed() {
        let mut h = Harness::new(Endpoint::Echo);
        let deadline = h.watch.deadline.expect("a deadline");
        h.now = deadline;
        assert_eq!(h.with(|s, cx| s.on_timeout(cx)), Flow::Continue);
        assert_eq!(h.replies(), vec![(Message::Ping, vec![])]);
        h.now = h.watch.deadline.expect("a deadline for the pong");
        assert_eq!(h.with(|s, cx| s.on_timeout(cx)), Flow::Close);
        assert_eq!(
            h.replies(),
            vec![(Message::Close(Some(CloseCode::GOING_AWAY)), vec![])]
        );
    }

    #[test]
    fn a_partial_message_is_reported_as_held_and_released_when_it_ends() {
        let mut h = Harness::new(Endpoint::Echo);
        assert_eq!(h.watch.held, 0, "nothing held before a message");
        let payload = vec![b'x'; 10_000];
        let mut input = Vec::new();
        frame::encode(Opcode::Binary, &payload, Some(KEY), &mut input);
        // The head and most of the payload: the decoder holds it.
        let cut = input.len() - 1;
        assert_eq!(h.with(|s, cx| s.on_input(&input[..cut], cx)).consumed, cut);
        assert!(h.watch.held >= cut - 14, "held {}", h.watch.held);
        // The last byte ends it: echoed, and nothing held any more.
        h.with(|s, cx| s.on_input(&input[cut..], cx));
        assert_eq!(h.watch.held, 0);
        assert_eq!(h.replies(), vec![(Message::Binary, payload)]);
    }

    #[test]
    fn finished_fragments_of_an_unfinished_message_are_held() {
        let mut h = Harness::new(Endpoint::Echo);
        let mut input = Vec::new();
        frame::encode_fragment(Opcode::Text, false, &[b'a'; 5000], Some(KEY), &mut input);
        h.with(|s, cx| s.on_input(&input, cx));
        assert!(h.watch.held >= 5000, "held {}", h.watch.held);
        // A ping between fragments is answered, and the message is still held.
        h.send(Opcode::Ping, b"p");
        assert!(h.watch.held >= 5000);
        assert_eq!(h.replies(), vec![(Message::Pong, b"p".to_vec())]);
        input.clear();
        frame::encode_fragment(Opcode::Continuation, true, b"b", Some(KEY), &mut input);
        h.with(|s, cx| s.on_input(&input, cx));
        assert_eq!(h.watch.held, 0);
    }

    #[test]
    fn an_unfinished_message_is_closed_at_its_deadline_whatever_pings_say() {
        let config = WsConfig {
            message_timeout: Duration::from_secs(5),
            ..WsConfig::default()
        };
        let mut h = Harness::configured(Endpoint::Echo, config);
        let start = h.now;
        let mut input = Vec::new();
        frame::encode_fragment(Opcode::Binary, false, b"part", Some(KEY), &mut input);
        h.with(|s, cx| s.on_input(&input, cx));
        assert_eq!(h.watch.deadline, Some(start + Duration::from_secs(5)));
        // Pings keep the peer alive, but do not move the message's deadline.
        for _ in 0..4 {
            h.now += Duration::from_secs(1);
            h.send(Opcode::Ping, b"");
            assert_eq!(h.watch.deadline, Some(start + Duration::from_secs(5)));
        }
        h.replies();
        h.now = start + Duration::from_secs(5);
        assert_eq!(h.with(|s, cx| s.on_timeout(cx)), Flow::Close);
        assert_eq!(
            h.replies(),
            vec![(Message::Close(Some(CloseCode::POLICY)), vec![])]
        );
        assert_eq!(h.stats.ws_message_timeouts.get(), 1);
        assert_eq!(h.watch.held, 0, "nothing held while the close is flushed");
    }

    #[test]
    fn a_finished_message_takes_its_deadline_with_it() {
        let config = WsConfig {
            message_timeout: Duration::from_secs(5),
            ..WsConfig::default()
        };
        let mut h = Harness::configured(Endpoint::Echo, config);
        let mut input = Vec::new();
        frame::encode(Opcode::Text, b"whole", Some(KEY), &mut input);
        h.with(|s, cx| s.on_input(&input[..8], cx));
        assert_eq!(h.watch.deadline, Some(h.now + Duration::from_secs(5)));
        h.with(|s, cx| s.on_input(&input[8..], cx));
        assert_eq!(
            h.watch.deadline,
            Some(h.now + WsConfig::default().ping_interval),
            "back to the ping interval"
        );
        h.now += Duration::from_secs(5);
        assert_eq!(
            h.with(|s, cx| s.on_timeout(cx)),
            Flow::Close,
            "the reactor's"
        );
        assert_eq!(h.stats.ws_message_timeouts.get(), 0);
    }
}
