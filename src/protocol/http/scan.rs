//! The search for the end of a request head, one byte examined once.
//!
//! A head arrives in pieces. [`HeadScan`] remembers how far it has searched for the blank line
//! that ends the head, so a client dribbling one byte at a time costs linear work, not
//! quadratic. On the way it watches the limits that must be enforced *before* the head is
//! complete: a request target longer than `max_uri` is refused (414) as soon as it is seen, and
//! a head still open after `max_head` bytes (431), so the input buffer never holds more.
//!
//! The scan only delimits; judging the syntax is httparse's job, in
//! [`parse_head`](super::request::parse_head).

use super::request::{HeadError, RequestLimits};

/// Where [`HeadScan`] is within the head.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ScanPhase {
    /// In the method, or in blank lines before the request line (which RFC 9112 §2.2 asks us
    /// to skip).
    #[default]
    Method,
    /// In the request target, which starts at this offset.
    Target { start: usize },
    /// After the target, before the end of the request line.
    Version,
    /// In the header fields, looking for the empty line.
    Fields,
}

/// The incremental search for the end of a request head.
///
/// Feed it the whole unconsumed input each time (the reactor re-offers it with new bytes
/// appended); it resumes where it stopped. Reset it, with `HeadScan::default()`, when a head
/// has been consumed.
#[derive(Debug, Default, Clone)]
pub struct HeadScan {
    /// Bytes already examined.
    scanned: usize,
    /// Where the line under examination starts.
    line_start: usize,
    phase: ScanPhase,
}

impl HeadScan {
    /// Looks for the end of the head in `buf`. Returns the head's length once its blank line
    /// has arrived, `None` while it is still incomplete, or the limit it broke.
    pub fn scan(&mut self, buf: &[u8], limits: &RequestLimits) -> Result<Option<usize>, HeadError> {
        while self.scanned < buf.len() {
            let found = if self.phase == ScanPhase::Fields {
                self.scan_fields(buf)
            } else {
                self.scan_request_line(buf, limits)?;
                None
            };
            if let Some(len) = found {
                return if len > limits.max_head {
                    Err(HeadError::HeadTooLarge)
                } else {
                    Ok(Some(len))
                };
            }
        }
        // The head is not complete, so every byte buffered so far belongs to it.
        if self.scanned >= limits.max_head {
            return Err(HeadError::HeadTooLarge);
        }
        Ok(None)
    }

    /// Bytes of the head seen so far: zero means no request has started.
    pub(crate) fn scanned(&self) -> usize {
        self.scanned
    }

    /// Moves through the request line one delimiter at a time, measuring the target as it
    /// arrives.
    fn scan_request_line(&mut self, buf: &[u8], limits: &RequestLimits) -> Result<(), HeadError> {
        let rest = buf.get(self.scanned..).unwrap_or_default();
        let found = match self.phase {
            ScanPhase::Method => rest.iter().position(|&b| b == b' ' || b == b'\n'),
            ScanPhase::Target { .. } => {
                rest.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
            }
            ScanPhase::Version | ScanPhase::Fields => find_lf(rest),
        };
        let Some(at) = found else {
            self.scanned = buf.len();
            return match self.phase {
                ScanPhase::Target { start } if buf.len() - start > limits.max_uri => {
                    Err(HeadError::UriTooLong)
                }
                _ => Ok(()),
            };
        };
        let i = self.scanned + at;
        self.scanned = i + 1;
        match (self.phase, buf.get(i)) {
            (ScanPhase::Target { start }, _) if i - start > limits.max_uri => {
                return Err(HeadError::UriTooLong);
            }
            // Blank lines before the request line are skipped (RFC 9112 §2.2).
            (ScanPhase::Method, Some(b'\n')) if is_blank(buf, self.line_start, i) => {
                self.line_start = i + 1;
            }
            (ScanPhase::Method, Some(b' ')) => self.phase = ScanPhase::Target { start: i + 1 },
            (ScanPhase::Target { .. }, Some(b' ' | b'\r')) => self.phase = ScanPhase::Version,
            // The line ends. Whatever it held, httparse will judge it; we only need to know
            // that the header fields start here.
            _ => {
                self.phase = ScanPhase::Fields;
                self.line_start = i + 1;
            }
        }
        Ok(())
    }

    /// Finds the next line ends among the fields; returns the head length at the empty line.
    fn scan_fields(&mut self, buf: &[u8]) -> Option<usize> {
        let rest = buf.get(self.scanned..).unwrap_or_default();
        match find_lf(rest) {
            None => {
                self.scanned = buf.len();
                None
            }
            Some(at) => {
                let lf = self.scanned + at;
                self.scanned = lf + 1;
                if is_blank(buf, self.line_start, lf) {
                    return Some(lf + 1);
                }
                self.line_start = lf + 1;
                None
            }
        }
    }
}

