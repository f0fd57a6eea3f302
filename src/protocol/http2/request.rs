//! A request head out of a decoded field block: the rules of RFC 9113 §8.2 and §8.3, then
//! the same [`RequestHead`] an HTTP/1.1 parse produces.
//!
//! HPACK hands fields over one at a time ([`FieldBlock::add`]); they are checked as they come
//! and copied into two buffers the connection reuses for every block (the text the request
//! layer takes as `&str`, checked as UTF-8 once, and the values), so a request costs no
//! allocation once the buffers have grown. A block that breaks a rule is *malformed*: a stream
//! error (`PROTOCOL_ERROR`), never a connection one, since HPACK stayed in sync. The rules:
//!
//! - pseudo-fields (`:method`, `:scheme`, `:path`, `:authority`) come first, once each, and
//!   no others exist in a request; `:method`, `:scheme` and a non-empty `:path` are required
//!   (CONNECT has only `:method` and `:authority`); trailers carry none;
//! - names are lowercase tokens; values hold no NUL, CR or LF and no whitespace at either end;
//! - the fields of HTTP/1.1's connection (`connection`, `keep-alive`, `proxy-connection`,
//!   `transfer-encoding`, `upgrade`) are refused, and `te` may only say `trailers`;
//! - `content-length`, if present (several times only with one value), is a number the
//!   DATA frames will be held to.
//!
//! A block over `SETTINGS_MAX_HEADER_LIST_SIZE` (or with more fields than the HTTP service
//! allows) is still decoded to its end, keeping HPACK's table in step, and is then answered
//! 431 like an oversized HTTP/1.1 head.

use crate::protocol::http::multiplexed::CONNECTION_SPECIFIC;
use crate::protocol::http::request::{
    BodyFraming, Expect, HEADER_SLOTS, Method, Persist, RequestHead, Version, is_tchar,
};

/// The per-field overhead RFC 9113 §6.5.2 counts in a header list's size.
const FIELD_OVERHEAD: usize = 32;

/// Why a field block cannot become a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlockError {
    /// It breaks a rule of §8.2/§8.3 (named, for the log): reset the stream with
    /// `PROTOCOL_ERROR`.
    Malformed(&'static str),
    /// Over the header-list size or the field count: answer 431.
    TooLarge,
}

/// Where some bytes lie in one of [`FieldBlock`]'s two buffers.
#[derive(Debug, Clone, Copy)]
struct Piece {
    at: usize,
    len: usize,
}

impl Piece {
    fn range(self) -> std::ops::Range<usize> {
        self.at..self.at + self.len
    }
}

/// A regular field: its name in `text`, its value in `bytes`.
#[derive(Debug, Clone, Copy)]
struct Span {
    name: Piece,
    value: Piece,
}

/// The pseudo-fields of a request: `:method` and `:path` in `text`, the others in `bytes`.
#[derive(Debug, Clone, Copy, Default)]
struct Pseudo {
    method: Option<Piece>,
    scheme: Option<Piece>,
    path: Option<Piece>,
    authority: Option<Piece>,
}

/// Appends `data` to `buf`, returning where it went.
#[inline]
fn push(buf: &mut Vec<u8>, data: &[u8]) -> Piece {
    let at = buf.len();
    buf.extend_from_slice(data);
    Piece {
        at,
        len: data.len(),
    }
}

/// One decoded field block, checked as it arrives.
#[derive(Debug, Default)]
pub(super) struct FieldBlock {
    /// What the request layer takes as text (`:method`, `:path`, the field names), checked
    /// to be UTF-8 in one go rather than piece by piece.
    text: Vec<u8>,
    /// The field values, `:scheme` and `:authority`: bytes.
    bytes: Vec<u8>,
    fields: Vec<Span>,
    pseudo: Pseudo,
    /// A regular field was seen: pseudo-fields may no longer come.
    regular: bool,
    /// The block is trailers: no pseudo-fields at all, and nothing is kept.
    trailers: bool,
    content_length: Option<u64>,
    /// `expect: 100-continue`: the client waits for a `100` before sending its body.
    expect_continue: bool,
    has_host: bool,
    size: usize,
    max_size: usize,
    max_fields: usize,
    error: Option<BlockError>,
}

