//! Chat: one room ([`RoomId::CHAT`], shared by every chat listener of a worker and by the HTTP
//! listener's `/ws/chat` WebSockets), where every line a client sends reaches every other client.
//!
//! Each member has a name: `guest-N` (N counts the members since the server started), or,
//! with `--chat-show-addresses`, its address. A line from `guest-3` saying `hello` reaches the
//! others as `guest-3: hello\n`; arrivals and departures are announced as `* guest-3 joined\n`
//! and `* guest-3 left\n`. The sender does not get its own lines back. Addresses are not shown
//! by default because anyone may join: the operator who opens the dashboard joins too, and
//! `* 127.0.0.1:33447 joined` would tell every member where the server's operator sits. Lines are `\n`-terminated
//! (`\r\n` accepted) and limited to [`DEFAULT_MAX_LINE`] bytes by default; a longer line gets
//! `ERR frame too large: N > MAX\n` and the connection closes.
//!
//! The room itself is the reactor's: a session hands each message to
//! [`Ctx::broadcast`], and the reactor copies it to every other connection of the listener,
//! cutting off any receiver too slow to keep up. The session never knows who is listening.
//!
//! Relayed text is the peer's, but it lands on other people's terminals: control characters
//! (tab excepted; C1 controls such as CSI too), bidirectional overrides and line separators
//! are replaced by `?`, and bytes that are not UTF-8 by U+FFFD (see `protocol/text.rs`), so that nobody
//! can, with a `\r`, an escape sequence or a right-to-left override, overwrite the address
//! prefix and speak under someone else's name.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::protocol::frame::{DEFAULT_MAX_LINE, Frames, LineCodec};
use crate::protocol::text;
use crate::session::{Ctx, Flow, RoomId, Service, Session, Step};

/// The chat service: settings shared by every session.
#[derive(Debug, Clone)]
pub(crate) struct Chat {
    max_line: usize,
    show_addresses: bool,
}

/// Members named so far, by every chat listener and `/ws/chat` of the process: one count, so
/// that no two members of the room (which spans workers) share a name.
static GUESTS: AtomicU64 = AtomicU64::new(0);

