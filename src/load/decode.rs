//! A reply decoder's verdict: the types every protocol's decoder (`echo.rs`, `framed.rs`,
//! `http.rs`, `ws.rs`, `h2.rs`) answers with and `driver.rs` dispatches on. Kept apart from the driver
//! so that the decoders depend on this file and the driver on them, not in a circle.

/// What the decoder made of the bytes offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// The reply is not complete yet. `used` bytes were consumed; the caller keeps the rest
    /// (a bounded, incomplete piece: a header, a line) and offers it again with more.
    Partial {
        /// Bytes consumed from the front.
        used: usize,
    },
    /// One reply completed with the first `used` bytes.
    Reply {
        /// Bytes consumed from the front, including any consumed by earlier `Partial`s' rest.
        used: usize,
        /// Whether it was the right reply.
        outcome: Outcome,
        /// The server will close the connection after this reply (HTTP `Connection: close`).
        close: bool,
    },
    /// The bytes are not a reply of this protocol; the connection must be replaced.
    Broken(Broken),
}

/// How a complete reply was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The expected reply.
    Ok,
    /// Complete, but not the bytes that were sent (echo, framed, udp).
    Mismatch,
    /// A whole HTTP response with this status; [`super::driver::Driver::is_error`] judges it.
    Status(u16),
}

/// Why a stream cannot be decoded further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Broken {
    /// Not an HTTP/1.x response head.
    BadHead,
    /// A response head larger than [`super::http::MAX_HEAD`].
    HeadTooLarge,
    /// A `Content-Length` that is not a number, or two that disagree.
    BadLength,
    /// A malformed chunk in a chunked body.
    BadChunk,
    /// A status the load generator cannot follow (101 Switching Protocols).
    Unsupported,
    /// A length-prefixed frame longer than [`super::framed::MAX_FRAME`].
    FrameTooLarge,
    /// Bytes arrived when no request was waiting for them.
    Unsolicited,
    /// The answer to a WebSocket upgrade was not `101 Switching Protocols`.
    NoUpgrade,
    /// The server answers in another protocol: its name (`HTTP`, `TLS`, `SSH`).
    Speaks(&'static str),
    /// An HTTP/2 connection error: RFC 9113's name of the code (`PROTOCOL_ERROR`).
    Http2(&'static str),
    /// The server sends frames that must be answered (PING, SETTINGS) but reads none of the
    /// answers: more than [`super::h2::MAX_UNREAD`] bytes wait for it.
    Unread,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::BadHead => f.write_str("not an HTTP/1.x response head"),
            Broken::HeadTooLarge => f.write_str("response head too large"),
            Broken::BadLength => f.write_str("bad Content-Length"),
            Broken::BadChunk => f.write_str("malformed chunked body"),
            Broken::Unsupported => f.write_str("a status the load generator cannot follow"),
            Broken::FrameTooLarge => {
                f.write_str("a length header over the limit (is the framing right? --framing)")
            }
            Broken::Unsolicited => f.write_str("bytes arrived with no request waiting"),
            Broken::NoUpgrade => f.write_str(
                "the server refused the WebSocket upgrade (no 101; is /ws/echo served there?)",
            ),
            Broken::Speaks(protocol) => write!(f, "the server answers in {protocol}"),
            Broken::Http2(code) => write!(f, "HTTP/2 connection error {code}"),
            Broken::Unread => f.write_str("the server does not read what it must be answered"),
        }
    }
}
