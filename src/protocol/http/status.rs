//! The status codes this server produces, each with its reason phrase and a ready-made status
//! line.
//!
//! Every response starts with one of these lines, so they are `&'static` byte strings chosen by
//! a `match` rather than formatted: writing a status line is one `extend_from_slice`. The
//! variants are named as in RFC 9110 §15, so a reader can look each one up.

/// A response status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// 100: the client may send the body it announced with `Expect: 100-continue`.
    Continue,
    /// 101: the connection now speaks WebSocket.
    SwitchingProtocols,
    /// 200.
    Ok,
    /// 201: a `PUT` made a new file.
    Created,
    /// 204: done, nothing to say (a `PUT` replacing a file, a `DELETE`, `OPTIONS`).
    NoContent,
    /// 206: one byte range of a file.
    PartialContent,
    /// 301: a directory asked for without its trailing slash.
    MovedPermanently,
    /// 304: the client's cached copy is still good.
    NotModified,
    /// 400: the request cannot be parsed, or its framing is ambiguous.
    BadRequest,
    /// 401: a write without valid credentials.
    Unauthorized,
    /// 403: a path that tries to leave the document root, or a file we may not read.
    Forbidden,
    /// 404.
    NotFound,
    /// 405: a known method the resource does not support; sent with `Allow`.
    MethodNotAllowed,
    /// 408: the request head did not arrive in time.
    RequestTimeout,
    /// 411: a `POST` or `PUT` without `Content-Length` or chunked framing.
    LengthRequired,
    /// 412: `If-Match` or `If-Unmodified-Since` (or `If-None-Match` on a write) failed.
    PreconditionFailed,
    /// 413: the body is over the configured maximum.
    ContentTooLarge,
    /// 414: the request target is over the configured maximum.
    UriTooLong,
    /// 416: a byte range wholly outside the file.
    RangeNotSatisfiable,
    /// 417: an `Expect` other than `100-continue`.
    ExpectationFailed,
    /// 421: a `Host` this server does not answer for (`--server-name`; DNS rebinding).
    MisdirectedRequest,
    /// 426: a WebSocket handshake of a version other than 13 (or no upgrade at all on a
    /// WebSocket resource); sent with `Sec-WebSocket-Version` or `Upgrade`.
    UpgradeRequired,
    /// 429: too many wrong credentials from this address lately; sent with `Retry-After`.
    TooManyRequests,
    /// 431: the head is too long or has too many fields.
    RequestHeaderFieldsTooLarge,
    /// 500: an unexpected failure on our side (logged).
    InternalServerError,
    /// 501: a method token we do not know.
    NotImplemented,
    /// 503: the server is at its connection limit.
    ServiceUnavailable,
    /// 505: an HTTP version other than 1.0 and 1.1.
    HttpVersionNotSupported,
}

impl Status {
    /// Every status this server sends, in code order.
    #[cfg(test)]
    pub(crate) const ALL: [Status; 28] = [
        Status::Continue,
        Status::SwitchingProtocols,
        Status::Ok,
        Status::Created,
        Status::NoContent,
        Status::PartialContent,
        Status::MovedPermanently,
        Status::NotModified,
        Status::BadRequest,
        Status::Unauthorized,
        Status::Forbidden,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::RequestTimeout,
        Status::LengthRequired,
        Status::PreconditionFailed,
        Status::ContentTooLarge,
        Status::UriTooLong,
        Status::RangeNotSatisfiable,
        Status::ExpectationFailed,
        Status::MisdirectedRequest,
        Status::UpgradeRequired,
        Status::TooManyRequests,
        Status::RequestHeaderFieldsTooLarge,
        Status::InternalServerError,
        Status::NotImplemented,
        Status::ServiceUnavailable,
        Status::HttpVersionNotSupported,
    ];

    /// The numeric code.
    pub(crate) fn code(self) -> u16 {
        match self {
            Status::Continue => 100,
            Status::SwitchingProtocols => 101,
            Status::Ok => 200,
            Status::Created => 201,
            Status::NoContent => 204,
            Status::PartialContent => 206,
            Status::MovedPermanently => 301,
            Status::NotModified => 304,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::LengthRequired => 411,
            Status::PreconditionFailed => 412,
            Status::ContentTooLarge => 413,
            Status::UriTooLong => 414,
            Status::RangeNotSatisfiable => 416,
            Status::ExpectationFailed => 417,
            Status::MisdirectedRequest => 421,
            Status::UpgradeRequired => 426,
            Status::TooManyRequests => 429,
            Status::RequestHeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
            Status::NotImplemented => 501,
            Status::ServiceUnavailable => 503,
            Status::HttpVersionNotSupported => 505,
        }
    }

