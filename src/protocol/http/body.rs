//! Request bodies: the bytes after a head, unframed incrementally.
//!
//! A [`BodyDecoder`] is told how the body is framed (`Content-Length` or chunked) and is then
//! fed whatever input is available. Each call to [`BodyDecoder::decode`] makes one step: it
//! consumes a chunk-size line, some body bytes, a CRLF or a trailer line, and hands back the
//! body bytes it found as a slice of the input (no copy). A step that consumes nothing means
//! "need more input"; it is never an error to stop anywhere.
//!
//! Chunked framing is where request smuggling hides, so the decoder is strict where RFC 9112
//! §7.1 allows it to be: a size line must start with a hex digit and end with CRLF (a bare LF
//! inside a chunk extension is refused, not skipped), chunk data must be followed by exactly
//! CRLF, and trailer lines are bounded and discarded. The body size is counted as the chunk
//! sizes are announced, so an over-long body is refused before its bytes arrive.

use super::request::{BodyFraming, is_tchar};

/// The longest chunk-size line (size, extensions, CRLF) we wait for. Partial lines are
/// re-examined when more bytes arrive, and this bound keeps that cheap.
const MAX_CHUNK_LINE: usize = 4096;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Broken chunked framing: a bad size line, missing CRLF, oversized trailers.
    BadChunk,
    /// The chunk sizes add up to more than `max_body`.
    TooLarge,
}

/// Where the decoder is within the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    /// A `Content-Length` body with this many bytes still to come.
    Length { remaining: u64 },
    /// Chunked: expecting a chunk-size line.
    ChunkSize,
    /// Chunked: inside a chunk, with this many data bytes still to come.
    ChunkData { remaining: u64 },
    /// Chunked: expecting the CRLF that closes a chunk's data.
    ChunkDataEnd,
    /// Chunked: after the last chunk, skipping trailer fields up to the empty line.
    Trailers { seen: usize },
    /// The body is complete.
    Done,
}

/// The result of one decoding step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress<'a> {
    /// Input bytes used up, framing included. Zero means more input is needed.
    pub consumed: usize,
    /// Body bytes found, a slice of the input (possibly empty).
    pub data: &'a [u8],
}