impl FieldBlock {
    /// Starts a new block (a request head, or trailers) with these limits.
    pub(super) fn start(&mut self, trailers: bool, max_size: usize, max_fields: usize) {
        self.text.clear();
        self.bytes.clear();
        self.fields.clear();
        self.pseudo = Pseudo::default();
        self.regular = false;
        self.trailers = trailers;
        self.content_length = None;
        self.expect_continue = false;
        self.has_host = false;
        self.size = 0;
        self.max_size = max_size;
        self.max_fields = max_fields.min(HEADER_SLOTS - 1);
        self.error = None;
    }

    /// Marks the block as over the header-list size (the decoder found it so).
    pub(super) fn too_large(&mut self) {
        self.error = Some(BlockError::TooLarge);
    }

    /// Takes one decoded field. Errors are remembered, not returned: decoding must go on to
    /// the end of the block whatever its fields say.
    pub(super) fn add(&mut self, name: &[u8], value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.size = self
            .size
            .saturating_add(name.len() + value.len() + FIELD_OVERHEAD);
        if self.size > self.max_size {
            self.error = Some(BlockError::TooLarge);
            return;
        }
        if let Err(e) = self.check(name, value) {
            self.error = Some(e);
        }
    }

    fn check(&mut self, name: &[u8], value: &[u8]) -> Result<(), BlockError> {
        use BlockError::Malformed;
        if !valid_value(value) {
            return Err(Malformed("a field value with a forbidden character"));
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            if self.regular || self.trailers {
                return Err(Malformed(
                    "a pseudo-field after a regular one, or in trailers",
                ));
            }
            let (slot, piece) = match pseudo {
                b"method" => (&mut self.pseudo.method, push(&mut self.text, value)),
                b"path" => (&mut self.pseudo.path, push(&mut self.text, value)),
                b"scheme" => (&mut self.pseudo.scheme, push(&mut self.bytes, value)),
                b"authority" => (&mut self.pseudo.authority, push(&mut self.bytes, value)),
                _ => return Err(Malformed("an unknown pseudo-field")),
            };
            if slot.replace(piece).is_some() {
                return Err(Malformed("a pseudo-field given twice"));
            }
            return Ok(());
        }
        self.regular = true;
        if name.is_empty() || !name.iter().all(|&b| is_lower_tchar(b)) {
            return Err(Malformed("a field name that is not a lowercase token"));
        }
        if CONNECTION_SPECIFIC.iter().any(|c| c.as_bytes() == name) {
            return Err(Malformed("a connection-specific field"));
        }
        if name == b"te" && value != b"trailers" {
            return Err(Malformed("te other than trailers"));
        }
        if self.trailers {
            return Ok(());
        }
        if name == b"content-length" {
            let n = parse_length(value).ok_or(Malformed("a content-length that is no number"))?;
            if self.content_length.is_some_and(|seen| seen != n) {
                return Err(Malformed("two different content-lengths"));
            }
            self.content_length = Some(n);
        }
        self.has_host |= name == b"host";
        self.expect_continue |= name == b"expect" && value.eq_ignore_ascii_case(b"100-continue");
        if self.fields.len() >= self.max_fields {
            return Err(BlockError::TooLarge);
        }
        let span = Span {
            name: push(&mut self.text, name),
            value: push(&mut self.bytes, value),
        };
        self.fields.push(span);
        Ok(())
    }

    fn text(&self, piece: Piece) -> &[u8] {
        self.text.get(piece.range()).unwrap_or_default()
    }

    fn value(&self, piece: Piece) -> &[u8] {
        self.bytes.get(piece.range()).unwrap_or_default()
    }

