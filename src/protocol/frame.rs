//! Codecs that cut a TCP byte stream into messages ("frames"), and write frames back.
//!
//! TCP delivers a stream of bytes, not messages: one read may return half a message, or three
//! and a half (the "sticky packet" problem, see `docs/protocols.md`). The sender has to mark
//! where each message ends, and the receiver has to find those marks again whatever the read
//! sizes were. Two ways of marking are implemented here:
//!
//! * [`LengthCodec`]: a 4-byte big-endian length, then that many payload bytes. Any payload,
//!   binary included; the receiver knows the size before the data arrives.
//! * [`LineCodec`]: the payload, then a delimiter byte (`\n` by default, with one `\r` before
//!   it dropped so that `\r\n` lines work). Readable with `nc`; the payload cannot contain the
//!   delimiter.
//!
//! Both decoders work like httparse and tokio-util codecs: [`Decoder::decode`] looks
//! at the unconsumed bytes and returns `Ok(None)` when they do not yet hold a whole frame (not an
//! error: call again with more bytes appended), or a [`Frame`] that borrows its payload from the
//! input, without copying, and says how many bytes to consume. The caller must offer the same
//! unconsumed bytes again, with new ones appended, as the reactor does: the decoders remember
//! what they already checked (the parsed header, how far a line was scanned) so that no byte is
//! examined twice however the stream is split. Both codecs implement [`Decoder`] and
//! [`Encoder`], so a session can be written once over either, and sessions walk the frames in
//! their input with `Frames`, which keeps the count of consumed bytes in one place.
//!
//! Every frame is limited (`DEFAULT_MAX_FRAME`, `DEFAULT_MAX_LINE`), and an oversized frame is
//! reported as early as can be: as soon as a length header is seen, or as soon as more bytes
//! than the limit have arrived without a delimiter. A peer therefore cannot make us buffer more
//! than the limit plus the framing overhead (`LengthCodec::OVERHEAD`, `LineCodec::OVERHEAD`).
//! After an error the stream is out of step and should be closed.

use std::fmt;

use crate::session::Append;

/// The default largest payload of a length-prefixed frame: 16 MiB.
pub(crate) const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// The default largest payload of a line, delimiter and `\r` excluded: 64 KiB.
pub(crate) const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// The size of a length-prefixed frame's header.
pub const HEADER_LEN: usize = 4;

/// One decoded frame, borrowed from the decoder's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The message itself, framing removed.
    pub payload: &'a [u8],
    /// How many input bytes the frame occupied (header or delimiter included): consume them.
    pub consumed: usize,
}

/// Why a stream could not be decoded, or a payload not encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A frame is longer than the limit. For a line still missing its delimiter, `len` is how
    /// much of it has arrived so far: the whole line is at least that long.
    TooLarge {
        /// The payload length announced or seen.
        len: usize,
        /// The limit it exceeds.
        max: usize,
    },
    /// A payload to encode as a line contains the delimiter, at byte `at`.
    DelimiterInPayload {
        /// Where the first delimiter byte is.
        at: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, max } => write!(f, "frame too large: {len} > {max}"),
            FrameError::DelimiterInPayload { at } => write!(f, "delimiter in payload at byte {at}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A codec's reading half, as tokio-util's `Decoder`: cut the next frame off the front of the
/// unconsumed input.
///
/// `Ok(None)` is "not yet", not an error: call again with the same unconsumed bytes and new
/// ones appended. A decoder may remember what it already checked between calls (a parsed
/// header, how far it searched), which is why it takes `&mut self`. After an error the stream
/// is out of step and should be closed.
pub trait Decoder {
    /// Decodes the frame at the start of `src`, or returns `Ok(None)` if it is not all there.
    fn decode<'a>(&mut self, src: &'a [u8]) -> Result<Option<Frame<'a>>, FrameError>;
}

