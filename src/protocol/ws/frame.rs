//! The RFC 6455 frame codec, sans-IO: bytes in, whole messages out; messages in, bytes out.
//!
//! ```text
//!   0               1               2               3
//!  |F|R|R|R| opcode|M| len (7)     | extended len (16 or 64), if len is 126 or 127
//!  |I|S|S|S|  (4)  |A|             |
//!  |N|V|V|V|       |S|             | masking key (4 bytes), if MASK
//!  |payload ...    (XOR-ed with the key, byte i with key[i % 4])
//! ```
//!
//! [`Decoder::decode`] is fed whatever input is buffered and says how much it used; it never
//! needs a whole frame at once (a 1 MiB message goes through a 64 KiB input buffer): it is in
//! [`State::Head`] until the head is complete, then in [`State::Payload`], unmasking payload
//! bytes into the message as they arrive. Fragments (a text or binary frame without FIN, then
//! continuation frames) are joined into one message, and control frames (ping, pong, close)
//! may arrive between them, as RFC 6455 §5.4 allows. Text is checked as UTF-8 as each fragment
//! arrives, so a bad byte fails at once, not at the end of a long message; a character cut
//! between fragments is fine.
//!
//! Every rule the RFC makes the receiver enforce is a [`CloseCode`] here, which the session
//! sends in its close frame: unmasked client frames, reserved bits, unknown opcodes, control
//! frames over 125 bytes or fragmented, a continuation with nothing to continue (1002); text
//! that is not UTF-8 (1007); a message over the limit (1009).

use crate::session::Append;

/// The largest payload of a control frame (RFC 6455 §5.5).
pub(crate) const MAX_CONTROL: usize = 125;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opcode {
    /// 0x0: the next fragment of the message under way.
    Continuation,
    /// 0x1: a UTF-8 text message (or its first fragment).
    Text,
    /// 0x2: a binary message (or its first fragment).
    Binary,
    /// 0x8: the close handshake.
    Close,
    /// 0x9: asks for a pong.
    Ping,
    /// 0xA: answers a ping (or is a unilateral heartbeat).
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: never fragmented, at most [`MAX_CONTROL`] bytes.
    pub(crate) fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A status code of a close frame (RFC 6455 §7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: done.
    pub(crate) const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the server is going away (or the peer stopped answering pings).
    pub(crate) const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub(crate) const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a kind of message this endpoint does not take (binary in the chat).
    pub(crate) const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1007: a text message (or close reason) that is not UTF-8.
    pub(crate) const INVALID_DATA: CloseCode = CloseCode(1007);
    /// 1008: the peer broke a policy of the server (it moved too few bytes a second while
    /// sending a message, or stayed idle past the server's limit).
    pub(crate) const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message over the size limit.
    pub(crate) const TOO_BIG: CloseCode = CloseCode(1009);

    /// Whether a peer may send this code in a close frame: 1004-1006 and 1015 are reserved for
    /// reporting, never sent; below 1000 and 1016-2999 are unassigned; 5000 and up do not exist.
    pub(crate) fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// What [`Decoder::decode`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    /// A whole text message, valid UTF-8: [`Decoder::payload`].
    Text,
    /// A whole binary message: [`Decoder::payload`].
    Binary,
    /// A ping; its payload is [`Decoder::payload`], to send back in a pong.
    Ping,
    /// A pong.
    Pong,
    /// A close frame, with its code if it had one; the reason is [`Decoder::payload`].
    Close(Option<CloseCode>),
}

/// The result of one [`Decoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Input bytes used (drop them before the next call).
    pub consumed: usize,
    /// A message completed by those bytes, if any.
    pub message: Option<Message>,
}

/// Where the decoder is within the current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Waiting for (the rest of) a frame head.
    Head,
    /// Inside a payload: `remaining` bytes to go, unmasked with `mask` from offset `offset`.
    Payload {
        /// The frame's opcode (continuations already resolved to their message's kind).
        opcode: Opcode,
        /// Whether this frame ends its message.
        fin: bool,
        /// The masking key (all zero for an unmasked frame).
        mask: [u8; 4],
        /// Payload bytes of this frame already read (the index into the mask).
        offset: u64,
        /// Payload bytes still to come.
        remaining: u64,
    },
}

/// Which side the decoder is on: a server must see every frame masked, a client none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Decoding what a client sent (frames must be masked).
    Server,
    /// Decoding what a server sent (frames must not be masked): the tests' client.
    #[cfg(test)]
    Client,
}

