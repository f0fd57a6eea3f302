//! `evserve load ws HOST:PORT`: WebSocket echo against `/ws/echo`, without sockets.
//!
//! A WebSocket connection differs from the other request/reply protocols in one phase only:
//! the opening handshake, before the first message. So it is a driver like the others, run by
//! the same runner and connections (`tcp.rs`, and over TLS `tls.rs`), with a *preamble*:
//!
//! ```text
//!   connect ─► preamble: GET /ws/echo … Upgrade ─► WsReply::Upgrade: wait for the 101 head
//!                                                        │ 101
//!                                                        ▼
//!   requests (masked binary frames, pipelined) ──► WsReply::Open: each reply compared, as it
//!                                                  streams past, with the one frame the
//!                                                  server must send back (unmasked, same
//!                                                  payload)
//! ```
//!
//! No message is written before the `101`: the bytes after an upgrade request belong to the
//! new protocol only once the server has agreed ([`Driver::ready`](super::driver::Driver)).
//! The request frame and the expected reply are built once per run, so the hot path
//! allocates and formats nothing. A reply of the right length with other bytes is a wrong
//! reply and the stream stays in step; anything but a `101` to the upgrade breaks the
//! connection, which is replaced. `--rate`, `--pipeline` and `--threads` work as for echo:
//! the server answers the messages of a connection in order.
//!
//! The masking key is fixed: RFC 6455 wants it unpredictable so that a page's script cannot
//! steer the bytes on the wire past a naive proxy; a load generator has no such script.

use super::decode::{Broken, Decode};
use super::echo::{self, MirrorReply};

/// The key of the opening handshake (any 16 bytes, base64; this one is RFC 6455's example).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The masking key of every frame sent.
const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x2e];
/// The largest `101` head accepted.
pub const MAX_HEAD: usize = 4096;

/// The opening handshake for `host` (the `Host` header: HOST:PORT as given).
pub fn handshake(host: &str) -> Vec<u8> {
    format!(
        "GET /ws/echo HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// The message a client sends: a masked binary frame of `size` payload bytes.
pub fn request(size: usize) -> Vec<u8> {
    frame(&echo::payload(size), Some(MASK))
}

/// The reply the server must send to [`request`]: the same payload, unmasked.
pub fn reply(size: usize) -> Vec<u8> {
    frame(&echo::payload(size), None)
}

/// A final binary frame carrying `payload`, masked with `mask` if given.
fn frame(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![0x82];
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        None => out.extend_from_slice(payload),
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
    }
    out
}

/// Where a WebSocket connection's input is.
#[derive(Debug, Clone, Default)]
pub enum WsReply {
    /// Waiting for the `101 Switching Protocols` head.
    #[default]
    Upgrade,
    /// Upgraded: echoed frames, compared as they stream past.
    Open(MirrorReply),
}

impl WsReply {
    /// Whether the upgrade is done, so messages may be written.
    pub fn is_open(&self) -> bool {
        matches!(self, WsReply::Open(_))
    }

    /// Consumes from `src` toward the next reply, which must equal `expected`.
    pub fn decode(&mut self, expected: &[u8], src: &[u8]) -> Decode {
        let mut used = 0;
        if let WsReply::Upgrade = self {
            let Some(end) = src.windows(4).position(|w| w == b"\r\n\r\n") else {
                if src.len() > MAX_HEAD {
                    return Decode::Broken(Broken::HeadTooLarge);
                }
                return Decode::Partial { used: 0 };
            };
            if !src.starts_with(b"HTTP/1.1 101 ") {
                return Decode::Broken(Broken::NoUpgrade);
            }
            used = end + 4;
            *self = WsReply::Open(MirrorReply::default());
        }
        let WsReply::Open(mirror) = self else {
            return Decode::Partial { used };
        };
        match mirror.decode(expected, &src[used..]) {
            Decode::Partial { used: n } => Decode::Partial { used: used + n },
            Decode::Reply {
                used: n,
                outcome,
                close,
            } => Decode::Reply {
                used: used + n,
                outcome,
                close,
            },
            broken @ Decode::Broken(_) => broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::Outcome;
    use super::*;

    const UPGRADED: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

    #[test]
    fn frames_are_masked_only_when_asked() {
        assert_eq!(frame(b"ab", None), [0x82, 2, b'a', b'b']);
        let masked = frame(b"ab", Some([1, 2, 3, 4]));
        assert_eq!(masked, [0x82, 0x82, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2]);
        assert_eq!(frame(&[0; 300], None)[..4], [0x82, 126, 1, 44]);
    }

    #[test]
    fn the_upgrade_then_replies_whole_and_byte_by_byte() {
        let want = reply(3);
        let mut r = WsReply::default();
        assert_eq!(
            r.decode(&want, &UPGRADED[..10]),
            Decode::Partial { used: 0 }
        );
        assert!(!r.is_open());
        let stream = [UPGRADED, &want, &want].concat();
        let first = r.decode(&want, &stream);
        assert!(r.is_open());
        let reply_at = |used| Decode::Reply {
            used,
            outcome: Outcome::Ok,
            close: false,
        };
        assert_eq!(first, reply_at(UPGRADED.len() + want.len()));
        for (i, b) in want.iter().enumerate() {
            let got = r.decode(&want, std::slice::from_ref(b));
            if i + 1 < want.len() {
                assert_eq!(got, Decode::Partial { used: 1 });
            } else {
                assert_eq!(got, reply_at(1));
            }
        }
        let mut wrong = want.clone();
        wrong[2] ^= 1;
        let got = r.decode(&want, &wrong);
        assert!(matches!(
            got,
            Decode::Reply {
                outcome: Outcome::Mismatch,
                ..
            }
        ));
    }

    #[test]
    fn a_refused_upgrade_breaks_the_connection() {
        let mut r = WsReply::default();
        let refused = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            r.decode(&reply(3), refused),
            Decode::Broken(Broken::NoUpgrade)
        );
        let mut r = WsReply::default();
        let endless = vec![b'x'; MAX_HEAD + 1];
        assert_eq!(
            r.decode(&reply(3), &endless),
            Decode::Broken(Broken::HeadTooLarge)
        );
    }
}