/// A codec's writing half: append one frame.
pub trait Encoder {
    /// Appends `payload` as one frame to `dst`, or refuses a payload the other side would
    /// refuse.
    fn encode(&self, payload: &[u8], dst: &mut impl Append) -> Result<(), FrameError>;
}

/// The whole frames at the start of one input slice, and how many bytes they occupy: the loop
/// every session on these codecs runs, with its bookkeeping written once.
///
/// ```text
///   let mut frames = Frames::new(input);
///   while let Some(payload) = frames.next(&mut codec)? { handle(payload) }
///   Step::consumed(frames.used())      // a partial frame stays for the next call
/// ```
///
/// The payloads borrow from the input, not from the codec, so the loop body may use the rest
/// of the session freely.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frames<'i> {
    input: &'i [u8],
    used: usize,
}

impl<'i> Frames<'i> {
    /// Frames from the start of `input`.
    pub(crate) fn new(input: &'i [u8]) -> Frames<'i> {
        Frames { input, used: 0 }
    }

    /// The next whole frame's payload, counted as used; `Ok(None)` when the rest of the input
    /// holds no whole frame.
    pub(crate) fn next(
        &mut self,
        codec: &mut impl Decoder,
    ) -> Result<Option<&'i [u8]>, FrameError> {
        let Some(frame) = codec.decode(self.rest())? else {
            return Ok(None);
        };
        self.used += frame.consumed;
        Ok(Some(frame.payload))
    }

    /// The input after the frames returned so far.
    pub(crate) fn rest(&self) -> &'i [u8] {
        self.input.get(self.used..).unwrap_or_default()
    }

    /// Bytes taken by the frames returned so far: what the session consumes.
    pub(crate) fn used(&self) -> usize {
        self.used
    }
}

/// Where a [`LengthCodec`] is within the frame at the start of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeState {
    /// Waiting for the 4 header bytes.
    Head,
    /// The header, already checked, announced this many payload bytes; waiting for them.
    Data(usize),
}

/// Length-prefixed frames: a `u32` big-endian payload length, then the payload.
///
/// ```text
///   00 00 00 05 68 65 6c 6c 6f   00 00 00 00
///   └─ len 5 ─┘ └── "hello" ─┘   └─ len 0 ─┘  (an empty frame is a valid frame)
/// ```
#[derive(Debug, Clone)]
pub struct LengthCodec {
    max: usize,
    state: DecodeState,
}

impl Default for LengthCodec {
    fn default() -> LengthCodec {
        LengthCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl LengthCodec {
    /// Bytes a frame occupies beyond its payload: the header.
    pub(crate) const OVERHEAD: usize = HEADER_LEN;

    /// A codec accepting payloads of up to `max_frame` bytes (at most `u32::MAX`, what the
    /// header can express).
    pub fn new(max_frame: usize) -> LengthCodec {
        LengthCodec {
            max: max_frame.min(u32::MAX as usize),
            state: DecodeState::Head,
        }
    }

    /// The largest payload accepted, in either direction.
    pub fn max_frame(&self) -> usize {
        self.max
    }

    /// Where the decoder is within the current frame.
    #[cfg(test)]
    pub(crate) fn state(&self) -> DecodeState {
        self.state
    }

    /// The header for a payload of `len` bytes, for callers that write the payload themselves
    /// (straight from a file buffer, say) instead of copying it through [`Encoder::encode`].
    pub fn head(&self, len: usize) -> Result<[u8; HEADER_LEN], FrameError> {
        match u32::try_from(len) {
            Ok(n) if len <= self.max => Ok(n.to_be_bytes()),
            _ => Err(FrameError::TooLarge { len, max: self.max }),
        }
    }
}

impl Decoder for LengthCodec {
    /// Decodes the frame at the start of `src`, or returns `Ok(None)` if it is not all there.
    ///
    /// A header announcing more than the limit is an error as soon as its 4 bytes are in, so
    /// a hostile peer cannot make us wait for (and buffer) a huge payload.
    fn decode<'a>(&mut self, src: &'a [u8]) -> Result<Option<Frame<'a>>, FrameError> {
        let len = match self.state {
            DecodeState::Head => {
                let Some(head) = src.first_chunk::<HEADER_LEN>() else {
                    return Ok(None);
                };
                let len = u32::from_be_bytes(*head) as usize;
                if len > self.max {
                    return Err(FrameError::TooLarge { len, max: self.max });
                }
                // Remember the checked length: the payload may take many reads to arrive.
                self.state = DecodeState::Data(len);
                len
            }
            DecodeState::Data(len) => len,
        };
        let end = HEADER_LEN + len;
        let Some(payload) = src.get(HEADER_LEN..end) else {
            return Ok(None);
        };
        self.state = DecodeState::Head;
        Ok(Some(Frame {
            payload,
            consumed: end,
        }))
    }
}

