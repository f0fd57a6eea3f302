//! When a connection may send its next request, and the time its latency counts from.
//!
//! Closed loop (the default): a connection sends a new request as soon as it has room in its
//! pipeline, and the latency of a request runs from the moment it was granted. Such a client
//! slows down with the server, so a server that stalls for a second is measured on the few
//! requests that were waiting, not on the thousands that a steady stream of users would have
//! sent meanwhile: the load generator *coordinates* with the server and omits the bad news.
//!
//! Open loop (`--rate R`): the thread's requests follow a fixed schedule, request `j` due at
//! `start + j / R`, dealt round-robin to its connections (`j % slots`). A connection with no
//! room falls behind and catches up when it can, and every request's latency is measured from
//! its *intended* time in the schedule, not from when it was finally sent. That is the
//! correction for coordinated omission that wrk2 popularised.
//!
//! Either way a run with a request count never grants more than `limit` requests.

use std::ops::Range;
use std::time::{Duration, Instant};

/// Hands out requests to the connections of one thread.
#[derive(Debug)]
pub(super) struct Pacing {
    schedule: Option<Schedule>,
    granted: u64,
    limit: u64,
}

/// The fixed timetable of an open-loop thread.
#[derive(Debug)]
struct Schedule {
    start: Instant,
    /// Requests per second for this thread.
    rate: f64,
    /// Connections the requests are dealt to.
    slots: u64,
    /// Requests due so far (request `j` is due once `released > j`).
    released: u64,
}

impl Schedule {
    fn time_of(&self, j: u64) -> Instant {
        self.start + Duration::from_secs_f64(j as f64 / self.rate)
    }

    /// Requests released so far to `slot`.
    fn released_to(&self, slot: u64) -> u64 {
        if self.released > slot {
            (self.released - 1 - slot) / self.slots + 1
        } else {
            0
        }
    }
}

impl Pacing {
    /// Closed loop, at most `limit` requests.
    pub fn closed(limit: u64) -> Pacing {
        Pacing {
            schedule: None,
            granted: 0,
            limit,
        }
    }

    /// Open loop at `rate` requests per second from `start`, dealt to `slots` connections,
    /// at most `limit` requests.
    pub fn open(start: Instant, rate: f64, slots: usize, limit: u64) -> Pacing {
        Pacing {
            schedule: Some(Schedule {
                start,
                rate,
                slots: slots.max(1) as u64,
                released: 0,
            }),
            granted: 0,
            limit,
        }
    }

    /// Grants `slot` one more request at `now` if the plan allows. `taken` counts the
    /// requests the slot took so far. Returns the time the request's latency counts from.
    pub fn grant(&mut self, slot: usize, taken: &mut u64, now: Instant) -> Option<Instant> {
        if self.granted >= self.limit {
            return None;
        }
        let intended = match &self.schedule {
            None => now,
            Some(s) => {
                let slot = slot as u64;
                if s.released_to(slot) <= *taken {
                    return None;
                }
                s.time_of(slot + *taken * s.slots)
            }
        };
        *taken += 1;
        self.granted += 1;
        Some(intended)
    }

    /// Releases the requests due by `now`; returns the slots that were given new requests.
    pub fn release(&mut self, now: Instant) -> impl Iterator<Item = usize> + use<> {
        let mut new: Range<u64> = 0..0;
        if let Some(s) = &mut self.schedule
            && now >= s.start
        {
            let due = ((now - s.start).as_secs_f64() * s.rate) as u64 + 1;
            let due = due.min(self.limit);
            if due > s.released {
                new = s.released..due;
                s.released = due;
            }
        }
        let slots = self.schedule.as_ref().map_or(1, |s| s.slots);
        // More new requests than slots touch every slot once.
        (new.start..new.end.min(new.start + slots)).map(move |j| (j % slots) as usize)
    }

    /// When the next request falls due, in an open loop with requests left to release.
    pub fn next_release(&self) -> Option<Instant> {
        let s = self.schedule.as_ref()?;
        (s.released < self.limit).then(|| s.time_of(s.released))
    }

    /// Requests granted so far.
    pub fn granted(&self) -> u64 {
        self.granted
    }

    /// Every request of a counted run has been granted.
    pub fn exhausted(&self) -> bool {
        self.granted >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_loop_grants_until_the_limit() {
        let now = Instant::now();
        let mut p = Pacing::closed(2);
        let mut taken = 0;
        assert_eq!(p.grant(0, &mut taken, now), Some(now));
        assert_eq!(p.grant(1, &mut taken, now), Some(now));
        assert_eq!(p.grant(0, &mut taken, now), None);
        assert!(p.exhausted());
        assert_eq!(p.release(now).count(), 0);
        assert_eq!(p.next_release(), None);
    }

    #[test]
    fn open_loop_deals_the_timetable_round_robin() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // 1000/s over 2 slots: request j is due at j ms, slot j % 2.
        let mut p = Pacing::open(t0, 1000.0, 2, u64::MAX);
        let mut taken = [0u64; 2];
        assert_eq!(p.grant(0, &mut taken[0], t0), None, "nothing released");
        assert_eq!(p.release(ms(2)).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(p.next_release(), Some(ms(3)));
        // Slot 0 owns requests 0 and 2, slot 1 owns request 1.
        assert_eq!(p.grant(0, &mut taken[0], ms(5)), Some(ms(0)));
        assert_eq!(p.grant(0, &mut taken[0], ms(5)), Some(ms(2)));
        assert_eq!(p.grant(0, &mut taken[0], ms(5)), None);
        assert_eq!(p.grant(1, &mut taken[1], ms(5)), Some(ms(1)));
        assert_eq!(p.grant(1, &mut taken[1], ms(5)), None);
        // A slot that fell behind catches up with the intended times, not the current one.
        assert_eq!(p.release(ms(7)).collect::<Vec<_>>(), [1, 0]);
        assert_eq!(p.grant(1, &mut taken[1], ms(9)), Some(ms(3)));
        assert_eq!(p.grant(1, &mut taken[1], ms(9)), Some(ms(5)));
        assert_eq!(p.grant(1, &mut taken[1], ms(9)), Some(ms(7)));
        assert_eq!(p.granted(), 6);
    }

    #[test]
    fn open_loop_stops_at_the_limit() {
        let t0 = Instant::now();
        let mut p = Pacing::open(t0, 100.0, 1, 3);
        assert_eq!(p.release(t0 + Duration::from_secs(10)).count(), 1);
        assert_eq!(p.next_release(), None);
        let mut taken = 0;
        let granted = std::iter::from_fn(|| p.grant(0, &mut taken, t0)).count();
        assert_eq!(granted, 3);
        assert!(p.exhausted());
    }
}