    /// The announced body length, if any.
    pub(super) fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Checks the block as a whole (the required pseudo-fields) once it is complete.
    pub(super) fn finish(&self) -> Result<(), BlockError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.trailers {
            return Ok(());
        }
        let method = self.pseudo.method.map(|p| self.text(p));
        match method {
            None => Err(BlockError::Malformed("no :method")),
            Some(b"CONNECT") if self.pseudo.authority.is_none() => {
                Err(BlockError::Malformed("CONNECT without :authority"))
            }
            Some(b"CONNECT") if self.pseudo.scheme.is_some() || self.pseudo.path.is_some() => {
                Err(BlockError::Malformed("CONNECT with :scheme or :path"))
            }
            Some(b"CONNECT") => Ok(()),
            Some(_) if self.pseudo.scheme.is_none() => Err(BlockError::Malformed("no :scheme")),
            Some(_) => match self.pseudo.path.map(|p| self.text(p)) {
                None | Some(b"") => Err(BlockError::Malformed("no :path")),
                Some(_) => Ok(()),
            },
        }
    }

    /// Calls `f` with the request head this (finished, valid) block describes. `end_stream`
    /// says the HEADERS frame ended the stream: no body follows. `None` if a pseudo-field
    /// is not the visible ASCII a method or target must be.
    pub(super) fn with_head<T>(
        &self,
        end_stream: bool,
        f: impl FnOnce(&RequestHead<'_, '_>) -> T,
    ) -> Option<T> {
        // The method, the path and every name at once (names were checked to be tokens, so
        // only the method or the path can fail it, as they would alone).
        let text = std::str::from_utf8(&self.text).ok()?;
        let method_token = text.get(self.pseudo.method?.range())?;
        let uri = match self.pseudo.path {
            Some(path) => text.get(path.range())?,
            // CONNECT: the authority is the target.
            None => std::str::from_utf8(self.value(self.pseudo.authority?)).ok()?,
        };
        if !uri.bytes().all(|b| b.is_ascii_graphic()) || !method_token.bytes().all(is_tchar) {
            return None;
        }
        // The slots live on the stack, and filling 128 of them for a request of five fields
        // costs more than the rest of this function: a short array serves the usual request.
        if self.fields.len() < SHORT_SLOTS {
            self.head_in::<SHORT_SLOTS, T>(text, method_token, uri, end_stream, f)
        } else {
            self.head_in::<HEADER_SLOTS, T>(text, method_token, uri, end_stream, f)
        }
    }

    /// [`FieldBlock::with_head`] with `N` header slots (more than the fields).
    fn head_in<'a, const N: usize, T>(
        &'a self,
        text: &'a str,
        method_token: &'a str,
        uri: &'a str,
        end_stream: bool,
        f: impl FnOnce(&RequestHead<'_, '_>) -> T,
    ) -> Option<T> {
        let mut slots = [httparse::EMPTY_HEADER; N];
        let mut n = 0;
        for (slot, &span) in slots.iter_mut().zip(&self.fields) {
            slot.name = text.get(span.name.range()).unwrap_or_default();
            slot.value = self.value(span.value);
            n += 1;
        }
        if let (Some(authority), false) = (self.pseudo.authority, self.has_host)
            && let Some(slot) = slots.get_mut(n)
        {
            // What HTTP/1.1 calls Host (RFC 9113 §8.3.1): the handlers look for it there.
            slot.name = "host";
            slot.value = self.value(authority);
            n += 1;
        }
        let framing = match (self.content_length, end_stream) {
            (Some(len), _) => BodyFraming::Length(len),
            (None, true) => BodyFraming::None,
            // The length is known only when END_STREAM comes, as with chunked framing.
            (None, false) => BodyFraming::Chunked,
        };
        let head = RequestHead {
            method: Method::from_token(method_token),
            method_token,
            uri,
            version: Version::Http11,
            headers: slots.get(..n).unwrap_or_default(),
            framing,
            persist: Persist::KeepAlive,
            expect: match self.expect_continue {
                true => Expect::Continue,
                false => Expect::Nothing,
            },
        };
        Some(f(&head))
    }
}

/// Header slots for a request of fewer fields than this (the usual one has a handful).
const SHORT_SLOTS: usize = 16;

/// A token character that is not an uppercase letter: what an HTTP/2 field name is made of.
fn is_lower_tchar(b: u8) -> bool {
    is_tchar(b) && !b.is_ascii_uppercase()
}