impl Encoder for LengthCodec {
    /// Appends `payload` as one frame to `dst`. A payload over the limit is refused, since the
    /// other side would refuse it too.
    fn encode(&self, payload: &[u8], dst: &mut impl Append) -> Result<(), FrameError> {
        let head = self.head(payload.len())?;
        dst.reserve_more(HEADER_LEN + payload.len());
        dst.append(&head);
        dst.append(payload);
        Ok(())
    }
}

/// Delimited frames: the payload, then a delimiter byte.
///
/// With the default delimiter `\n`, one `\r` right before it is not part of the payload, so
/// `hello\n` and `hello\r\n` both decode to `hello`. With any other delimiter every byte before
/// it is payload. The limit counts payload bytes only.
#[derive(Debug, Clone)]
pub struct LineCodec {
    max: usize,
    delimiter: u8,
    /// How many bytes at the start of the input are known to hold no delimiter: the next
    /// search starts there, so a long line arriving in small pieces is scanned once.
    next_index: usize,
}

impl Default for LineCodec {
    fn default() -> LineCodec {
        LineCodec::new(DEFAULT_MAX_LINE)
    }
}

impl LineCodec {
    /// Bytes a line may occupy beyond its payload: a `\r` and the delimiter.
    pub(crate) const OVERHEAD: usize = 2;

    /// A codec for `\n`-terminated lines of up to `max_frame` payload bytes.
    pub fn new(max_frame: usize) -> LineCodec {
        LineCodec::with_delimiter(max_frame, b'\n')
    }

    /// A codec for frames ended by `delimiter`, of up to `max_frame` payload bytes.
    pub(crate) fn with_delimiter(max_frame: usize, delimiter: u8) -> LineCodec {
        LineCodec {
            max: max_frame,
            delimiter,
            next_index: 0,
        }
    }

    /// `\r\n` is a convention of `\n`-terminated text only.
    fn strips_cr(&self) -> bool {
        self.delimiter == b'\n'
    }

    /// No delimiter in `window`: remember how far we looked, or fail if the line is already
    /// too long. A trailing `\r` may yet turn out to be the one stripped, so it is not counted.
    fn need_more(&mut self, window: &[u8]) -> Result<(), FrameError> {
        let len = self.strip_cr(window).len();
        if len > self.max {
            self.next_index = 0;
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        self.next_index = window.len();
        Ok(())
    }

    fn strip_cr<'a>(&self, line: &'a [u8]) -> &'a [u8] {
        match line.split_last() {
            Some((b'\r', rest)) if self.strips_cr() => rest,
            _ => line,
        }
    }
}

