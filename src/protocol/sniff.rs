//! Recognising the wrong protocol on a port from its first bytes.
//!
//! People point the wrong client at a port: `curl` at the files port, `nc` typing lines at a
//! length-framed port, `https://` at a plain one, `evserve send` at the HTTP port. A framed
//! decoder then reads `GET ` or `HTTP` as a length (`frame too large: 1195725856`), which tells
//! nobody anything. The first bytes of the common protocols are distinctive, so a decoder that
//! has just failed can ask this module what the bytes *were* and answer in words:
//!
//! ```text
//!   a client sent (to a framed or files port)      the server answers, then closes
//!   ─────────────────────────────────────────      ───────────────────────────────────────────
//!   "GET / HTTP/1.1" (any common method)           an HTTP 400 whose body names the protocol
//!   16 03 0x  (a TLS ClientHello record)           a TLS handshake_failure alert
//!   printable text                                 one text line naming the protocol
//!
//!   a server answered (to `send`, `load framed`)   the client reports
//!   ─────────────────────────────────────────      ───────────────────────────────────────────
//!   "HTTP/1."                                      the port speaks HTTP
//!   15 03 0x / 16 03 0x  (a TLS record)            the port speaks TLS
//!   "SSH-"                                         the port speaks SSH
//! ```
//!
//! Only bytes that already failed to decode are sniffed, so a valid frame that happens to
//! start with `GET ` is never misjudged, and nothing is spent on the hot path. Sans-IO: bytes
//! in, a verdict or bytes to answer with out.

use crate::session::Ctx;

/// What a client sent, when it is not what the port speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Foreign {
    /// An HTTP/1.x request line.
    HttpRequest,
    /// A TLS record carrying a handshake (a ClientHello).
    TlsClientHello,
    /// Printable text, as typed into `nc` or `telnet`.
    Text,
}

/// The methods recognised at the start of a request line.
const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"TRACE ",
    b"CONNECT ",
];

/// Recognises what a client sent from its first bytes (at least the first four).
pub(crate) fn client(first: &[u8]) -> Option<Foreign> {
    if METHODS.iter().any(|m| first.starts_with(m)) {
        return Some(Foreign::HttpRequest);
    }
    if let [0x16, 0x03, minor, ..] = first
        && *minor <= 0x04
    {
        return Some(Foreign::TlsClientHello);
    }
    let head = first.get(..4)?;
    if head
        .iter()
        .all(|&b| b.is_ascii_graphic() || b" \t\r\n".contains(&b))
    {
        return Some(Foreign::Text);
    }
    None
}

/// Recognises the protocol of a server's answer from its first bytes: `HTTP`, `TLS` or `SSH`.
pub fn server(first: &[u8]) -> Option<&'static str> {
    if first.starts_with(b"HTTP/1.") || first.starts_with(b"HTTP/2") {
        return Some("HTTP");
    }
    if let [0x15 | 0x16, 0x03, minor, ..] = first
        && *minor <= 0x04
    {
        return Some("TLS");
    }
    if first.starts_with(b"SSH-") {
        return Some("SSH");
    }
    None
}

/// The bytes to answer a `foreign` client with on a port that speaks `speaks` (e.g. "evserve
/// framed messages (a 4-byte big-endian length, then the payload)"), in the client's own
/// protocol where it has one, so that `curl` or `nc` shows the reason.
pub(crate) fn answer(foreign: Foreign, speaks: &str) -> Vec<u8> {
    match foreign {
        Foreign::HttpRequest => {
            let body = format!("this port speaks {speaks}, not HTTP\n");
            format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        // A fatal handshake_failure alert: TLS clients report it instead of a garbled record.
        Foreign::TlsClientHello => vec![0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28],
        Foreign::Text => format!("ERR this port speaks {speaks}, not text lines\n").into_bytes(),
    }
}

/// The one-call hook for a decoder that failed on `rest` (the bytes from the frame that failed
/// on): if they are another protocol's, logs it, appends the answer to `cx`'s output and returns
/// true; the caller then closes. Otherwise returns false and the caller refuses as usual.
pub(crate) fn refuse_foreign(rest: &[u8], speaks: &str, cx: &mut Ctx<'_>) -> bool {
    let Some(foreign) = client(rest) else {
        return false;
    };
    // Debug, not info: a load generator pointed at the wrong port would flood the log.
    log::debug!(
        "{}: {} on a port that speaks {speaks}",
        cx.peer(),
        describe(foreign)
    );
    cx.out().extend_from_slice(&answer(foreign, speaks));
    true
}

/// What to log about a `foreign` client.
pub(crate) fn describe(foreign: Foreign) -> &'static str {
    match foreign {
        Foreign::HttpRequest => "an HTTP request",
        Foreign::TlsClientHello => "a TLS ClientHello",
        Foreign::Text => "text",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients() {
        assert_eq!(client(b"GET / HTTP/1.1\r\n"), Some(Foreign::HttpRequest));
        assert_eq!(client(b"DELETE /x"), Some(Foreign::HttpRequest));
        assert_eq!(
            client(&[0x16, 0x03, 0x01, 0x02, 0x00]),
            Some(Foreign::TlsClientHello)
        );
        assert_eq!(client(b"hello\n"), Some(Foreign::Text));
        // A real frame header, and too little to judge.
        assert_eq!(client(&[0, 0, 0, 5, b'h']), None);
        assert_eq!(client(b"hel"), None);
        assert_eq!(client(&[0x16, 0x03, 0x09, 0]), None);
    }

    #[test]
    fn servers() {
        assert_eq!(server(b"HTTP/1.1 400 Bad Request\r\n"), Some("HTTP"));
        assert_eq!(server(&[0x15, 0x03, 0x03, 0, 2, 2, 40]), Some("TLS"));
        assert_eq!(server(b"SSH-2.0-OpenSSH"), Some("SSH"));
        assert_eq!(server(&[0, 0, 0, 2, b'O', b'K']), None);
        assert_eq!(server(b"HTT"), None);
    }

    #[test]
    fn answers_speak_the_clients_protocol() {
        let http = answer(Foreign::HttpRequest, "evserve framed messages");
        let text = String::from_utf8(http).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        assert_eq!(body, "this port speaks evserve framed messages, not HTTP\n");
        assert_eq!(answer(Foreign::TlsClientHello, "x")[..2], [0x15, 0x03]);
        assert_eq!(
            answer(Foreign::Text, "x"),
            b"ERR this port speaks x, not text lines\n"
        );
    }
}