/// The offset of the first LF in `bytes`, looking at eight bytes per step: header lines are
/// tens of bytes long, and this is the only pass over them besides httparse's own.
///
/// Not `memchr`, which `frame.rs` uses: on lines this short its setup costs as much as the
/// search (measured on a 16-request browser head: 1.07–1.67 µs against 1.08–1.37 µs here),
/// while it wins only on lines of hundreds of bytes and more.
fn find_lf(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    const LFS: u64 = u64::from_le_bytes([b'\n'; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        // A byte of `x` is zero where the input has an LF; the classic "has a zero byte" test
        // flags it, and the lowest flag (little-endian: the first byte) is always exact.
        let x = u64::from_le_bytes(eight) ^ LFS;
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(offset + (zeros.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let tail = words.remainder().iter().position(|&b| b == b'\n');
    tail.map(|i| offset + i)
}

/// Whether the line from `start` to the LF at `lf` is empty (bare LF or CRLF).
fn is_blank(buf: &[u8], start: usize, lf: usize) -> bool {
    matches!(buf.get(start..lf), Some(b"" | b"\r"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults: 8 KiB head, 4 KiB target, 64 fields, 16 MiB body.
    static LIMITS: std::sync::LazyLock<RequestLimits> = std::sync::LazyLock::new(|| {
        RequestLimits::of(&crate::protocol::http::HttpConfig::default())
    });

    fn scan(input: &[u8], limits: &RequestLimits) -> Result<Option<usize>, HeadError> {
        let whole = HeadScan::default().scan(input, limits);
        let mut scan = HeadScan::default();
        let mut bytewise = Ok(None);
        for end in 1..=input.len() {
            bytewise = scan.scan(&input[..end], limits);
            if !matches!(bytewise, Ok(None)) {
                break;
            }
        }
        assert_eq!(whole, bytewise, "whole and bytewise scans disagree");
        whole
    }

    #[test]
    fn scan_finds_the_end_of_the_head() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Some(27)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", Some(27)),
            (b"GET / HTTP/1.1\nHost: a\n\n", Some(24)),
            (b"GET / HTTP/1.1\r\n\r\n", Some(18)),
            (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", Some(22)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r", None),
            (b"GET /", None),
            (b"", None),
            // Not a request line, but the head still ends: httparse will call it malformed.
            (b"GARBAGE\r\n\r\n", Some(11)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                scan(input, &LIMITS),
                Ok(*expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn scan_refuses_a_long_target_before_the_head_ends() {
        let limits = RequestLimits {
            max_uri: 10,
            ..*LIMITS
        };
        let at_limit = b"GET /123456789 HTTP/1.1\r\n\r\n";
        assert_eq!(scan(at_limit, &limits), Ok(Some(at_limit.len())));
        assert_eq!(
            scan(b"GET /1234567890 HTTP/1.1\r\n\r\n", &limits),
            Err(HeadError::UriTooLong)
        );
        // No space, no newline yet: the eleventh target byte is enough to know.
        assert_eq!(
            scan(b"GET /1234567890", &limits),
            Err(HeadError::UriTooLong)
        );
        assert_eq!(scan(b"GET /123456789", &limits), Ok(None));
    }

    #[test]
    fn scan_refuses_a_long_head_one_past_the_limit() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let exact = RequestLimits {
            max_head: head.len(),
            ..*LIMITS
        };
        assert_eq!(scan(head, &exact), Ok(Some(head.len())));
        let short = RequestLimits {
            max_head: head.len() - 1,
            ..*LIMITS
        };
        assert_eq!(scan(head, &short), Err(HeadError::HeadTooLarge));
        // An unfinished head is refused as soon as it cannot fit any more.
        assert_eq!(
            scan(&head[..head.len() - 1], &short),
            Err(HeadError::HeadTooLarge)
        );
        assert_eq!(scan(&head[..head.len() - 2], &short), Ok(None));
    }

    #[test]
    fn endless_blank_lines_count_against_the_head_limit() {
        let limits = RequestLimits {
            max_head: 100,
            ..*LIMITS
        };
        assert_eq!(scan(&[b'\n'; 101], &limits), Err(HeadError::HeadTooLarge));
    }

    #[test]
    fn find_lf_agrees_with_a_plain_search() {
        for len in 0..40 {
            for at in 0..=len {
                let mut bytes = vec![b'a'; len];
                if at < len {
                    bytes[at] = b'\n';
                }
                // Bytes that differ from LF by one bit, and high bytes, must not confuse it.
                bytes
                    .iter_mut()
                    .filter(|b| **b == b'a')
                    .step_by(3)
                    .for_each(|b| *b = 0x0b);
                bytes
                    .iter_mut()
                    .filter(|b| **b == b'a')
                    .step_by(2)
                    .for_each(|b| *b = 0x8a);
                let expected = bytes.iter().position(|&b| b == b'\n');
                assert_eq!(find_lf(&bytes), expected, "{bytes:?}");
            }
        }
    }

    proptest::proptest! {
        /// However a stream of heads is split, the scan finds the same end, or the same error.
        #[test]
        fn scan_is_independent_of_the_split(
            lines in proptest::collection::vec("[a-zA-Z0-9: /\r\n.-]{0,40}", 1..8),
            cut in 0usize..400,
        ) {
            let input = lines.concat().into_bytes();
            let limits = RequestLimits { max_head: 200, max_uri: 30, ..*LIMITS };
            let whole = HeadScan::default().scan(&input, &limits);
            let mut scan = HeadScan::default();
            let cut = cut.min(input.len());
            let first = scan.scan(&input[..cut], &limits);
            let split = if first == Ok(None) { scan.scan(&input, &limits) } else { first };
            proptest::prop_assert_eq!(whole, split);
        }
    }
}
