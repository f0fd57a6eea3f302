//! Framed echo: every message a client sends comes back as one message, in the same framing.
//!
//! This is the smallest service built on [`frame`](super::frame), and the one to read first: it
//! shows how a session loops over every complete frame in its input, consumes exactly those
//! bytes and leaves a partial frame for the reactor to offer again. With [`Framing::Length`] the
//! messages are 4-byte length-prefixed; with [`Framing::Line`] they are lines.
//!
//! A frame over the limit gets an error frame (`ERR frame too large: N > MAX`, in the session's
//! framing) and the connection closes: once a frame is refused the stream is out of step, so
//! nothing after it can be trusted. A connection that ends in the middle of a frame gets
//! nothing for that frame: a partial message is never delivered as if it were whole.

use std::net::SocketAddr;

use crate::protocol::frame::{
    DEFAULT_MAX_FRAME, DEFAULT_MAX_LINE, Decoder, Encoder, FrameError, Frames, LengthCodec,
    LineCodec,
};
use crate::protocol::sniff;
use crate::session::{Ctx, Flow, Service, Session, Step};

/// How messages are delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A 4-byte big-endian length, then the payload.
    Length,
    /// The payload, then a delimiter byte.
    Line,
}

/// The framed echo service's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramedConfig {
    /// Length-prefixed or delimited.
    pub framing: Framing,
    /// The largest payload accepted.
    pub max_frame: usize,
    /// The byte ending a frame in [`Framing::Line`] (ignored otherwise).
    pub delimiter: u8,
}

impl FramedConfig {
    /// Length-prefixed frames of up to `DEFAULT_MAX_FRAME` bytes.
    pub fn length() -> FramedConfig {
        FramedConfig {
            framing: Framing::Length,
            max_frame: DEFAULT_MAX_FRAME,
            delimiter: b'\n',
        }
    }

    /// `\n`-terminated lines of up to `DEFAULT_MAX_LINE` bytes.
    pub fn line() -> FramedConfig {
        FramedConfig {
            framing: Framing::Line,
            max_frame: DEFAULT_MAX_LINE,
            delimiter: b'\n',
        }
    }
}

impl Default for FramedConfig {
    fn default() -> FramedConfig {
        FramedConfig::length()
    }
}

/// The framed echo service.
#[derive(Debug, Clone, Default)]
pub(crate) struct FramedEcho {
    config: FramedConfig,
}

impl FramedEcho {
    /// A service with the given settings.
    pub(crate) fn new(config: FramedConfig) -> FramedEcho {
        FramedEcho { config }
    }
}

impl Service for FramedEcho {
    fn name(&self) -> &'static str {
        "framed"
    }

    fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
        let FramedConfig {
            framing,
            max_frame,
            delimiter,
        } = self.config;
        match framing {
            // A line is any bytes: only the length framing can tell text from a frame.
            Framing::Length => Box::new(
                FramedEchoSession::new(LengthCodec::new(max_frame), LengthCodec::default())
                    .naming_foreign(
                        "evserve framed messages (a 4-byte big-endian length, then the payload)",
                    ),
            ),
            Framing::Line => Box::new(FramedEchoSession::new(
                LineCodec::with_delimiter(max_frame, delimiter),
                LineCodec::with_delimiter(usize::MAX, delimiter),
            )),
        }
    }

    /// A whole frame, framing included, must fit, or the largest legal frame could never be
    /// decoded.
    fn input_limit(&self) -> usize {
        let overhead = match self.config.framing {
            Framing::Length => LengthCodec::OVERHEAD,
            Framing::Line => LineCodec::OVERHEAD,
        };
        self.config.max_frame.saturating_add(overhead)
    }
}

/// One framed echo connection: its decoder, which remembers a partial frame's progress, over
/// either codec (the service picks one per session, so the echo loop is written once).
#[derive(Debug, Clone)]
pub(crate) struct FramedEchoSession<C> {
    codec: C,
    /// The same framing for our own messages. The frame limit protects us from the peer; our
    /// short error text is exempt, so that even a tiny limit gets an explanation.
    replies: C,
    /// What we speak, said to a peer whose undecodable first bytes are another protocol's;
    /// `None` where no bytes are foreign (a line is any bytes).
    speaks: Option<&'static str>,
}

impl<C: Decoder + Encoder> FramedEchoSession<C> {
    /// A session decoding and echoing with `codec`, and sending its error text with `replies`.
    pub(crate) fn new(codec: C, replies: C) -> FramedEchoSession<C> {
        FramedEchoSession {
            codec,
            replies,
            speaks: None,
        }
    }

    /// The same session, which names another protocol it recognises (see `sniff.rs`) and
    /// says it `speaks` this instead.
    pub(crate) fn naming_foreign(self, speaks: &'static str) -> FramedEchoSession<C> {
        FramedEchoSession {
            speaks: Some(speaks),
            ..self
        }
    }

    /// A length header that failed to decode may be another protocol's first bytes (`GET `,
    /// a TLS ClientHello, typed text): if so, answer in words and close (see `sniff.rs`).
    fn misdirected(&self, rest: &[u8], used: usize, cx: &mut Ctx<'_>) -> Option<Step> {
        let speaks = self.speaks?;
        sniff::refuse_foreign(rest, speaks, cx).then(|| Step::close(used))
    }

