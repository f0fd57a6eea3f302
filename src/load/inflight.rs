//! The requests one connection (or UDP socket) owes, oldest first.
//!
//! ```text
//!   front ─► [ written, awaiting a reply … ][ granted, not yet (fully) written … ] ◄─ back
//!             └──── len - unsent ─────────┘ └──────────── unsent ───────────────┘
//! ```
//!
//! Replies come back in order on a TCP stream, so the front is always the request a reply
//! answers; UDP replies are matched by their sequence stamp instead. Every request granted
//! ends exactly once: answered (ok or wrong), failed with its connection, or timed out. The
//! ring holds at most `pipeline` requests and is allocated once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One request a connection owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Request {
    /// When the schedule meant it to be sent: latency is measured from here, so a server that
    /// stalls the sender is charged for the wait (coordinated omission).
    pub intended: Instant,
    /// When it was handed to the connection: its timeout runs from here.
    pub since: Instant,
    /// Its UDP sequence stamp (unused over TCP).
    pub seq: u64,
}

/// The requests a connection owes, oldest first.
#[derive(Debug)]
pub(super) struct InFlight {
    requests: VecDeque<Request>,
    unsent: usize,
}

impl InFlight {
    /// Room for `pipeline` requests.
    pub fn with_capacity(pipeline: usize) -> InFlight {
        InFlight {
            requests: VecDeque::with_capacity(pipeline),
            unsent: 0,
        }
    }

    /// Requests owed, written or not.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Requests not yet fully written.
    pub fn unsent(&self) -> usize {
        self.unsent
    }

    /// Requests written and awaiting their replies.
    pub fn written(&self) -> usize {
        self.requests.len() - self.unsent
    }

    /// Adds a request to be written.
    pub fn push(&mut self, request: Request) {
        self.requests.push_back(request);
        self.unsent += 1;
    }

    /// The first request not yet written.
    pub fn next_unsent(&self) -> Option<&Request> {
        self.requests.get(self.written())
    }

    /// The first request not yet written can never be (a UDP send failed): removes it.
    pub fn drop_next_unsent(&mut self) -> Option<Request> {
        let request = self.requests.remove(self.written())?;
        self.unsent -= 1;
        Some(request)
    }

    /// `n` more requests were written completely.
    pub fn wrote(&mut self, n: usize) {
        debug_assert!(n <= self.unsent);
        self.unsent -= n.min(self.unsent);
    }

    /// The first request not yet written was, under the stamp `seq` (an HTTP/2 stream id):
    /// its reply may come in any order and is matched by [`InFlight::answer_stamp`].
    pub fn wrote_stamped(&mut self, seq: u64) {
        let at = self.written();
        if let Some(request) = self.requests.get_mut(at) {
            request.seq = seq;
            self.unsent -= 1;
        }
    }

    /// The written request stamped `stamp` was never processed (an HTTP/2 stream refused, or
    /// above a GOAWAY's last stream): it becomes the first unsent one, to be written again,
    /// its schedule and timeout unchanged.
    pub fn unsend_stamp(&mut self, stamp: u64) {
        let written = self.written();
        let Some(at) = self.requests.range(..written).position(|r| r.seq == stamp) else {
            return;
        };
        if let Some(request) = self.requests.remove(at) {
            self.requests.insert(written - 1, request);
            self.unsent += 1;
        }
    }

    /// A reply arrived on a stream: it answers the oldest written request.
    pub fn answer(&mut self) -> Option<Request> {
        if self.written() == 0 {
            return None;
        }
        self.requests.pop_front()
    }

    /// A datagram stamped `stamp` (the sequence number's low bits under `mask`) arrived: it
    /// answers the written request with that stamp, if one still waits.
    pub fn answer_stamp(&mut self, stamp: u64, mask: u64) -> Option<Request> {
        let at = self
            .requests
            .range(..self.written())
            .position(|r| r.seq & mask == stamp)?;
        self.requests.remove(at)
    }

    /// The connection is gone: its written requests can never be answered. Removes them and
    /// says how many there were; the unsent ones stay, for the next connection.
    pub fn drop_written(&mut self) -> usize {
        let n = self.written();
        self.requests.drain(..n);
        n
    }

    /// The connection is gone before it could write anything: every request it owes fails
    /// with it. Removes them all and says how many there were.
    pub fn drop_all(&mut self) -> usize {
        let n = self.requests.len();
        self.requests.clear();
        self.unsent = 0;
        n
    }

    /// The server closed after a reply, as agreed: the rest, even if written, was never
    /// read, so all of it is to be written again on the next connection.
    pub fn unsend_all(&mut self) {
        self.unsent = self.requests.len();
    }