/// An incremental body decoder for one request.
#[derive(Debug, Clone)]
pub(crate) struct BodyDecoder {
    state: DecodeState,
    /// Body bytes announced so far (chunked) or in total (`Content-Length`).
    announced: u64,
    max_body: u64,
    max_trailers: usize,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`, refusing more than `max_body` body bytes and
    /// more than `max_trailers` bytes of trailer fields.
    pub(crate) fn new(framing: BodyFraming, max_body: u64, max_trailers: usize) -> BodyDecoder {
        let (state, announced) = match framing {
            BodyFraming::None | BodyFraming::Length(0) => (DecodeState::Done, 0),
            BodyFraming::Length(n) => (DecodeState::Length { remaining: n }, n),
            BodyFraming::Chunked => (DecodeState::ChunkSize, 0),
        };
        BodyDecoder {
            state,
            announced,
            max_body,
            max_trailers,
        }
    }

    /// Whether the whole body, and its framing, has been consumed.
    pub(crate) fn is_done(&self) -> bool {
        self.state == DecodeState::Done
    }

    /// Makes one step through `input`, the bytes that follow what was consumed before.
    pub(crate) fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Progress<'a>, BodyError> {
        match self.state {
            DecodeState::Length { remaining } => {
                let (data, left) = take(input, remaining);
                self.state = if left == 0 {
                    DecodeState::Done
                } else {
                    DecodeState::Length { remaining: left }
                };
                Ok(Progress {
                    consumed: data.len(),
                    data,
                })
            }
            DecodeState::ChunkData { remaining } => {
                let (data, left) = take(input, remaining);
                self.state = if left == 0 {
                    DecodeState::ChunkDataEnd
                } else {
                    DecodeState::ChunkData { remaining: left }
                };
                Ok(Progress {
                    consumed: data.len(),
                    data,
                })
            }
            DecodeState::ChunkSize => self.chunk_size(input),
            DecodeState::ChunkDataEnd => self.chunk_data_end(input),
            DecodeState::Trailers { seen } => self.trailer_line(input, seen),
            DecodeState::Done => Ok(framing_only(0)),
        }
    }

    fn chunk_size<'a>(&mut self, input: &'a [u8]) -> Result<Progress<'a>, BodyError> {
        let Some(line) = crlf_line(input, MAX_CHUNK_LINE)? else {
            return Ok(framing_only(0));
        };
        if !line.first().is_some_and(u8::is_ascii_hexdigit) || !size_then_extension(line) {
            return Err(BodyError::BadChunk);
        }
        let size = match httparse::parse_chunk_size(line) {
            Ok(httparse::Status::Complete((used, size))) if used == line.len() => size,
            _ => return Err(BodyError::BadChunk),
        };
        self.announced = self.announced.saturating_add(size);
        if self.announced > self.max_body {
            return Err(BodyError::TooLarge);
        }
        self.state = if size == 0 {
            DecodeState::Trailers { seen: 0 }
        } else {
            DecodeState::ChunkData { remaining: size }
        };
        Ok(framing_only(line.len()))
    }

    fn chunk_data_end<'a>(&mut self, input: &'a [u8]) -> Result<Progress<'a>, BodyError> {
        match input {
            [b'\r', b'\n', ..] => {
                self.state = DecodeState::ChunkSize;
                Ok(framing_only(2))
            }
            [] | [b'\r'] => Ok(framing_only(0)),
            _ => Err(BodyError::BadChunk),
        }
    }

    fn trailer_line<'a>(
        &mut self,
        input: &'a [u8],
        seen: usize,
    ) -> Result<Progress<'a>, BodyError> {
        let room = self.max_trailers.saturating_sub(seen);
        let Some(line) = crlf_line(input, room.saturating_add(2))? else {
            return Ok(framing_only(0));
        };
        self.state = if line == b"\r\n" {
            DecodeState::Done
        } else if !is_field_line(line) {
            // Discarded either way, but a line that is no header field (a smuggled request
            // line, say) is broken framing: a stricter peer would read the stream differently.
            return Err(BodyError::BadChunk);
        } else {
            DecodeState::Trailers {
                seen: seen + line.len(),
            }
        };
        Ok(framing_only(line.len()))
    }
}

/// Whether a chunk-size line (CRLF included) holds hex digits followed by the CRLF, or by
/// an extension (`BWS ";" ...`, RFC 9112 §7.1.1): whitespace with nothing after it (`3 \r\n`)
/// is refused, as every strict parser refuses it.
fn size_then_extension(line: &[u8]) -> bool {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = &line[digits..];
    let after_bws = rest.iter().position(|&b| b != b' ' && b != b'\t');
    rest == b"\r\n" || after_bws.is_some_and(|i| rest[i] == b';')
}

/// Whether a trailer line (CRLF included) is a header field: a token, a colon, then a value
/// of visible characters, spaces and tabs (RFC 9110 §5.1, §5.5).
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let (name, value) = (&line[..colon], &line[colon + 1..line.len() - 2]);
    !name.is_empty()
        && name.iter().all(|&b| is_tchar(b))
        && value
            .iter()
            .all(|&b| b == b'\t' || b == b' ' || b > 0x20 && b != 0x7f)
}

/// Up to `remaining` bytes from the front of `input`, and how many will still be missing.
fn take(input: &[u8], remaining: u64) -> (&[u8], u64) {
    let n = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
    let data = input.get(..n).unwrap_or_default();
    (data, remaining - data.len() as u64)
}

/// A step that used `consumed` bytes of framing and found no body bytes.
fn framing_only(consumed: usize) -> Progress<'static> {
    Progress {
        consumed,
        data: &[],
    }
}

/// The first line of `input`, with its CRLF, if it has fully arrived within `max` bytes. A
/// line ended by a bare LF, or still open after `max` bytes, is broken framing.
fn crlf_line(input: &[u8], max: usize) -> Result<Option<&[u8]>, BodyError> {
    let window = input.get(..max.min(input.len())).unwrap_or_default();
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) if lf > 0 && window.get(lf - 1) == Some(&b'\r') => Ok(window.get(..=lf)),
        Some(_) => Err(BodyError::BadChunk),
        None if input.len() >= max => Err(BodyError::BadChunk),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes, as the session does: unconsumed bytes
    /// are offered again with the next piece. Returns the body and the bytes left over.
    fn decode(
        framing: BodyFraming,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), BodyError> {
        let mut decoder = BodyDecoder::new(framing, 100, 64);
        let mut body = Vec::new();
        let mut buffered = Vec::new();
        for piece in input.chunks(step.max(1)) {
            buffered.extend_from_slice(piece);
            if decoder.is_done() {
                continue;
            }
            let mut pos = 0;
            while !decoder.is_done() {
                let progress = decoder.decode(&buffered[pos..])?;
                body.extend_from_slice(progress.data);
                pos += progress.consumed;
                if progress.consumed == 0 {
                    break;
                }
            }
            buffered.drain(..pos);
        }
        assert!(decoder.is_done(), "body incomplete");
        Ok((body, buffered))
    }

    fn every_split(framing: BodyFraming, input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), BodyError> {
        let whole = decode(framing, input, input.len());
        for step in 1..input.len() {
            assert_eq!(decode(framing, input, step), whole, "step {step}");
        }
        whole
    }

    #[test]
    fn content_length_body_then_the_next_request() {
        let (body, rest) = every_split(BodyFraming::Length(5), b"helloGET").unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(rest, b"GET");
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_split() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"A;name=value\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"3\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n", b"abc"),
            (b"0\r\n\r\n", b""),
            (b"00000003\r\nabc\r\n0\r\n\r\n", b"abc"),
        ];
        for (input, expected) in cases {
            let mut with_next = input.to_vec();
            with_next.extend_from_slice(b"NEXT");
            let (body, rest) = every_split(BodyFraming::Chunked, &with_next).unwrap();
            assert_eq!(body, *expected, "{:?}", String::from_utf8_lossy(input));
            assert_eq!(rest, b"NEXT");
        }
    }

    #[test]
    fn extensions_and_trailer_fields_are_accepted() {
        let input = b"3 ;name=v\r\nabc\r\n2;x\r\nde\r\n0\r\nExpires: never\r\nX-Y:\t1\r\n\r\nNEXT";
        let (body, rest) = every_split(BodyFraming::Chunked, input).unwrap();
        assert_eq!((&body[..], &rest[..]), (&b"abcde"[..], &b"NEXT"[..]));
    }

    #[test]
    fn broken_chunked_framing_is_refused() {
        let cases: &[&[u8]] = &[
            b"\r\n",                         // empty size line: not "zero"
            b"x\r\n",                        // not hex
            b"-1\r\n",                       // not hex
            b" 5\r\nhello\r\n0\r\n\r\n",     // leading space
            b"5\nhello\r\n0\r\n\r\n",        // bare LF
            b"5;ext\nhi\r\n",                // bare LF hidden in an extension
            b"5\r\nhelloXX0\r\n\r\n",        // data not followed by CRLF
            b"11111111111111111\r\n",        // 17 hex digits: overflows
            b"0\r\nTrailer: x\n\r\n",        // bare LF in trailers
            b"3 \r\nabc\r\n0\r\n\r\n",       // trailing whitespace, no extension
            b"3\t\r\nabc\r\n0\r\n\r\n",      // trailing tab, no extension
            b"3x\r\nabc\r\n0\r\n\r\n",       // junk after the size
            b"0\r\nGET /x HTTP/1.1\r\n\r\n", // a request line is no trailer field
            b"0\r\n: x\r\n\r\n",             // no field name
            b"0\r\nA b: x\r\n\r\n",          // a space in the name
            b"0\r\nA: \x01\r\n\r\n",         // a control byte in the value
        ];
        for input in cases {
            let mut decoder = BodyDecoder::new(BodyFraming::Chunked, u64::MAX, 64);
            let mut pos = 0;
            let result = loop {
                match decoder.decode(&input[pos..]) {
                    Ok(p) if p.consumed == 0 => break Ok(()),
                    Ok(p) => pos += p.consumed,
                    Err(e) => break Err(e),
                }
            };
            assert_eq!(
                result,
                Err(BodyError::BadChunk),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn chunked_size_is_limited_one_past_the_edge() {
        // max_body is 100 in `decode`.
        let at = b"64\r\n"
            .iter()
            .chain([b'x'; 100].iter())
            .chain(b"\r\n0\r\n\r\n")
            .copied();
        assert_eq!(
            decode(BodyFraming::Chunked, &at.collect::<Vec<_>>(), 7)
                .unwrap()
                .0
                .len(),
            100
        );
        // 60 + 41 = 101: refused at the second size line, before its data arrives.
        let mut over = b"3c\r\n".to_vec();
        over.extend_from_slice(&[b'x'; 60]);
        over.extend_from_slice(b"\r\n29\r\n");
        assert_eq!(
            decode(BodyFraming::Chunked, &over, 1),
            Err(BodyError::TooLarge)
        );
    }

    #[test]
    fn endless_chunk_lines_and_trailers_are_bounded() {
        let mut decoder = BodyDecoder::new(BodyFraming::Chunked, 100, 64);
        let mut line = b"1;".to_vec();
        line.resize(MAX_CHUNK_LINE, b'a');
        assert_eq!(decoder.decode(&line), Err(BodyError::BadChunk));

        let mut decoder = BodyDecoder::new(BodyFraming::Chunked, 100, 64);
        assert_eq!(decoder.decode(b"0\r\n").unwrap().consumed, 3);
        let trailer = [b'a'; 70];
        assert_eq!(decoder.decode(&trailer), Err(BodyError::BadChunk));
    }

    proptest::proptest! {
        /// Any body, chunked any way and delivered in any pieces, decodes to itself.
        #[test]
        fn chunked_round_trip(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
            sizes in proptest::collection::vec(1usize..20, 1..10),
            step in 1usize..30,
        ) {
            let mut encoded = Vec::new();
            let mut rest = &body[..];
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                encoded.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                encoded.extend_from_slice(chunk);
                encoded.extend_from_slice(b"\r\n");
                rest = tail;
            }
            encoded.extend_from_slice(b"0\r\n\r\n");
            let (decoded, left) = decode(BodyFraming::Chunked, &encoded, step).unwrap();
            proptest::prop_assert_eq!(decoded, body);
            proptest::prop_assert!(left.is_empty());
        }
    }

    #[test]
    fn empty_bodies_are_done_at_once() {
        assert!(BodyDecoder::new(BodyFraming::None, 0, 0).is_done());
        assert!(BodyDecoder::new(BodyFraming::Length(0), 0, 0).is_done());
        assert!(!BodyDecoder::new(BodyFraming::Chunked, 0, 0).is_done());
    }
}