/// The name of a new member: `guest-N`, or its address if `show_addresses`.
pub(crate) fn member_name(peer: SocketAddr, show_addresses: bool) -> String {
    if show_addresses {
        peer.to_string()
    } else {
        format!("guest-{}", GUESTS.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

impl Default for Chat {
    fn default() -> Chat {
        Chat::new(DEFAULT_MAX_LINE)
    }
}

impl Chat {
    /// A chat accepting lines of up to `max_line` bytes.
    pub(crate) fn new(max_line: usize) -> Chat {
        Chat {
            max_line,
            show_addresses: false,
        }
    }

    /// The same chat, naming members by their addresses (`--chat-show-addresses`) or not.
    pub(crate) fn showing_addresses(self, show_addresses: bool) -> Chat {
        Chat {
            show_addresses,
            ..self
        }
    }
}

impl Service for Chat {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn new_session(&mut self, peer: SocketAddr) -> Box<dyn Session> {
        let name = member_name(peer, self.show_addresses);
        Box::new(ChatSession::named(name, self.max_line))
    }

    /// Every chat listener, and every `/ws/chat` WebSocket, shares one room.
    fn room(&self) -> Option<RoomId> {
        Some(RoomId::CHAT)
    }

    /// A whole line, `\r\n` included, must fit.
    fn input_limit(&self) -> usize {
        self.max_line.saturating_add(LineCodec::OVERHEAD)
    }
}

/// One chat member.
#[derive(Debug, Clone)]
pub(crate) struct ChatSession {
    codec: LineCodec,
    /// The member's name, in join and leave notices.
    name: String,
    /// `"<name>: "`, formatted once rather than for every line.
    prefix: Vec<u8>,
    /// The message being assembled, reused so that relaying a line allocates nothing.
    message: Vec<u8>,
}

impl ChatSession {
    /// The session of the member at `peer`, named by its address, accepting lines of up to
    /// `max_line` bytes.
    #[cfg(test)]
    pub(crate) fn new(peer: SocketAddr, max_line: usize) -> ChatSession {
        ChatSession::named(peer.to_string(), max_line)
    }

    /// The session of a member called `name` (see [`member_name`]).
    pub(crate) fn named(name: String, max_line: usize) -> ChatSession {
        ChatSession {
            codec: LineCodec::new(max_line),
            prefix: format!("{name}: ").into_bytes(),
            name,
            message: Vec::new(),
        }
    }

    /// Sends `<addr>: <line>\n` to the others, defused as explained in the module docs.
    fn relay(&mut self, line: &[u8], cx: &mut Ctx<'_>) {
        self.message.clear();
        self.message.extend_from_slice(&self.prefix);
        text::defuse_into(line, &mut self.message);
        self.message.push(b'\n');
        cx.stats().chat_messages.incr();
        cx.broadcast(&self.message);
    }
}

impl Session for ChatSession {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let notice = format!("* {} joined\n", self.name);
        cx.broadcast(notice.as_bytes());
        Flow::Continue
    }

    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let mut lines = Frames::new(input);
        loop {
            match lines.next(&mut self.codec) {
                Ok(Some(line)) => self.relay(line, cx),
                Ok(None) => return Step::consumed(lines.used()),
                Err(err) => {
                    log::debug!("{}: {err}", cx.peer());
                    cx.out()
                        .extend_from_slice(format!("ERR {err}\n").as_bytes());
                    return Step::close(lines.used());
                }
            }
        }
    }

    /// Whole lines still buffered are relayed; an unfinished last line is dropped, since the
    /// peer never said it was done.
    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        let step = self.on_input(input, cx);
        let left = input.len().saturating_sub(step.consumed);
        if step.flow == Flow::Continue && left > 0 {
            log::info!("{}: truncated line, {left} bytes discarded", cx.peer());
        }
        match step.flow {
            Flow::Abort => Flow::Abort,
            Flow::Continue | Flow::Close => Flow::Close,
        }
    }

    /// Says why the room is going quiet, as an IRC server's closing notice does.
    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
        cx.out().extend_from_slice(b"* server shutting down\n");
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        let notice = format!("* {} left\n", self.name);
        cx.broadcast(notice.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    /// The harness's peer is 127.0.0.1:40000.
    fn member(max_line: usize) -> Harness<ChatSession> {
        let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
        Harness::new(ChatSession::new(peer, max_line))
    }

    #[test]
    fn joining_and_leaving_are_announced() {
        let mut h = member(64);
        assert_eq!(h.open(), Flow::Continue);
        assert_eq!(h.take_broadcast(), b"* 127.0.0.1:40000 joined\n");
        h.close();
        assert_eq!(h.take_broadcast(), b"* 127.0.0.1:40000 left\n");
    }

    #[test]
    fn lines_go_to_the_others_with_the_senders_address() {
        let mut h = member(64);
        assert_eq!(h.input(b"hello\r\nworld\nand"), Step::consumed(13));
        assert_eq!(
            h.take_broadcast(),
            b"127.0.0.1:40000: hello\n127.0.0.1:40000: world\n"
        );
        assert!(h.take_output().is_empty(), "the sender gets no echo");
        assert_eq!(h.input_bytewise(b" more\n"), Flow::Continue);
        assert_eq!(h.take_broadcast(), b"127.0.0.1:40000: and more\n");
    }

    #[test]
    fn control_bytes_cannot_forge_a_prefix() {
        let mut h = member(64);
        h.input(b"hi\r10.0.0.1:1: fake\x1b[2K\tok\n");
        assert_eq!(
            h.take_broadcast(),
            b"127.0.0.1:40000: hi?10.0.0.1:1: fake?[2K\tok\n"
        );
    }

    #[test]
    fn c1_controls_bidi_overrides_and_stray_bytes_are_defused() {
        let mut h = member(64);
        h.input("a\u{9b}2J b\u{85}c \u{2028}d \u{202e}gnp.exe\n".as_bytes());
        assert_eq!(
            String::from_utf8(h.take_broadcast()).unwrap(),
            "127.0.0.1:40000: a?2J b?c ?d ?gnp.exe\n"
        );
        h.input(b"raw \x9b2J\n");
        assert_eq!(
            String::from_utf8(h.take_broadcast()).unwrap(),
            "127.0.0.1:40000: raw \u{fffd}2J\n"
        );
    }

    #[test]
    fn a_line_over_the_limit_is_refused_and_closes() {
        let mut h = member(4);
        assert_eq!(h.input(b"abcd\nabcde"), Step::close(5));
        assert_eq!(h.take_broadcast(), b"127.0.0.1:40000: abcd\n");
        assert_eq!(h.take_output(), b"ERR frame too large: 5 > 4\n");
    }

    #[test]
    fn eof_relays_whole_lines_and_drops_the_rest() {
        let mut h = member(64);
        assert_eq!(h.eof(b"bye\nunfinished"), Flow::Close);
        assert_eq!(h.take_broadcast(), b"127.0.0.1:40000: bye\n");
    }

    #[test]
    fn members_are_named_without_their_addresses_unless_asked() {
        let peer = SocketAddr::from(([127, 0, 0, 1], 33447));
        let mut chat = Chat::new(64);
        let mut a = Harness::new(chat.new_session(peer));
        let mut b = Harness::new(chat.new_session(peer));
        a.open();
        b.open();
        let (a_join, b_join) = (a.take_broadcast(), b.take_broadcast());
        for notice in [&a_join, &b_join] {
            let text = String::from_utf8_lossy(notice);
            assert!(
                text.starts_with("* guest-") && text.ends_with(" joined\n"),
                "{text}"
            );
            assert!(!text.contains("127.0.0.1"), "{text}");
        }
        assert_ne!(a_join, b_join, "two members, two names");
        a.input(b"hi\n");
        let line = String::from_utf8(a.take_broadcast()).unwrap();
        let name = String::from_utf8_lossy(&a_join[2..a_join.len() - 8]).into_owned();
        assert_eq!(line, format!("{name}: hi\n"));
        a.close();
        assert_eq!(a.take_broadcast(), format!("* {name} left\n").into_bytes());

        let mut chat = Chat::new(64).showing_addresses(true);
        let mut c = Harness::new(chat.new_session(peer));
        c.open();
        assert_eq!(c.take_broadcast(), b"* 127.0.0.1:33447 joined\n");
    }

    #[test]
    fn service_settings() {
        let svc = Chat::new(100);
        assert_eq!(svc.name(), "chat");
        assert_eq!(svc.input_limit(), 102);
    }
}