impl Decoder for LineCodec {
    /// Decodes the line at the start of `src`, or returns `Ok(None)` if its delimiter has not
    /// arrived yet.
    ///
    /// The search never looks past the longest acceptable line (payload limit, `\r`,
    /// delimiter), and input that already holds more payload than the limit is an error at
    /// once, without waiting for a delimiter that may never come.
    fn decode<'a>(&mut self, src: &'a [u8]) -> Result<Option<Frame<'a>>, FrameError> {
        let window = prefix(src, self.max.saturating_add(Self::OVERHEAD));
        let start = self.next_index.min(window.len());
        let unscanned = window.get(start..).unwrap_or_default();
        // `memchr` searches 16 or 32 bytes per step with SIMD: lines may be 64 KiB long.
        let Some(found) = memchr::memchr(self.delimiter, unscanned) else {
            return self.need_more(window).map(|()| None);
        };
        self.next_index = 0;
        let end = start + found;
        let payload = self.strip_cr(prefix(window, end));
        if payload.len() > self.max {
            return Err(FrameError::TooLarge {
                len: payload.len(),
                max: self.max,
            });
        }
        Ok(Some(Frame {
            payload,
            consumed: end + 1,
        }))
    }
}

impl Encoder for LineCodec {
    /// Appends `payload` and the delimiter to `dst`. A payload containing the delimiter, or
    /// over the limit, is refused.
    fn encode(&self, payload: &[u8], dst: &mut impl Append) -> Result<(), FrameError> {
        if payload.len() > self.max {
            return Err(FrameError::TooLarge {
                len: payload.len(),
                max: self.max,
            });
        }
        if let Some(at) = memchr::memchr(self.delimiter, payload) {
            return Err(FrameError::DelimiterInPayload { at });
        }
        dst.reserve_more(payload.len() + Self::OVERHEAD);
        dst.append(payload);
        // The decoder drops one `\r` before `\n`; a payload that really ends in `\r` gets a
        // second one, so that decoding gives back exactly what was encoded.
        if self.strips_cr() && payload.last() == Some(&b'\r') {
            dst.append(b"\r");
        }
        dst.append(&[self.delimiter]);
        Ok(())
    }
}