/// Incremental frame decoder and message assembler.
#[derive(Debug)]
pub(crate) struct Decoder {
    role: Role,
    max_message: usize,
    state: State,
    /// The data message under way (Text or Binary), if one was started by a non-final frame.
    fragmented: Option<Opcode>,
    /// Payload of the data message under way; reused from message to message.
    data: Vec<u8>,
    /// How much of `data` is known to be valid UTF-8 (text only).
    utf8_checked: usize,
    /// Payload of the control frame under way (at most 125 bytes).
    control: Vec<u8>,
    /// Which buffer [`Decoder::payload`] shows: the last message returned.
    last: Option<Opcode>,
}

impl Decoder {
    /// A decoder for `role` that refuses data messages over `max_message` bytes.
    pub(crate) fn new(role: Role, max_message: usize) -> Decoder {
        Decoder {
            role,
            max_message,
            state: State::Head,
            fragmented: None,
            data: Vec::new(),
            utf8_checked: 0,
            control: Vec::with_capacity(MAX_CONTROL),
            last: None,
        }
    }

    /// Where the decoder is.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Whether a message is under way: a frame begun, or a data message whose final
    /// fragment has not come.
    pub(crate) fn in_message(&self) -> bool {
        self.state != State::Head || self.fragmented.is_some()
    }

    /// The bytes the decoder holds of a data message being assembled (or of the one `decode`
    /// just returned): what the peer makes it keep. Not the allocator's slack beyond them,
    /// which is never touched, nor the emptied buffer kept between messages (at most 64 KiB).
    pub(crate) fn held(&self) -> usize {
        self.data.len()
    }

    /// Drops the message under way and its buffer: the connection is closing, and what is
    /// decoded from now on is only looked through for the peer's close.
    pub(crate) fn discard(&mut self) {
        self.state = State::Head;
        self.fragmented = None;
        self.data = Vec::new();
        self.utf8_checked = 0;
        self.last = None;
    }

    /// The payload of the message the last `decode` returned (a close frame: its reason).
    pub(crate) fn payload(&self) -> &[u8] {
        match self.last {
            Some(op) if op.is_control() => {
                if op == Opcode::Close {
                    self.control.get(2..).unwrap_or_default()
                } else {
                    &self.control
                }
            }
            Some(_) => &self.data,
            None => &[],
        }
    }

