//! Echo replies: the request's own bytes coming back, over TCP (a stream) or UDP (datagrams).
//!
//! The payload is a known pattern of printable bytes (`abc…z` repeated, never a line feed,
//! so the same payload serves line framing too).
//!
//! Over TCP the reply is exactly as long as the request, so the stream stays in step even
//! when the bytes are wrong: [`MirrorReply`] compares what arrives against the request as it
//! streams past, keeping nothing, and judges the reply once `len` bytes have come.
//!
//! Over UDP datagrams may be lost, duplicated or arrive after their request timed out. So each
//! datagram carries a sequence stamp in its first bytes (up to 8, little-endian, truncated for
//! shorter payloads) and a reply is matched to its request by the stamp, never by order.

use super::decode::{Decode, Outcome};

/// A payload of `size` printable bytes, never containing a line feed.
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Progress through one TCP echo reply.
#[derive(Debug, Clone, Default)]
pub struct MirrorReply {
    /// Bytes of the reply seen so far.
    seen: usize,
    /// Some byte so far differed from the request.
    wrong: bool,
}

impl MirrorReply {
    /// Consumes up to the rest of the reply to `request` from `src`.
    pub fn decode(&mut self, request: &[u8], src: &[u8]) -> Decode {
        let want = &request[self.seen..];
        let take = want.len().min(src.len());
        self.wrong |= src[..take] != want[..take];
        self.seen += take;
        if self.seen < request.len() {
            return Decode::Partial { used: take };
        }
        let outcome = if std::mem::take(&mut self.wrong) {
            Outcome::Mismatch
        } else {
            Outcome::Ok
        };
        self.seen = 0;
        Decode::Reply {
            used: take,
            outcome,
            close: false,
        }
    }
}

/// How many leading bytes of a `len`-byte datagram hold the sequence stamp.
fn stamp_len(len: usize) -> usize {
    len.min(8)
}

/// Writes `seq` into the first bytes of `datagram`.
pub fn stamp(datagram: &mut [u8], seq: u64) {
    let n = stamp_len(datagram.len());
    datagram[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
}

/// The mask of the bits of a sequence number a `len`-byte datagram can carry.
pub fn stamp_mask(len: usize) -> u64 {
    match stamp_len(len) {
        8 => u64::MAX,
        n => (1u64 << (8 * n)) - 1,
    }
}

/// Checks that `datagram` is `request` with a stamp; returns the stamp.
pub fn check_datagram(request: &[u8], datagram: &[u8]) -> Result<u64, Outcome> {
    let n = stamp_len(request.len());
    if datagram.len() != request.len() || datagram[n..] != request[n..] {
        return Err(Outcome::Mismatch);
    }
    let mut seq = [0u8; 8];
    seq[..n].copy_from_slice(&datagram[..n]);
    Ok(u64::from_le_bytes(seq))
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

    #[test]
    fn replies_whole_split_and_stuck_together() {
        let request = payload(4);
        let mut r = MirrorReply::default();
        assert_eq!(r.decode(&request, b"abcdab"), reply(4, Outcome::Ok));
        assert_eq!(r.decode(&request, b"ab"), Decode::Partial { used: 2 });
        assert_eq!(r.decode(&request, b"cdabcd"), reply(2, Outcome::Ok));
    }

    #[test]
    fn a_wrong_byte_makes_a_wrong_reply_of_the_same_length() {
        let request = payload(4);
        let mut r = MirrorReply::default();
        assert_eq!(r.decode(&request, b"aX"), Decode::Partial { used: 2 });
        assert_eq!(r.decode(&request, b"cdabcd"), reply(2, Outcome::Mismatch));
        // The next reply starts clean.
        assert_eq!(r.decode(&request, b"abcd"), reply(4, Outcome::Ok));
    }

    #[test]
    fn byte_by_byte() {
        let request = payload(5);
        let mut r = MirrorReply::default();
        for b in &request[..4] {
            assert_eq!(
                r.decode(&request, std::slice::from_ref(b)),
                Decode::Partial { used: 1 }
            );
        }
        assert_eq!(r.decode(&request, b"e"), reply(1, Outcome::Ok));
    }

    #[test]
    fn datagram_stamps_round_trip_and_truncate() {
        let request = payload(12);
        let mut d = request.clone();
        stamp(&mut d, 0x0102_0304_0506_0708);
        assert_eq!(check_datagram(&request, &d), Ok(0x0102_0304_0506_0708));
        d[11] ^= 1;
        assert_eq!(check_datagram(&request, &d), Err(Outcome::Mismatch));
        assert_eq!(
            check_datagram(&request, &request[..11]),
            Err(Outcome::Mismatch)
        );

        let short = payload(2);
        let mut d = short.clone();
        stamp(&mut d, 0x1_2345);
        assert_eq!(check_datagram(&short, &d), Ok(0x2345));
        assert_eq!(stamp_mask(2), 0xffff);
        assert_eq!(stamp_mask(64), u64::MAX);
    }
}