    /// Whether the oldest request has waited `timeout`.
    pub fn expired(&self, now: Instant, timeout: Duration) -> bool {
        self.requests
            .front()
            .is_some_and(|r| now.saturating_duration_since(r.since) >= timeout)
    }

    /// Removes the requests at the front that have waited `timeout`, written or not; returns
    /// how many. Requests are pushed in order of `since`, so the expired ones are a prefix.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let mut n = 0;
        while self.expired(now, timeout) {
            if self.written() == 0 {
                self.unsent -= 1;
            }
            self.requests.pop_front();
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64, seq: u64) -> Request {
        let t = t0 + Duration::from_millis(ms);
        Request {
            intended: t,
            since: t,
            seq,
        }
    }

    #[test]
    fn replies_answer_written_requests_only() {
        let t0 = Instant::now();
        let mut f = InFlight::with_capacity(4);
        f.push(at(t0, 0, 0));
        f.push(at(t0, 1, 1));
        assert_eq!(f.answer(), None, "nothing written yet");
        f.wrote(1);
        assert_eq!((f.written(), f.unsent()), (1, 1));
        assert_eq!(f.answer().map(|r| r.seq), Some(0));
        assert_eq!(f.answer(), None);
        assert_eq!(f.next_unsent().map(|r| r.seq), Some(1));
        assert_eq!(f.drop_next_unsent().map(|r| r.seq), Some(1));
        assert_eq!((f.len(), f.unsent()), (0, 0));
        assert_eq!(f.drop_next_unsent(), None);
    }

    #[test]
    fn stamps_match_out_of_order() {
        let t0 = Instant::now();
        let mut f = InFlight::with_capacity(4);
        for seq in 0x1fe..0x202 {
            f.push(at(t0, 0, seq));
        }
        f.wrote(3);
        assert_eq!(f.answer_stamp(0x00, 0xff).map(|r| r.seq), Some(0x200));
        assert_eq!(f.answer_stamp(0x01, 0xff), None, "0x201 is not written");
        assert_eq!(f.answer_stamp(0x00, 0xff), None, "answered once");
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn streams_are_stamped_answered_in_any_order_and_handed_back() {
        let t0 = Instant::now();
        let mut f = InFlight::with_capacity(4);
        (0..4).for_each(|i| f.push(at(t0, i, 0)));
        for id in [1, 3, 5] {
            f.wrote_stamped(id);
        }
        assert_eq!((f.written(), f.unsent()), (3, 1));
        // Stream 3 was refused: it is the next to write, before the never-written one.
        f.unsend_stamp(3);
        f.unsend_stamp(3);
        assert_eq!((f.written(), f.unsent()), (2, 2));
        assert_eq!(
            f.next_unsent().map(|r| r.intended),
            Some(t0 + Duration::from_millis(1))
        );
        f.wrote_stamped(7);
        assert_eq!(f.answer_stamp(5, u64::MAX).map(|r| r.seq), Some(5));
        assert_eq!(f.answer_stamp(7, u64::MAX).map(|r| r.seq), Some(7));
        assert_eq!(f.answer_stamp(1, u64::MAX).map(|r| r.seq), Some(1));
        assert_eq!((f.written(), f.unsent()), (0, 1));
    }

    #[test]
    fn a_lost_connection_keeps_what_was_never_written() {
        let t0 = Instant::now();
        let mut f = InFlight::with_capacity(4);
        (0..3).for_each(|i| f.push(at(t0, i, i)));
        f.wrote(2);
        assert_eq!(f.drop_written(), 2);
        assert_eq!((f.len(), f.unsent()), (1, 1));
        f.wrote(1);
        f.unsend_all();
        assert_eq!(f.unsent(), 1);
        f.push(at(t0, 9, 9));
        assert_eq!(f.drop_all(), 2);
        assert_eq!((f.len(), f.unsent(), f.written()), (0, 0, 0));
    }

    #[test]
    fn expiry_counts_a_prefix_written_or_not() {
        let t0 = Instant::now();
        let mut f = InFlight::with_capacity(4);
        (0..4).for_each(|i| f.push(at(t0, i * 10, i)));
        f.wrote(1);
        let timeout = Duration::from_millis(15);
        let now = t0 + Duration::from_millis(26);
        assert!(f.expired(now, timeout));
        // Sent at 0 and 10 have waited 26 and 16 ms; 20 only 6.
        assert_eq!(f.expire(now, timeout), 2);
        assert_eq!((f.len(), f.unsent(), f.written()), (2, 2, 0));
        assert!(!f.expired(now, timeout));
    }
}