    /// Decodes from `input` until a message is complete or the input runs out. A protocol
    /// violation is the close code to send; the connection is then done with.
    pub(crate) fn decode(&mut self, input: &[u8]) -> Result<Decoded, CloseCode> {
        if let Some(op) = self.last.take() {
            // The caller has seen the previous message: its buffer may be reused.
            if op.is_control() {
                self.control.clear();
            } else {
                self.data.clear();
                self.utf8_checked = 0;
                if self.data.capacity() > 64 * 1024 {
                    self.data = Vec::new(); // one large message should not pin memory
                }
            }
        }
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or_default();
            match self.state {
                State::Head => match self.head(rest)? {
                    Some(len) => used += len,
                    None => return Ok(Decoded::partial(used)),
                },
                State::Payload {
                    opcode,
                    fin,
                    mask,
                    offset,
                    remaining,
                } => {
                    let take = rest
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let chunk = rest.get(..take).unwrap_or_default();
                    let target = if opcode.is_control() {
                        &mut self.control
                    } else {
                        &mut self.data
                    };
                    let start = target.len();
                    target.extend_from_slice(chunk);
                    unmask(target.get_mut(start..).unwrap_or_default(), mask, offset);
                    used += take;
                    if opcode == Opcode::Text {
                        self.check_utf8(false)?;
                    }
                    let remaining = remaining - take as u64;
                    if remaining > 0 {
                        self.state = State::Payload {
                            opcode,
                            fin,
                            mask,
                            offset: offset + take as u64,
                            remaining,
                        };
                        return Ok(Decoded::partial(used));
                    }
                    self.state = State::Head;
                    if let Some(message) = self.frame_done(opcode, fin)? {
                        return Ok(Decoded {
                            consumed: used,
                            message: Some(message),
                        });
                    }
                }
            }
        }
    }

    /// Parses a frame head from `input`; `None` if it is not all there yet.
    fn head(&mut self, input: &[u8]) -> Result<Option<usize>, CloseCode> {
        let [b0, b1, ..] = *input else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        if b0 & 0x70 != 0 {
            return Err(CloseCode::PROTOCOL_ERROR); // no extension was negotiated
        }
        let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(CloseCode::PROTOCOL_ERROR)?;
        let masked = b1 & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return Err(CloseCode::PROTOCOL_ERROR);
        }
        let (len, mut at) = match b1 & 0x7F {
            126 => match input.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match input.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(bytes) => (u64::from_be_bytes(bytes), 10),
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if len >> 63 != 0 {
            return Err(CloseCode::PROTOCOL_ERROR); // the most significant bit must be 0
        }
        let mut mask = [0; 4];
        if masked {
            match input
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
            {
                Some(key) => mask = key,
                None => return Ok(None),
            }
            at += 4;
        }
        // The head is complete: check it against the message under way.
        let opcode = if opcode.is_control() {
            if !fin || len > MAX_CONTROL as u64 {
                return Err(CloseCode::PROTOCOL_ERROR);
            }
            if opcode == Opcode::Close && len == 1 {
                return Err(CloseCode::PROTOCOL_ERROR); // a code is two bytes
            }
            opcode
        } else {
            let kind = match (opcode, self.fragmented) {
                (Opcode::Continuation, Some(kind)) => kind,
                (Opcode::Continuation, None) => return Err(CloseCode::PROTOCOL_ERROR),
                (_, Some(_)) => return Err(CloseCode::PROTOCOL_ERROR), // interleaved message
                (kind, None) => kind,
            };
            if (self.data.len() as u64).saturating_add(len) > self.max_message as u64 {
                return Err(CloseCode::TOO_BIG);
            }
            self.fragmented = if fin { None } else { Some(kind) };
            kind
        };
        self.state = State::Payload {
            opcode,
            fin,
            mask,
            offset: 0,
            remaining: len,
        };
        Ok(Some(at))
    }

    /// A frame's payload is complete: returns the message it completes, if any.
    fn frame_done(&mut self, opcode: Opcode, fin: bool) -> Result<Option<Message>, CloseCode> {
        let message = match opcode {
            Opcode::Text if fin => {
                self.check_utf8(true)?;
                Message::Text
            }
            Opcode::Binary if fin => Message::Binary,
            Opcode::Text | Opcode::Binary | Opcode::Continuation => return Ok(None),
            Opcode::Ping => Message::Ping,
            Opcode::Pong => Message::Pong,
            Opcode::Close => {
                let code = match *self.control.as_slice() {
                    [a, b, ..] => Some(CloseCode(u16::from_be_bytes([a, b]))),
                    _ => None,
                };
                if code.is_some_and(|c| !c.is_sendable()) {
                    return Err(CloseCode::PROTOCOL_ERROR);
                }
                if std::str::from_utf8(self.control.get(2..).unwrap_or_default()).is_err() {
                    return Err(CloseCode::INVALID_DATA);
                }
                Message::Close(code)
            }
        };
        self.last = Some(opcode);
        Ok(Some(message))
    }

    /// Checks the text received so far; `end` says the message is complete, so a character
    /// cut short is an error rather than something the next fragment may finish.
    fn check_utf8(&mut self, end: bool) -> Result<(), CloseCode> {
        let unchecked = self.data.get(self.utf8_checked..).unwrap_or_default();
        match std::str::from_utf8(unchecked) {
            Ok(_) => self.utf8_checked = self.data.len(),
            Err(e) if e.error_len().is_none() && !end => self.utf8_checked += e.valid_up_to(),
            Err(_) => return Err(CloseCode::INVALID_DATA),
        }
        Ok(())
    }
}

impl Decoded {
    fn partial(consumed: usize) -> Decoded {
        Decoded {
            consumed,
            message: None,
        }
    }
}

/// XORs `bytes`, which start `offset` bytes into a payload, with the masking key.
fn unmask(bytes: &mut [u8], mask: [u8; 4], offset: u64) {
    if mask == [0; 4] {
        return;
    }
    let shift = (offset % 4) as usize;
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= mask[(i + shift) % 4];
    }
}

/// Appends one whole frame: `payload` as a single final frame of `opcode`, masked with `mask`
/// (a client must mask, a server must not).
pub(crate) fn encode(opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>, out: &mut impl Append) {
    encode_fragment(opcode, true, payload, mask, out);
}

