//! WebSocket (RFC 6455): the frame codec, the opening handshake's key, and the session.
//!
//! ```text
//!  GET /ws/chat HTTP/1.1                 HTTP/1.1 101 Switching Protocols
//!  Upgrade: websocket           ──►      Upgrade: websocket
//!  Sec-WebSocket-Key: K                  Sec-WebSocket-Accept: base64(SHA-1(K + GUID))
//!  Sec-WebSocket-Version: 13
//!                     then frames both ways (frame.rs), on the same connection
//! ```
//!
//! The HTTP service checks the handshake (`http/upgrade.rs`) and, once its `101` is written,
//! hands the connection to a `WsSession`: from then on the reactor feeds the WebSocket
//! session directly, with nothing of HTTP left in the way. Everything here is sans-IO, like
//! every protocol of this crate: `frame::Decoder` takes whatever bytes are buffered and says
//! how many it used, so a message never has to fit the reactor's input buffer at once.
//!
//! We wrote the codec rather than drive tungstenite over an in-memory buffer: its
//! `WebSocket<Stream>` wants a `Read + Write` stream and owns its buffers, so the reactor's
//! zero-copy input and append-only output would have turned into two copies and an
//! allocation per message; the frame format is small enough to state in about 400 lines,
//! with property tests that cut the stream anywhere.

pub(crate) mod frame;
mod session;

use base64::Engine as _;
use sha1::{Digest, Sha1};

pub use session::WsConfig;
pub(crate) use session::{Endpoint, WsSession};

/// The GUID RFC 6455 §1.3 appends to the client's key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version there is (RFC 6455 §4.1); others are refused with 426.
pub(crate) const VERSION: &[u8] = b"13";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: base64 of 16 bytes.
pub(crate) fn key_is_valid(key: &[u8]) -> bool {
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|k| k.len() == 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_key_is_accepted() {
        // RFC 6455 §1.3.
        assert!(key_is_valid(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(!key_is_valid(b"short"));
        assert!(!key_is_valid(b"dGhlIHNhbXBsZSBub25jZQ!!"));
    }
}