    /// The whole status line, CRLF included. We always answer as HTTP/1.1, the highest
    /// version we speak, whatever minor version the request used (RFC 9110 §6.2).
    pub(crate) fn line(self) -> &'static [u8] {
        match self {
            Status::Continue => b"HTTP/1.1 100 Continue\r\n",
            Status::SwitchingProtocols => b"HTTP/1.1 101 Switching Protocols\r\n",
            Status::Ok => b"HTTP/1.1 200 OK\r\n",
            Status::Created => b"HTTP/1.1 201 Created\r\n",
            Status::NoContent => b"HTTP/1.1 204 No Content\r\n",
            Status::PartialContent => b"HTTP/1.1 206 Partial Content\r\n",
            Status::MovedPermanently => b"HTTP/1.1 301 Moved Permanently\r\n",
            Status::NotModified => b"HTTP/1.1 304 Not Modified\r\n",
            Status::BadRequest => b"HTTP/1.1 400 Bad Request\r\n",
            Status::Unauthorized => b"HTTP/1.1 401 Unauthorized\r\n",
            Status::Forbidden => b"HTTP/1.1 403 Forbidden\r\n",
            Status::NotFound => b"HTTP/1.1 404 Not Found\r\n",
            Status::MethodNotAllowed => b"HTTP/1.1 405 Method Not Allowed\r\n",
            Status::RequestTimeout => b"HTTP/1.1 408 Request Timeout\r\n",
            Status::LengthRequired => b"HTTP/1.1 411 Length Required\r\n",
            Status::PreconditionFailed => b"HTTP/1.1 412 Precondition Failed\r\n",
            Status::ContentTooLarge => b"HTTP/1.1 413 Content Too Large\r\n",
            Status::UriTooLong => b"HTTP/1.1 414 URI Too Long\r\n",
            Status::RangeNotSatisfiable => b"HTTP/1.1 416 Range Not Satisfiable\r\n",
            Status::ExpectationFailed => b"HTTP/1.1 417 Expectation Failed\r\n",
            Status::MisdirectedRequest => b"HTTP/1.1 421 Misdirected Request\r\n",
            Status::UpgradeRequired => b"HTTP/1.1 426 Upgrade Required\r\n",
            Status::TooManyRequests => b"HTTP/1.1 429 Too Many Requests\r\n",
            Status::RequestHeaderFieldsTooLarge => {
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            }
            Status::InternalServerError => b"HTTP/1.1 500 Internal Server Error\r\n",
            Status::NotImplemented => b"HTTP/1.1 501 Not Implemented\r\n",
            Status::ServiceUnavailable => b"HTTP/1.1 503 Service Unavailable\r\n",
            Status::HttpVersionNotSupported => b"HTTP/1.1 505 HTTP Version Not Supported\r\n",
        }
    }

    /// The reason phrase alone, for small error bodies and logs.
    pub(crate) fn reason(self) -> &'static [u8] {
        let line = self.line();
        // "HTTP/1.1 NNN " is 13 bytes; the line ends with CRLF.
        line.get(13..line.len().saturating_sub(2)).unwrap_or(b"")
    }

    /// 0 for 1xx up to 4 for 5xx: an index into per-class counters.
    pub(crate) fn class_index(self) -> usize {
        usize::from(self.code() / 100).saturating_sub(1).min(4)
    }

    /// Whether a response with this status carries no content by definition, and so must not
    /// send `Content-Length` (RFC 9110 §8.6: 1xx and 204; for 304 we omit it, which is always
    /// allowed, rather than repeat the length of a body we do not send).
    pub(crate) fn is_bodiless(self) -> bool {
        matches!(
            self,
            Status::Continue | Status::SwitchingProtocols | Status::NoContent | Status::NotModified
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_parses_back_to_its_code() {
        for status in Status::ALL {
            let mut headers = [httparse::EMPTY_HEADER; 1];
            let mut response = httparse::Response::new(&mut headers);
            let mut line = status.line().to_vec();
            line.extend_from_slice(b"\r\n");
            assert!(response.parse(&line).unwrap().is_complete(), "{status:?}");
            assert_eq!(response.code, Some(status.code()));
            assert_eq!(response.reason.unwrap().as_bytes(), status.reason());
        }
    }

    #[test]
    fn classes_index_the_counters() {
        assert_eq!(Status::Continue.class_index(), 0);
        assert_eq!(Status::Ok.class_index(), 1);
        assert_eq!(Status::NotModified.class_index(), 2);
        assert_eq!(Status::NotFound.class_index(), 3);
        assert_eq!(Status::HttpVersionNotSupported.class_index(), 4);
    }
}