/// The first `n` bytes of `bytes`, or all of them if there are fewer.
fn prefix(bytes: &[u8], n: usize) -> &[u8] {
    bytes.get(..n).unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `chunks` as successive reads, keeping unconsumed bytes as the reactor does.
    /// Returns the frames decoded and the bytes left over.
    fn drive<D: Decoder>(
        codec: &mut D,
        chunks: &[&[u8]],
    ) -> Result<(Vec<Vec<u8>>, Vec<u8>), FrameError> {
        let (mut frames, mut buf) = (Vec::new(), Vec::new());
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            let mut cut = Frames::new(&buf);
            while let Some(payload) = cut.next(codec)? {
                frames.push(payload.to_vec());
            }
            let used = cut.used();
            buf.drain(..used);
        }
        Ok((frames, buf))
    }

    fn length_frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            LengthCodec::default().encode(p, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn length_needs_a_whole_header_and_payload() {
        let mut c = LengthCodec::default();
        assert_eq!(c.decode(b""), Ok(None));
        assert_eq!(c.decode(b"\0\0\0"), Ok(None));
        assert_eq!(c.decode(b"\0\0\0\x05hel"), Ok(None));
        assert_eq!(c.state(), DecodeState::Data(5));
        let frame = c.decode(b"\0\0\0\x05hello\0").unwrap().unwrap();
        assert_eq!(frame.payload, b"hello");
        assert_eq!(frame.consumed, 9);
        assert_eq!(c.state(), DecodeState::Head);
    }

    #[test]
    fn length_many_frames_then_a_partial() {
        let mut input = length_frames(&[b"one", b"", b"three"]);
        input.extend_from_slice(b"\0\0\0\x04fo");
        let (frames, rest) = drive(&mut LengthCodec::default(), &[&input]).unwrap();
        assert_eq!(frames, [&b"one"[..], b"", b"three"]);
        assert_eq!(rest, b"\0\0\0\x04fo");
    }

    #[test]
    fn length_a_thousand_frames_in_one_buffer() {
        let payloads: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(|p| &p[..]).collect();
        let (frames, rest) = drive(&mut LengthCodec::default(), &[&length_frames(&refs)]).unwrap();
        assert_eq!(frames, payloads);
        assert!(rest.is_empty());
    }

    #[test]
    fn length_one_byte_per_read() {
        let input = length_frames(&[b"split", b"", b"me"]);
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let (frames, rest) = drive(&mut LengthCodec::default(), &chunks).unwrap();
        assert_eq!(frames, [&b"split"[..], b"", b"me"]);
        assert!(rest.is_empty());
    }

    #[test]
    fn length_at_the_limit_and_one_over() {
        let mut c = LengthCodec::new(3);
        let frame = c.decode(b"\0\0\0\x03abc").unwrap().unwrap();
        assert_eq!(frame.payload, b"abc");
        // Refused on the header alone: the payload is never waited for.
        let over = FrameError::TooLarge { len: 4, max: 3 };
        assert_eq!(c.decode(b"\0\0\0\x04"), Err(over));
        assert_eq!(c.encode(b"abcd", &mut Vec::new()), Err(over));
        let mut out = Vec::new();
        c.encode(b"abc", &mut out).unwrap();
        assert_eq!(out, b"\0\0\0\x03abc");
    }

    #[test]
    fn length_huge_header_is_refused_by_default() {
        let mut c = LengthCodec::default();
        let err = c.decode(b"\xff\xff\xff\xff").unwrap_err();
        assert_eq!(err.to_string(), "frame too large: 4294967295 > 16777216");
    }

    #[test]
    fn length_head_matches_encode() {
        let c = LengthCodec::new(10);
        assert_eq!(c.head(258), Err(FrameError::TooLarge { len: 258, max: 10 }));
        assert_eq!(LengthCodec::default().head(258), Ok([0, 0, 1, 2]));
    }

    #[test]
    fn line_needs_a_delimiter() {
        let mut c = LineCodec::default();
        assert_eq!(c.decode(b""), Ok(None));
        assert_eq!(c.decode(b"hel"), Ok(None));
        let frame = c.decode(b"hello\nwor").unwrap().unwrap();
        assert_eq!((frame.payload, frame.consumed), (&b"hello"[..], 6));
    }

    #[test]
    fn line_resumes_where_it_stopped_scanning() {
        let mut c = LineCodec::default();
        assert_eq!(c.decode(b"abc"), Ok(None));
        assert_eq!(c.next_index, 3);
        assert_eq!(c.decode(b"abcde"), Ok(None));
        assert_eq!(c.next_index, 5);
        assert_eq!(c.decode(b"abcde\nx").unwrap().unwrap().payload, b"abcde");
        assert_eq!(c.next_index, 0);
    }

    #[test]
    fn line_many_frames_then_a_partial() {
        let input = b"one\r\n\nthree\npart";
        let (frames, rest) = drive(&mut LineCodec::default(), &[input]).unwrap();
        assert_eq!(frames, [&b"one"[..], b"", b"three"]);
        assert_eq!(rest, b"part");
    }

    #[test]
    fn line_a_thousand_frames_in_one_buffer() {
        let input: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let (frames, rest) = drive(&mut LineCodec::default(), &[input.as_bytes()]).unwrap();
        assert_eq!(frames.len(), 1000);
        assert_eq!(frames[999], b"line 999");
        assert!(rest.is_empty());
    }

    #[test]
    fn line_one_byte_per_read() {
        let input = b"split\r\n\nme\n";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let (frames, rest) = drive(&mut LineCodec::default(), &chunks).unwrap();
        assert_eq!(frames, [&b"split"[..], b"", b"me"]);
        assert!(rest.is_empty());
    }

    #[test]
    fn line_strips_exactly_one_cr() {
        let (frames, _) = drive(&mut LineCodec::default(), &[b"a\r\r\n\r\nb\rc\n"]).unwrap();
        assert_eq!(frames, [&b"a\r"[..], b"", b"b\rc"]);
    }

    #[test]
    fn line_at_the_limit_and_one_over() {
        let too_large = |len| Err(FrameError::TooLarge { len, max: 4 });
        // Accepted up to the limit, with either ending.
        for ok in [&b"abcd\n"[..], b"abcd\r\n"] {
            let frame = LineCodec::new(4).decode(ok).unwrap().unwrap();
            assert_eq!((frame.payload, frame.consumed), (&b"abcd"[..], ok.len()));
        }
        // A full-length line may still get its `\r\n`: keep waiting.
        assert_eq!(LineCodec::new(4).decode(b"abcd"), Ok(None));
        assert_eq!(LineCodec::new(4).decode(b"abcd\r"), Ok(None));
        // One payload byte over: an error without waiting for the delimiter.
        assert_eq!(LineCodec::new(4).decode(b"abcde"), too_large(5));
        assert_eq!(LineCodec::new(4).decode(b"abcd\rx"), too_large(6));
        assert_eq!(LineCodec::new(4).decode(b"abcde\n"), too_large(5));
        assert_eq!(LineCodec::new(4).decode(b"abcde\r\n"), too_large(5));
        // The same bytes one at a time: caught at the fifth.
        let mut c = LineCodec::new(4);
        let results: Vec<_> = (1..=5).map(|n| c.decode(&b"abcde"[..n])).collect();
        assert_eq!(
            results,
            [Ok(None), Ok(None), Ok(None), Ok(None), too_large(5)]
        );
    }

    #[test]
    fn line_scan_is_bounded_by_the_limit() {
        // The delimiter is far beyond the limit: refused having looked at max + 2 bytes.
        let mut input = vec![b'x'; 100];
        input.push(b'\n');
        let err = LineCodec::new(10).decode(&input).unwrap_err();
        assert_eq!(err, FrameError::TooLarge { len: 12, max: 10 });
    }

    #[test]
    fn line_custom_delimiter_keeps_cr() {
        let mut c = LineCodec::with_delimiter(16, 0);
        let frame = c.decode(b"a\r\0b").unwrap().unwrap();
        assert_eq!((frame.payload, frame.consumed), (&b"a\r"[..], 3));
    }

    #[test]
    fn line_encode_refuses_what_it_cannot_frame() {
        let c = LineCodec::new(4);
        let mut out = Vec::new();
        assert_eq!(
            c.encode(b"a\nb", &mut out),
            Err(FrameError::DelimiterInPayload { at: 1 })
        );
        assert_eq!(
            c.encode(b"abcde", &mut out),
            Err(FrameError::TooLarge { len: 5, max: 4 })
        );
        assert!(out.is_empty());
        c.encode(b"abc\r", &mut out).unwrap();
        c.encode(b"", &mut out).unwrap();
        assert_eq!(out, b"abc\r\r\n\n");
    }

    /// Cuts `bytes` at the given points (taken modulo its length) into successive reads.
    fn split_at_points(bytes: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
        cuts.iter_mut().for_each(|c| *c %= bytes.len() + 1);
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            chunks.push(&bytes[start..cut]);
            start = cut;
        }
        chunks
    }

    proptest! {
        #[test]
        fn length_round_trips_however_split(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
            cuts in prop::collection::vec(any::<usize>(), 0..10),
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(|p| &p[..]).collect();
            let encoded = length_frames(&refs);
            let chunks = split_at_points(&encoded, cuts);
            let (frames, rest) = drive(&mut LengthCodec::new(300), &chunks).unwrap();
            prop_assert_eq!(frames, payloads);
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn line_round_trips_however_split(
            payloads in prop::collection::vec(
                prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..300),
                0..20,
            ),
            cuts in prop::collection::vec(any::<usize>(), 0..10),
        ) {
            let codec = LineCodec::new(300);
            let mut encoded = Vec::new();
            for p in &payloads {
                codec.encode(p, &mut encoded).unwrap();
            }
            let chunks = split_at_points(&encoded, cuts);
            let (frames, rest) = drive(&mut LineCodec::new(300), &chunks).unwrap();
            prop_assert_eq!(frames, payloads);
            prop_assert!(rest.is_empty());
        }
    }
}
