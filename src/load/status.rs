//! Which HTTP statuses count as errors (`--error-status`), and the table of statuses seen.
//!
//! wrk, hey and oha count every response as a response: a 404 is timed and shown in a
//! status-code table, never dropped. evserve does the same, with one default of its own: a
//! 5xx is an error unless told otherwise. A 5xx says the server failed the request (RFC 9110
//! §15.6), and under load that is the failure a load test exists to find: an overloaded proxy
//! answering `503` in 40 µs would otherwise score as the fastest server of the day, and a
//! latency objective (`load sweep --slo`) would never be crossed. A 4xx answers what was
//! asked (a load test of the 404 path is a fair test), so it is a response unless
//! `--error-status 4xx` says otherwise. `--error-status none` makes every status a response,
//! as in hey and oha.
//!
//! A set is a bitmap of the statuses 100 to 999 (the three digits httparse accepts), so
//! judging a response is one bit test and nothing is allocated.

use std::fmt;

/// Statuses from 0 to this (exclusive) are representable.
const LIMIT: usize = 1000;

/// A set of HTTP status codes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StatusSet {
    bits: [u64; LIMIT.div_ceil(64)],
}

impl StatusSet {
    /// No status.
    pub const NONE: StatusSet = StatusSet {
        bits: [0; LIMIT.div_ceil(64)],
    };

    /// The default of `--error-status`: every 5xx.
    pub fn server_errors() -> StatusSet {
        let mut set = StatusSet::NONE;
        set.insert_range(500, 599);
        set
    }

    fn insert_range(&mut self, from: u16, to: u16) {
        for code in from..=to {
            let code = usize::from(code);
            self.bits[code / 64] |= 1 << (code % 64);
        }
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        let code = usize::from(code);
        code < LIMIT && self.bits[code / 64] & (1 << (code % 64)) != 0
    }

    /// Parses a comma-separated list of codes (`404`), classes (`4xx`), or `none`.
    pub fn parse(s: &str) -> Result<StatusSet, String> {
        let mut set = StatusSet::NONE;
        for item in s.split(',').map(str::trim) {
            let lower = item.to_ascii_lowercase();
            if lower == "none" {
                continue;
            }
            let bad = || {
                format!(
                    "'{item}' is not a status: give codes (404), classes (4xx, 5xx) or none, \
                     comma-separated"
                )
            };
            if let Some(class) = lower.strip_suffix("xx") {
                let digit: u16 = class.parse().map_err(|_| bad())?;
                if !(1..=9).contains(&digit) || class.len() != 1 {
                    return Err(bad());
                }
                set.insert_range(digit * 100, digit * 100 + 99);
            } else {
                let code: u16 = lower.parse().map_err(|_| bad())?;
                if !(100..=999).contains(&code) || lower.len() != 3 {
                    return Err(bad());
                }
                set.insert_range(code, code);
            }
        }
        Ok(set)
    }
}

impl Default for StatusSet {
    fn default() -> StatusSet {
        StatusSet::server_errors()
    }
}

impl fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codes = (0..LIMIT as u16).filter(|&c| self.contains(c));
        f.debug_set().entries(codes).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_classes_and_none() {
        let s = StatusSet::parse("4xx, 503").unwrap();
        assert!(s.contains(400) && s.contains(499) && s.contains(503));
        assert!(!s.contains(399) && !s.contains(500) && !s.contains(200));
        assert_eq!(StatusSet::parse("none").unwrap(), StatusSet::NONE);
        let d = StatusSet::default();
        assert!(d.contains(500) && d.contains(599) && !d.contains(404) && !d.contains(600));
        assert!(!d.contains(u16::MAX));
        for bad in ["", "4x", "0xx", "10xx", "99", "1000", "abc", "5xx,", "x5xx"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
    }
}