/// RFC 9113 §8.2.1: no NUL, CR or LF anywhere, no space or tab at either end.
fn valid_value(value: &[u8]) -> bool {
    let edge = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    // Eight bytes at a time: `v` has a zero byte if and only if `(v - 0x01..01) & !v &
    // 0x80..80` is not zero, and a byte equal to CR or LF becomes zero when XOR-ed with it.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let mut words = value.chunks_exact(8);
    let mut forbidden = false;
    for word in &mut words {
        let v = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        forbidden |= has_zero(v)
            | has_zero(v ^ (ONES * u64::from(b'\r')))
            | has_zero(v ^ (ONES * u64::from(b'\n')));
    }
    forbidden |= words
        .remainder()
        .iter()
        .any(|&b| matches!(b, 0 | b'\r' | b'\n'));
    !forbidden && !edge(value.first()) && !edge(value.last())
}

fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(fields: &[(&str, &str)]) -> FieldBlock {
        let mut b = FieldBlock::default();
        b.start(false, 16 * 1024, 64);
        for (n, v) in fields {
            b.add(n.as_bytes(), v.as_bytes());
        }
        b
    }

    const GET: [(&str, &str); 4] = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/plain?a=1"),
        (":authority", "example:80"),
    ];

    #[test]
    fn a_get_becomes_the_head_http1_would_give() {
        let mut fields = GET.to_vec();
        fields.push(("accept", "*/*"));
        let b = block(&fields);
        assert_eq!(b.finish(), Ok(()));
        let seen = b.with_head(true, |head| {
            assert_eq!(head.method, Method::Get);
            assert_eq!(head.uri, "/plain?a=1");
            assert_eq!(head.header("accept"), Some(&b"*/*"[..]));
            assert_eq!(head.header("Host"), Some(&b"example:80"[..]));
            assert_eq!(head.framing, BodyFraming::None);
        });
        assert!(seen.is_some());
    }

    #[test]
    fn a_body_without_length_is_read_to_end_stream() {
        let b = block(&GET);
        b.with_head(false, |head| assert_eq!(head.framing, BodyFraming::Chunked));
        let mut fields = GET.to_vec();
        fields.push(("content-length", "5"));
        let b = block(&fields);
        assert_eq!(b.content_length(), Some(5));
        b.with_head(false, |head| {
            assert_eq!(head.framing, BodyFraming::Length(5))
        });
    }

    #[test]
    fn every_field_reaches_the_head_either_side_of_the_short_slots() {
        for regular in [
            SHORT_SLOTS - 2,
            SHORT_SLOTS - 1,
            SHORT_SLOTS,
            SHORT_SLOTS + 1,
        ] {
            let names: Vec<String> = (0..regular).map(|i| format!("x-{i}")).collect();
            let mut fields = GET.to_vec();
            fields.extend(names.iter().map(|n| (n.as_str(), "v")));
            let b = block(&fields);
            assert_eq!(b.finish(), Ok(()));
            let seen = b.with_head(true, |head| {
                assert_eq!(head.headers.len(), regular + 1, "{regular} fields and host");
                assert_eq!(head.header("Host"), Some(&b"example:80"[..]));
                let last = format!("x-{}", regular - 1);
                assert_eq!(head.header(&last), Some(&b"v"[..]));
            });
            assert!(seen.is_some());
        }
    }

    #[test]
    fn only_the_method_and_path_must_be_text() {
        let with = |path: &[u8], authority: &[u8], value: &[u8]| {
            let mut b = FieldBlock::default();
            b.start(false, 16 * 1024, 64);
            b.add(b":method", b"GET");
            b.add(b":scheme", b"http");
            b.add(b":path", path);
            b.add(b":authority", authority);
            b.add(b"x-a", value);
            assert_eq!(b.finish(), Ok(()));
            b.with_head(true, |head| {
                assert_eq!(head.header("x-a"), Some(value));
                (head.uri.to_owned(), head.header("host").map(<[u8]>::to_vec))
            })
        };
        assert_eq!(
            with(b"/a", b"h\xff", b"v\xfe"),
            Some(("/a".to_owned(), Some(b"h\xff".to_vec())))
        );
        assert_eq!(with(b"/\xff", b"h", b"v"), None, "a path that is no text");
        assert_eq!(
            with("/é".as_bytes(), b"h", b"v"),
            None,
            "a path that is not ASCII"
        );
        let mut connect = FieldBlock::default();
        connect.start(false, 16 * 1024, 64);
        connect.add(b":method", b"CONNECT");
        connect.add(b":authority", b"example:443");
        assert_eq!(connect.finish(), Ok(()));
        let target = connect.with_head(true, |head| head.uri.to_owned());
        assert_eq!(target.as_deref(), Some("example:443"));
    }

    #[test]
    fn names_and_values_are_checked_byte_by_byte() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), expected, "{b:#x}");
            assert_eq!(
                is_lower_tchar(b),
                expected && !b.is_ascii_uppercase(),
                "{b:#x}"
            );
            let value = [b'a', b, b'a'];
            let valid = !matches!(b, 0 | b'\r' | b'\n');
            assert_eq!(valid_value(&value), valid, "{b:#x}");
            // Every place in a value of two words and a remainder.
            for at in 0..19 {
                let mut value = [b'a'; 19];
                value[at] = b;
                let edge = matches!(b, b' ' | b'\t') && (at == 0 || at == 18);
                assert_eq!(valid_value(&value), valid && !edge, "{b:#x} at {at}");
            }
        }
        assert!(!valid_value(b" a") && !valid_value(b"a\t") && valid_value(b""));
    }

    #[test]
    fn malformed_blocks_are_refused() {
        let cases: &[&[(&str, &str)]] = &[
            &[(":method", "GET"), (":scheme", "http")],
            &[(":method", "GET"), (":path", "/")],
            &[(":scheme", "http"), (":path", "/")],
            &[(":method", "GET"), (":scheme", "http"), (":path", "")],
            &[
                (":method", "GET"),
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":status", "200"),
            ],
            &[
                (":method", "GET"),
                ("a", "b"),
                (":scheme", "http"),
                (":path", "/"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("Accept", "x"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("connection", "x"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("upgrade", "h2c"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("te", "gzip"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("a", "x\ny"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("a", " x"),
            ],
            &[
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/"),
                ("content-length", "1"),
                ("content-length", "2"),
            ],
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("content-length", "-1"),
            ],
            &[
                (":method", "CONNECT"),
                (":scheme", "http"),
                (":authority", "a:1"),
            ],
        ];
        for fields in cases {
            let result = block(fields).finish();
            assert!(
                matches!(result, Err(BlockError::Malformed(_))),
                "{fields:?}: {result:?}"
            );
        }
        let mut te = GET.to_vec();
        te.push(("te", "trailers"));
        assert_eq!(block(&te).finish(), Ok(()));
    }

    #[test]
    fn a_list_one_byte_over_its_size_is_too_large() {
        // :method GET is 7 + 3 + 32 = 42 bytes.
        let mut b = FieldBlock::default();
        b.start(false, 42, 64);
        b.add(b":method", b"GET");
        assert_eq!(b.error, None);
        b.start(false, 41, 64);
        b.add(b":method", b"GET");
        assert_eq!(b.finish(), Err(BlockError::TooLarge));
    }

    #[test]
    fn one_field_past_the_count_is_too_large() {
        let mut b = FieldBlock::default();
        b.start(false, 16 * 1024, 2);
        for (n, v) in GET {
            b.add(n.as_bytes(), v.as_bytes());
        }
        b.add(b"a", b"1");
        b.add(b"b", b"2");
        assert_eq!(b.finish(), Ok(()));
        b.add(b"c", b"3");
        assert_eq!(b.finish(), Err(BlockError::TooLarge));
    }

    #[test]
    fn trailers_take_no_pseudo_fields() {
        let mut b = FieldBlock::default();
        b.start(true, 1024, 8);
        b.add(b"x-checksum", b"abc");
        assert_eq!(b.finish(), Ok(()));
        b.add(b":path", b"/");
        assert!(matches!(b.finish(), Err(BlockError::Malformed(_))));
    }
}
