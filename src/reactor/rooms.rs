//! Rooms shared by the reactors of one server (`--workers N`): what a member says in a room
//! reaches the members connected to the other workers too.
//!
//! ```text
//!   worker 0                         worker 1
//!   member says a line ──► deliver to its own members
//!                     └──► post (room, line) ──► [inbox 1] ──wake──► deliver to its members
//! ```
//!
//! Each worker has an inbox, a bounded queue behind a mutex, and its poll's waker. A worker
//! that delivers a broadcast in a room posts a copy to every other worker's inbox (waking it
//! only when its inbox was empty), and takes what its own inbox holds once per turn, within
//! the turn's budget of deliveries. The mutex is taken per message to a room, never on
//! the path of a request that broadcasts nothing. An inbox holds at most [`INBOX_BYTES`]:
//! a worker that cannot keep up loses messages (counted in `room_relays_dropped`) rather than
//! let another worker's memory grow.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use log::warn;
use mio::Waker;

use crate::session::RoomId;

/// The most bytes of messages waiting in one worker's inbox.
pub(crate) const INBOX_BYTES: usize = 4 * 1024 * 1024;

/// The inboxes of every worker of a server, shared by all of them.
#[derive(Debug)]
pub(crate) struct SharedRooms {
    inboxes: Vec<Inbox>,
}

#[derive(Debug, Default)]
struct Inbox {
    queue: Mutex<Queue>,
    /// Messages waiting, readable without the lock: an empty inbox costs one atomic load.
    waiting: AtomicUsize,
    /// The worker's poll waker, set when it joins.
    waker: OnceLock<Arc<Waker>>,
}

#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<(RoomId, Vec<u8>)>,
    bytes: usize,
}

/// Why a message did not reach a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InboxFull;

impl SharedRooms {
    /// Inboxes for `workers` workers, numbered from 0.
    pub(crate) fn new(workers: usize) -> Arc<SharedRooms> {
        Arc::new(SharedRooms {
            inboxes: (0..workers).map(|_| Inbox::default()).collect(),
        })
    }

    /// Records worker `me`'s waker, so that messages posted to it wake its poll.
    pub(crate) fn join(&self, me: usize, waker: Arc<Waker>) {
        if let Some(inbox) = self.inboxes.get(me) {
            let _ = inbox.waker.set(waker);
        }
    }

    /// Posts `message` in `room` to every worker but `me`; returns how many inboxes were full.
    pub(crate) fn post(&self, me: usize, room: RoomId, message: &[u8]) -> usize {
        let mut full = 0;
        for (n, inbox) in self.inboxes.iter().enumerate() {
            if n != me && inbox.push(room, message).is_err() {
                full += 1;
            }
        }
        full
    }

    /// Whether worker `me` has messages waiting.
    pub(crate) fn has_mail(&self, me: usize) -> bool {
        self.inboxes
            .get(me)
            .is_some_and(|inbox| inbox.waiting.load(Ordering::Acquire) > 0)
    }

    /// Takes the oldest message waiting for worker `me`, joined by those after it in the same
    /// room while the whole stays within `max` bytes: a room's messages are lines, so one
    /// delivery (one pass over the worker's connections) serves many of them.
    pub(crate) fn take(&self, me: usize, max: usize) -> Option<(RoomId, Vec<u8>)> {
        let inbox = self.inboxes.get(me)?;
        if inbox.waiting.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut queue = inbox.queue.lock().unwrap_or_else(|e| e.into_inner());
        let (room, mut batch) = queue.messages.pop_front()?;
        while let Some((next, message)) = queue.messages.front()
            && *next == room
            && batch.len() + message.len() <= max
        {
            batch.extend_from_slice(message);
            queue.messages.pop_front();
        }
        queue.bytes -= batch.len();
        inbox.waiting.store(queue.messages.len(), Ordering::Release);
        Some((room, batch))
    }
}

impl Inbox {
    fn push(&self, room: RoomId, message: &[u8]) -> Result<(), InboxFull> {
        let was_empty = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.bytes + message.len() > INBOX_BYTES {
                return Err(InboxFull);
            }
            queue.bytes += message.len();
            queue.messages.push_back((room, message.to_vec()));
            self.waiting.store(queue.messages.len(), Ordering::Release);
            queue.messages.len() == 1
        };
        // A worker with mail already waiting has been woken and has not taken it yet.
        if was_empty
            && let Some(waker) = self.waker.get()
            && let Err(e) = waker.wake()
        {
            warn!("waking a worker for its room messages: {e}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reaches_every_other_worker_once_and_in_order() {
        let rooms = SharedRooms::new(3);
        assert_eq!(rooms.post(1, RoomId::CHAT, b"a\n"), 0);
        assert_eq!(rooms.post(1, RoomId::CHAT, b"b\n"), 0);
        assert!(!rooms.has_mail(1), "the sender's own worker gets no copy");
        for worker in [0, 2] {
            assert!(rooms.has_mail(worker));
            assert_eq!(rooms.take(worker, 2), Some((RoomId::CHAT, b"a\n".to_vec())));
            assert_eq!(rooms.take(worker, 2), Some((RoomId::CHAT, b"b\n".to_vec())));
            assert_eq!(rooms.take(worker, 2), None);
            assert!(!rooms.has_mail(worker));
        }
    }

    #[test]
    fn messages_of_one_room_are_taken_together_within_the_limit() {
        let rooms = SharedRooms::new(2);
        for line in [&b"a\n"[..], b"b\n", b"c\n"] {
            rooms.post(0, RoomId::CHAT, line);
        }
        rooms.post(0, RoomId(9), b"other\n");
        assert_eq!(rooms.take(1, 4), Some((RoomId::CHAT, b"a\nb\n".to_vec())));
        assert_eq!(rooms.take(1, 64), Some((RoomId::CHAT, b"c\n".to_vec())));
        assert_eq!(rooms.take(1, 64), Some((RoomId(9), b"other\n".to_vec())));
        assert_eq!(rooms.take(1, 64), None);
    }

    #[test]
    fn a_full_inbox_refuses_rather_than_grows() {
        let rooms = SharedRooms::new(2);
        let big = vec![b'x'; INBOX_BYTES / 2];
        assert_eq!(rooms.post(0, RoomId::CHAT, &big), 0);
        assert_eq!(rooms.post(0, RoomId::CHAT, &big), 0);
        assert_eq!(rooms.post(0, RoomId::CHAT, b"one more\n"), 1);
        assert!(rooms.take(1, INBOX_BYTES).is_some());
        assert_eq!(rooms.post(0, RoomId::CHAT, b"room again\n"), 0);
    }
}