    /// Sends `ERR <why>` as a last frame and closes; `used` input bytes were fine.
    fn refuse(&self, err: FrameError, used: usize, cx: &mut Ctx<'_>) -> Step {
        log::debug!("{}: {err}", cx.peer());
        let text = format!("ERR {err}");
        if let Err(err) = self.replies.encode(text.as_bytes(), &mut cx.out()) {
            // Only a delimiter chosen among the reply's own characters gets here.
            log::debug!("{}: error reply not sent: {err}", cx.peer());
        }
        Step::close(used)
    }
}

impl<C: Decoder + Encoder> Session for FramedEchoSession<C> {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let mut frames = Frames::new(input);
        loop {
            let payload = match frames.next(&mut self.codec) {
                Ok(Some(payload)) => payload,
                Ok(None) => return Step::consumed(frames.used()),
                Err(err) => {
                    return self
                        .misdirected(frames.rest(), frames.used(), cx)
                        .unwrap_or_else(|| self.refuse(err, frames.used(), cx));
                }
            };
            // Cannot fail for a payload the same codec just decoded, but a refusal is the
            // honest answer if it ever did.
            if let Err(err) = self.codec.encode(payload, &mut cx.out()) {
                return self.refuse(err, frames.used(), cx);
            }
        }
    }

    /// Whole frames still in `input` are answered; bytes after them are a frame the peer
    /// never finished, reported and dropped.
    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        let step = self.on_input(input, cx);
        let left = input.len().saturating_sub(step.consumed);
        if step.flow == Flow::Continue && left > 0 {
            log::info!("{}: truncated frame, {left} bytes discarded", cx.peer());
        }
        match step.flow {
            Flow::Abort => Flow::Abort,
            Flow::Continue | Flow::Close => Flow::Close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    fn length(max_frame: usize) -> Harness<FramedEchoSession<LengthCodec>> {
        Harness::new(FramedEchoSession::new(
            LengthCodec::new(max_frame),
            LengthCodec::default(),
        ))
    }

    fn line(max_frame: usize) -> Harness<FramedEchoSession<LineCodec>> {
        Harness::new(FramedEchoSession::new(
            LineCodec::new(max_frame),
            LineCodec::with_delimiter(usize::MAX, b'\n'),
        ))
    }

    #[test]
    fn length_frames_come_back_whole() {
        let mut h = length(16);
        let input = b"\0\0\0\x02hi\0\0\0\0\0\0\0\x03yo";
        assert_eq!(h.input(input), Step::consumed(10));
        assert_eq!(h.take_output(), b"\0\0\0\x02hi\0\0\0\0");
        assert_eq!(h.pending_input(), b"\0\0\0\x03yo");
        assert_eq!(h.input(b"!"), Step::consumed(7));
        assert_eq!(h.take_output(), b"\0\0\0\x03yo!");
    }

    #[test]
    fn length_frames_one_byte_at_a_time() {
        let mut h = length(16);
        let input = b"\0\0\0\x05hello\0\0\0\x01x";
        assert_eq!(h.input_bytewise(input), Flow::Continue);
        assert_eq!(h.take_output(), input);
        assert!(h.pending_input().is_empty());
    }

    #[test]
    fn lines_come_back_as_lines() {
        let mut h = line(16);
        assert_eq!(h.input(b"one\r\ntwo\nthr"), Step::consumed(9));
        assert_eq!(h.take_output(), b"one\ntwo\n");
        assert_eq!(h.input_bytewise(b"ee\n"), Flow::Continue);
        assert_eq!(h.take_output(), b"three\n");
    }

    #[test]
    fn oversized_length_frame_gets_an_error_frame_and_close() {
        let mut h = length(4);
        let step = h.input(b"\0\0\0\x02ok\0\0\0\x05");
        assert_eq!(step, Step::close(6));
        let mut expected = b"\0\0\0\x02ok".to_vec();
        LengthCodec::default()
            .encode(b"ERR frame too large: 5 > 4", &mut expected)
            .unwrap();
        assert_eq!(h.take_output(), expected);
    }

    #[test]
    fn oversized_line_gets_an_error_line_and_close() {
        let mut h = line(4);
        assert_eq!(h.input(b"abcd\r\n"), Step::consumed(6));
        assert_eq!(h.input(b"abcde"), Step::close(0));
        assert_eq!(h.take_output(), b"abcd\nERR frame too large: 5 > 4\n");
    }

    #[test]
    fn eof_mid_frame_delivers_nothing_partial() {
        let mut h = length(16);
        h.input(b"\0\0\0\x05hel");
        assert_eq!(h.eof(b""), Flow::Close);
        assert!(h.take_output().is_empty());
    }

    #[test]
    fn eof_answers_whole_frames_still_buffered() {
        let mut h = line(16);
        assert_eq!(h.eof(b"last\npart"), Flow::Close);
        assert_eq!(h.take_output(), b"last\n");
    }

    #[test]
    fn service_buffers_a_whole_frame() {
        let svc = FramedEcho::new(FramedConfig::length());
        assert_eq!(svc.name(), "framed");
        assert_eq!(svc.input_limit(), DEFAULT_MAX_FRAME + 4);
        let line = FramedEcho::new(FramedConfig::line());
        assert_eq!(line.input_limit(), DEFAULT_MAX_LINE + 2);
    }
}
