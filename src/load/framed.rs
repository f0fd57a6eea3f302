//! Framed echo replies: the frame that was sent, coming back as one frame.
//!
//! Two framings, as the server's `--framing` offers:
//!
//! ```text
//!   length   [len: u32 big-endian][len payload bytes]
//!   line     [payload bytes, none of them '\n']['\n']
//! ```
//!
//! Like the server's codecs the decoders are resumable state machines, but they never keep a
//! payload: the bytes are compared with the expected payload as they stream past and dropped.
//! Only the 4-byte length header is ever left for the caller to offer again. A frame of the
//! wrong length or content is still a frame, so it is a wrong reply and the stream stays in
//! step; a length header beyond [`MAX_FRAME`] is taken for garbage.

use super::Framing;
use super::decode::{Broken, Decode, Outcome};

/// The longest frame a length header may announce before the stream is declared broken (the
/// server's own default limit).
pub const MAX_FRAME: usize = 16 << 20;

/// The bytes of one request frame carrying `payload`.
pub fn encode(framing: Framing, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 4);
    match framing {
        Framing::Length => {
            // `LoadConfig` bounds `size` far below 4 GiB; saturate rather than wrap if not.
            let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(payload);
        }
        Framing::Line(delimiter) => {
            frame.extend_from_slice(payload);
            frame.push(delimiter);
        }
    }
    frame
}

/// Where a length-prefixed reply is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum LengthState {
    /// Waiting for the 4-byte header.
    #[default]
    Head,
    /// In the payload: `len` bytes in all, `seen` so far.
    Data { len: usize, seen: usize },
}

/// Progress through one length-prefixed reply.
#[derive(Debug, Clone, Default)]
pub struct LengthReply {
    state: LengthState,
    wrong: bool,
}

impl LengthReply {
    /// Consumes from `src` toward the frame that should carry `payload`.
    pub fn decode(&mut self, payload: &[u8], src: &[u8]) -> Decode {
        let (len, seen, mut used) = match self.state {
            LengthState::Data { len, seen } => (len, seen, 0),
            LengthState::Head => {
                let Some(head) = src.first_chunk::<4>() else {
                    return Decode::Partial { used: 0 };
                };
                let len = u32::from_be_bytes(*head) as usize;
                if len > MAX_FRAME {
                    // Likely not a frame at all: say so if it is a known protocol's answer.
                    return Decode::Broken(
                        evserve::protocol::sniff::server(src)
                            .map_or(Broken::FrameTooLarge, Broken::Speaks),
                    );
                }
                self.wrong = len != payload.len();
                (len, 0, 4)
            }
        };
        let take = (len - seen).min(src.len() - used);
        let got = &src[used..used + take];
        // Compare with the part of the payload at the same place, if the frame is not longer.
        match payload.get(seen..seen + take) {
            Some(want) => self.wrong |= got != want,
            None => self.wrong = true,
        }
        used += take;
        if seen + take < len {
            self.state = LengthState::Data {
                len,
                seen: seen + take,
            };
            return Decode::Partial { used };
        }
        self.state = LengthState::Head;
        Decode::Reply {
            used,
            outcome: verdict(std::mem::take(&mut self.wrong)),
            close: false,
        }
    }
}

/// Progress through one line reply.
#[derive(Debug, Clone, Default)]
pub struct LineReply {
    /// Payload bytes seen before the line feed so far.
    seen: usize,
    wrong: bool,
}

impl LineReply {
    /// Consumes from `src` toward the line that should carry `payload`. The line is not
    /// kept, so a partial line is never rescanned.
    #[cfg(test)]
    pub fn decode(&mut self, payload: &[u8], src: &[u8]) -> Decode {
        self.decode_until(payload, src, b'\n')
    }

    /// [`decode`](Self::decode) for lines ending in `delimiter`.
    pub fn decode_until(&mut self, payload: &[u8], src: &[u8], delimiter: u8) -> Decode {
        let end = src.iter().position(|&b| b == delimiter);
        let got = &src[..end.unwrap_or(src.len())];
        match payload.get(self.seen..self.seen + got.len()) {
            Some(want) => self.wrong |= got != want,
            None => self.wrong = true,
        }
        self.seen += got.len();
        let Some(end) = end else {
            return Decode::Partial { used: src.len() };
        };
        let outcome = verdict(std::mem::take(&mut self.wrong) || self.seen != payload.len());
        self.seen = 0;
        Decode::Reply {
            used: end + 1,
            outcome,
            close: false,
        }
    }
}

