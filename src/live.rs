//! Settings a running server changes in place: the value a reload (SIGHUP) publishes, and
//! the readers on other threads that pick it up between two pieces of work.
//!
//! A reload is rare and a read is frequent, so the two are made unequal: [`Live::set`] swaps
//! the value under a lock and then bumps a generation number; a reader ([`Follower`]) keeps
//! the generation it last saw and compares it with one atomic load at a point of its own
//! choosing (the reactor at the top of a turn of its loop, a service when it opens a
//! session). Only when the number moved does it take the lock, once, for the new value. So
//! the hot path takes no lock, and a reader never sees half a change: it holds either the old
//! `Arc` or the new one. A reader that misses several reloads takes the last value directly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A value that a reload replaces, shared by its readers on every thread.
#[derive(Debug)]
pub(crate) struct Live<T> {
    generation: AtomicU64,
    value: Mutex<Arc<T>>,
}

impl<T> Live<T> {
    /// A value at generation 0, to be shared.
    pub(crate) fn new(value: T) -> Arc<Live<T>> {
        Arc::new(Live {
            generation: AtomicU64::new(0),
            value: Mutex::new(Arc::new(value)),
        })
    }

    /// Publishes `value`: each follower takes it at its next look.
    pub(crate) fn set(&self, value: T) {
        // The value first, then the number: a reader that sees the new number finds (at
        // least) the new value behind the lock.
        *self.value.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current value.
    pub(crate) fn get(&self) -> Arc<T> {
        Arc::clone(&self.value.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A reader that has seen the current value.
    pub(crate) fn follow(self: &Arc<Self>) -> Follower<T> {
        Follower {
            seen: self.generation.load(Ordering::Acquire),
            live: Arc::clone(self),
        }
    }
}

/// One reader of a [`Live`] value: it remembers which generation it holds.
#[derive(Debug)]
pub(crate) struct Follower<T> {
    live: Arc<Live<T>>,
    seen: u64,
}

impl<T> Follower<T> {
    /// The new value if one was published since the last look, else `None` (one atomic load).
    pub(crate) fn changed(&mut self) -> Option<Arc<T>> {
        let now = self.live.generation.load(Ordering::Acquire);
        if now == self.seen {
            return None;
        }
        self.seen = now;
        Some(self.live.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_sees_each_change_once_and_the_last_of_several() {
        let live = Live::new(1);
        let mut reader = live.follow();
        assert_eq!(reader.changed(), None);
        live.set(2);
        assert_eq!(reader.changed().as_deref(), Some(&2));
        assert_eq!(reader.changed(), None);
        live.set(3);
        live.set(4);
        assert_eq!(reader.changed().as_deref(), Some(&4));
        assert_eq!(reader.changed(), None);
        // A reader that starts late holds the current value and sees no change.
        let mut late = live.follow();
        assert_eq!(late.changed(), None);
        assert_eq!(*live.get(), 4);
    }

    #[test]
    fn a_change_reaches_a_reader_on_another_thread() {
        let live = Live::new(String::from("old"));
        let mut reader = live.follow();
        std::thread::scope(|s| {
            s.spawn(|| live.set(String::from("new")));
        });
        assert_eq!(reader.changed().as_deref().map(String::as_str), Some("new"));
    }
}