/// Appends one frame, final or not (a client test fragmenting a message).
pub(crate) fn encode_fragment(
    opcode: Opcode,
    fin: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    out: &mut impl Append,
) {
    let mut head = [0u8; 14];
    head[0] = if fin { 0x80 } else { 0 } | opcode.bits();
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    let mut at = match len {
        0..=125 => {
            head[1] = mask_bit | len as u8;
            2
        }
        126..=0xFFFF => {
            head[1] = mask_bit | 126;
            head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            head[1] = mask_bit | 127;
            head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    if let Some(key) = mask {
        head[at..at + 4].copy_from_slice(&key);
        at += 4;
    }
    out.reserve_more(at + len);
    out.append(&head[..at]);
    match mask {
        None => out.append(payload),
        Some(key) => {
            let mut masked = payload.to_vec();
            unmask(&mut masked, key, 0);
            out.append(&masked);
        }
    }
}

/// Appends a close frame with `code` (and no reason).
pub(crate) fn encode_close(code: CloseCode, mask: Option<[u8; 4]>, out: &mut impl Append) {
    encode(Opcode::Close, &code.0.to_be_bytes(), mask, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// Decodes all of `input` fed in the given cuts; returns the messages with their payloads,
    /// or the close code of the first violation.
    fn run(input: &[u8], cuts: &[usize], max: usize) -> Result<Vec<(Message, Vec<u8>)>, CloseCode> {
        let mut decoder = Decoder::new(Role::Server, max);
        let mut buffered = Vec::new();
        let mut fed = 0;
        let mut out = Vec::new();
        let mut ends: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        ends.push(input.len());
        ends.sort_unstable();
        for end in ends {
            buffered.extend_from_slice(&input[fed..end.max(fed)]);
            fed = end.max(fed);
            loop {
                let d = decoder.decode(&buffered)?;
                buffered.drain(..d.consumed);
                match d.message {
                    Some(m) => out.push((m, decoder.payload().to_vec())),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    fn client(opcode: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_fragment(opcode, fin, payload, Some(KEY), &mut out);
        out
    }

    #[test]
    fn rfc_example_masked_hello() {
        // RFC 6455 §5.7: a single-frame masked text message.
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            run(&frame, &[], 100),
            Ok(vec![(Message::Text, b"Hello".to_vec())])
        );
        assert_eq!(client(Opcode::Text, true, b"Hello"), frame);
    }

    #[test]
    fn fragments_join_around_a_ping() {
        let mut input = client(Opcode::Text, false, b"Hel");
        input.extend(client(Opcode::Ping, true, b"p"));
        input.extend(client(Opcode::Continuation, true, b"lo"));
        assert_eq!(
            run(&input, &[], 100),
            Ok(vec![
                (Message::Ping, b"p".to_vec()),
                (Message::Text, b"Hello".to_vec())
            ])
        );
    }

    #[test]
    fn violations_have_their_codes() {
        let unmasked = {
            let mut v = Vec::new();
            encode(Opcode::Text, b"hi", None, &mut v);
            v
        };
        let mut rsv = client(Opcode::Text, true, b"hi");
        rsv[0] |= 0x40;
        let mut unknown = client(Opcode::Text, true, b"hi");
        unknown[0] = 0x83;
        let mut interleaved = client(Opcode::Text, false, b"a");
        interleaved.extend(client(Opcode::Binary, true, b"b"));
        let mut cut_char = client(Opcode::Text, false, "é".as_bytes().get(..1).unwrap());
        cut_char.extend(client(Opcode::Continuation, true, b"x"));
        let cases: Vec<(&str, Vec<u8>, CloseCode)> = vec![
            ("unmasked", unmasked, CloseCode::PROTOCOL_ERROR),
            ("reserved bit", rsv, CloseCode::PROTOCOL_ERROR),
            ("unknown opcode", unknown, CloseCode::PROTOCOL_ERROR),
            (
                "fragmented ping",
                client(Opcode::Ping, false, b""),
                CloseCode::PROTOCOL_ERROR,
            ),
            (
                "long ping",
                client(Opcode::Ping, true, &[0; 126]),
                CloseCode::PROTOCOL_ERROR,
            ),
            (
                "lone continuation",
                client(Opcode::Continuation, true, b"x"),
                CloseCode::PROTOCOL_ERROR,
            ),
            ("interleaved", interleaved, CloseCode::PROTOCOL_ERROR),
            (
                "bad utf-8",
                client(Opcode::Text, true, b"\xff"),
                CloseCode::INVALID_DATA,
            ),
            (
                "character cut by the end",
                cut_char,
                CloseCode::INVALID_DATA,
            ),
            (
                "too big",
                client(Opcode::Binary, true, &[0; 101]),
                CloseCode::TOO_BIG,
            ),
            (
                "close code 1005",
                client(Opcode::Close, true, &1005u16.to_be_bytes()),
                CloseCode::PROTOCOL_ERROR,
            ),
            (
                "one-byte close",
                client(Opcode::Close, true, b"x"),
                CloseCode::PROTOCOL_ERROR,
            ),
        ];
        for (name, input, code) in cases {
            assert_eq!(run(&input, &[], 100), Err(code), "{name}");
        }
    }

    #[test]
    fn bad_utf8_fails_before_the_message_ends() {
        let mut decoder = Decoder::new(Role::Server, 100);
        let input = client(Opcode::Text, false, b"ok\xc3\x28");
        assert_eq!(decoder.decode(&input), Err(CloseCode::INVALID_DATA));
    }

    #[test]
    fn a_message_exactly_at_the_limit_passes() {
        let input = client(Opcode::Binary, true, &[7; 100]);
        assert_eq!(
            run(&input, &[], 100),
            Ok(vec![(Message::Binary, vec![7; 100])])
        );
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let input = client(Opcode::Close, true, &payload);
        assert_eq!(
            run(&input, &[], 100),
            Ok(vec![(
                Message::Close(Some(CloseCode::NORMAL)),
                b"bye".to_vec()
            )])
        );
        assert_eq!(
            run(&client(Opcode::Close, true, b""), &[], 100),
            Ok(vec![(Message::Close(None), Vec::new())])
        );
    }

    #[test]
    fn servers_frames_decode_on_the_client_side() {
        let mut out = Vec::new();
        encode(Opcode::Binary, &[1; 70_000], None, &mut out);
        encode_close(CloseCode::NORMAL, None, &mut out);
        let mut decoder = Decoder::new(Role::Client, 1 << 20);
        let d = decoder.decode(&out).unwrap();
        assert_eq!(d.message, Some(Message::Binary));
        assert_eq!(decoder.payload().len(), 70_000);
        let rest = &out[d.consumed..];
        let d = decoder.decode(rest).unwrap();
        assert_eq!(d.message, Some(Message::Close(Some(CloseCode::NORMAL))));
    }

    fn frames() -> impl Strategy<Value = Vec<(u8, bool, Vec<u8>)>> {
        // (kind, fin, payload): kind 0 text, 1 binary, 2 ping, 3 pong.
        prop::collection::vec(
            (
                0u8..4,
                any::<bool>(),
                prop::collection::vec(any::<u8>(), 0..300),
            ),
            1..8,
        )
    }

    proptest! {
        /// However the stream is cut, the same messages come out.
        #[test]
        fn any_cut_gives_the_same_messages(
            spec in frames(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            // Build a valid stream: each data message in one or two fragments, text as UTF-8.
            let mut input = Vec::new();
            let mut expected = Vec::new();
            for (kind, split, payload) in spec {
                match kind {
                    0 | 1 => {
                        let (op, body) = if kind == 0 {
                            (Opcode::Text, String::from_utf8_lossy(&payload).into_owned().into_bytes())
                        } else {
                            (Opcode::Binary, payload)
                        };
                        let at = if split { body.len() / 2 } else { body.len() };
                        input.extend(client(op, at == body.len(), &body[..at]));
                        if at < body.len() {
                            input.extend(client(Opcode::Continuation, true, &body[at..]));
                        }
                        let m = if kind == 0 { Message::Text } else { Message::Binary };
                        expected.push((m, body));
                    }
                    _ => {
                        let body = payload[..payload.len().min(MAX_CONTROL)].to_vec();
                        let (op, m) = if kind == 2 {
                            (Opcode::Ping, Message::Ping)
                        } else {
                            (Opcode::Pong, Message::Pong)
                        };
                        input.extend(client(op, true, &body));
                        expected.push((m, body));
                    }
                }
            }
            prop_assert_eq!(run(&input, &cuts, 1 << 16), Ok(expected.clone()));
            // And byte by byte.
            let every: Vec<usize> = (0..input.len()).collect();
            prop_assert_eq!(run(&input, &every, 1 << 16), Ok(expected));
        }

        /// Arbitrary bytes never panic, and a cut never changes the verdict.
        #[test]
        fn garbage_is_refused_the_same_way_wherever_cut(
            input in prop::collection::vec(any::<u8>(), 0..200),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            prop_assert_eq!(run(&input, &cuts, 1000), run(&input, &[], 1000));
        }
    }
}