fn verdict(wrong: bool) -> Outcome {
    if wrong {
        Outcome::Mismatch
    } else {
        Outcome::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(used: usize, outcome: Outcome) -> Decode {
        Decode::Reply {
            used,
            outcome,
            close: false,
        }
    }

    /// Offers `bytes` one at a time, as a caller would: unconsumed bytes are offered again
    /// with the next one. Returns the outcomes of the replies completed.
    fn bytewise(mut decode: impl FnMut(&[u8]) -> Decode, bytes: &[u8]) -> Vec<Outcome> {
        let mut pending = Vec::new();
        let mut outcomes = Vec::new();
        for &b in bytes {
            pending.push(b);
            loop {
                match decode(&pending) {
                    Decode::Partial { used } => {
                        pending.drain(..used);
                        break;
                    }
                    Decode::Reply { used, outcome, .. } => {
                        pending.drain(..used);
                        outcomes.push(outcome);
                    }
                    Decode::Broken(b) => panic!("broken: {b:?}"),
                }
            }
        }
        outcomes
    }

    #[test]
    fn requests_are_well_formed() {
        assert_eq!(encode(Framing::Length, b"abc"), b"\0\0\0\x03abc");
        assert_eq!(encode(Framing::Line(b'\n'), b"abc"), b"abc\n");
        assert_eq!(encode(Framing::Line(b';'), b"abc"), b"abc;");
        assert_eq!(encode(Framing::Length, b""), b"\0\0\0\0");
    }

    #[test]
    fn length_frames_whole_pipelined_and_bytewise() {
        let mut r = LengthReply::default();
        let two = b"\0\0\0\x03abc\0\0\0\x03abc";
        assert_eq!(r.decode(b"abc", two), reply(7, Outcome::Ok));
        assert_eq!(r.decode(b"abc", &two[7..]), reply(7, Outcome::Ok));
        assert_eq!(r.decode(b"abc", b"\0\0\0"), Decode::Partial { used: 0 });
        assert_eq!(
            r.decode(b"abc", b"\0\0\0\x03a"),
            Decode::Partial { used: 5 }
        );
        assert_eq!(r.decode(b"abc", b"bc"), reply(2, Outcome::Ok));

        let mut r = LengthReply::default();
        let outcomes = bytewise(|src| r.decode(b"abc", src), two);
        assert_eq!(outcomes, [Outcome::Ok, Outcome::Ok]);
    }

    #[test]
    fn wrong_length_frames_are_wrong_but_in_step() {
        let mut r = LengthReply::default();
        let stream = b"\0\0\0\x02ab\0\0\0\x04abcd\0\0\0\x03abX\0\0\0\x03abc";
        let outcomes = bytewise(|src| r.decode(b"abc", src), stream);
        use Outcome::*;
        assert_eq!(outcomes, [Mismatch, Mismatch, Mismatch, Ok]);
    }

    #[test]
    fn a_frame_one_past_the_limit_is_garbage() {
        let mut r = LengthReply::default();
        let at_limit = (MAX_FRAME as u32).to_be_bytes();
        assert_eq!(r.decode(b"abc", &at_limit), Decode::Partial { used: 4 });
        let mut r = LengthReply::default();
        let past = (MAX_FRAME as u32 + 1).to_be_bytes();
        assert_eq!(
            r.decode(b"abc", &past),
            Decode::Broken(Broken::FrameTooLarge)
        );
    }

    #[test]
    fn lines_whole_pipelined_and_bytewise() {
        let mut r = LineReply::default();
        assert_eq!(r.decode(b"abc", b"abc\nabc\n"), reply(4, Outcome::Ok));
        assert_eq!(r.decode(b"abc", b"ab"), Decode::Partial { used: 2 });
        assert_eq!(r.decode(b"abc", b"c\nab"), reply(2, Outcome::Ok));

        let mut r = LineReply::default();
        let outcomes = bytewise(|src| r.decode(b"abc", src), b"abc\nab\nabcd\nabX\nabc\n");
        use Outcome::*;
        assert_eq!(outcomes, [Ok, Mismatch, Mismatch, Mismatch, Ok]);
    }
}
