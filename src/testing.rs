//! A hand-cranked stand-in for the reactor, to drive a [`Session`] in unit tests.
//!
//! It keeps the unconsumed input exactly as the reactor does (bytes a session did not consume
//! are offered again, followed by the next bytes fed), so a test can split a stream anywhere
//! and check the session sees the same thing it would over a socket.
//!
//! What else the reactor lends a session can be lent too, on request: a file queue
//! ([`Harness::lending_files`]; a queued slice is read into the output where it belongs when
//! the output is taken, as `sendfile` would put it on the wire) and memory pressure
//! ([`Harness::set_memory_tight`], as the reactor's memory budget reports it).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[cfg(test)]
use crate::session::inspect::{ConnTable, Inspect};
use crate::session::{Ctx, Flow, QueuedFile, RoomId, Session, Step, Watch};
use crate::stats::Stats;

/// Drives one session without sockets.
pub struct Harness<S> {
    /// The session under test.
    pub session: S,
    input: Vec<u8>,
    out: Vec<u8>,
    broadcast: Vec<u8>,
    watch: Watch,
    peer: SocketAddr,
    now: Instant,
    stats: Stats,
    /// Whether a file queue is lent ([`Harness::lending_files`]).
    files: Files,
    /// The file slice the session queued, not yet taken with the output.
    file: Option<QueuedFile>,
    /// What [`Ctx::memory_tight`] says.
    memory_tight: bool,
}

/// Whether the harness lends its session a file queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Files {
    /// No: [`Ctx::can_send_files`] is false (as under TLS).
    Copied,
    /// Yes, as the reactor does for plain TCP.
    Queued,
}

macro_rules! cx {
    ($h:ident) => {{
        let cx = Ctx::new(
            &mut $h.out,
            &mut $h.broadcast,
            &mut $h.watch,
            $h.peer,
            $h.now,
            &$h.stats,
        )
        .with_memory_tight($h.memory_tight);
        match $h.files {
            Files::Queued => cx.with_file_queue(&mut $h.file),
            Files::Copied => cx,
        }
    }};
}

impl<S: Session> Harness<S> {
    /// Wraps `session`, with peer 127.0.0.1:40000.
    pub fn new(session: S) -> Harness<S> {
        Harness {
            session,
            input: Vec::new(),
            out: Vec::new(),
            broadcast: Vec::new(),
            watch: Watch::default(),
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
            now: Instant::now(),
            stats: Stats::default(),
            files: Files::Copied,
            file: None,
            memory_tight: false,
        }
    }

    /// Lends the session a file queue, as the reactor does on plain TCP
    /// ([`Ctx::send_file`]): a queued slice comes out of [`Harness::take_output`] between the
    /// output written before it and the output written after.
    pub fn lending_files(mut self) -> Harness<S> {
        self.files = Files::Queued;
        self
    }

    /// Says the reactor is over (or back under) its memory budget ([`Ctx::memory_tight`]).
    pub fn set_memory_tight(&mut self, tight: bool) {
        self.memory_tight = tight;
    }

    /// The file slice the session queued and the output has not yet carried.
    pub fn queued_file(&self) -> Option<&QueuedFile> {
        self.file.as_ref()
    }

    /// Puts a queued file's bytes into the output where they belong (after the `ahead`
    /// bytes written before it), as the socket would receive them, and empties the queue. A
    /// file shorter than its slice yields what it holds: the reactor would then end the
    /// connection with the answer short.
    fn send_queued_file(&mut self) {
        use std::os::unix::fs::FileExt;
        let Some(queued) = self.file.take() else {
            return;
        };
        let len = usize::try_from(queued.slice.len).unwrap_or(usize::MAX);
        let mut bytes = vec![0; len];
        let mut got = 0;
        while got < len {
            match queued
                .slice
                .file
                .read_at(&mut bytes[got..], queued.slice.offset + got as u64)
            {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        bytes.truncate(got);
        let at = queued.ahead.min(self.out.len());
        self.out.splice(at..at, bytes);
    }

    /// Calls [`Session::on_open`].
    pub fn open(&mut self) -> Flow {
        self.session.on_open(&mut cx!(self))
    }

    /// Appends `bytes` to the unconsumed input and offers all of it to the session, as a read
    /// would. Returns the session's step; consumed bytes are removed from the input.
    pub fn input(&mut self, bytes: &[u8]) -> Step {
        self.input.extend_from_slice(bytes);
        let step = self.session.on_input(&self.input, &mut cx!(self));
        assert!(
            step.consumed <= self.input.len(),
            "session consumed more than it was given"
        );
        assert!(
            step.forward <= step.consumed,
            "session forwarded bytes it did not consume"
        );
        // Forwarded bytes follow whatever the session wrote, as the reactor sends them.
        self.out.extend_from_slice(&self.input[..step.forward]);
        self.input.drain(..step.consumed);
        step
    }

    /// Feeds `bytes` in pieces of the given sizes (cycling; the rest in one piece if `pieces`
    /// is empty), as reads would deliver them, offering a drain after each piece that produced
    /// output, as the reactor does after a write (a piece that produced none earns no drain
    /// there either). Stops at the first flow that is not `Continue` and returns it.
    pub fn input_in_pieces(&mut self, bytes: &[u8], pieces: &[usize]) -> Flow {
        let mut at = 0;
        let mut sizes = pieces.iter().copied().cycle();
        while at < bytes.len() {
            let n = sizes
                .next()
                .unwrap_or(bytes.len())
                .clamp(1, bytes.len() - at);
            let before = self.out.len();
            let mut flow = self.input(&bytes[at..at + n]).flow;
            at += n;
            if flow == Flow::Continue && self.out.len() > before {
                flow = self.drain();
            }
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    /// Feeds `bytes` one at a time, stopping at the first step that is not `Continue`.
    pub fn input_bytewise(&mut self, bytes: &[u8]) -> Flow {
        for b in bytes {
            let step = self.input(std::slice::from_ref(b));
            if step.flow != Flow::Continue {
                return step.flow;
            }
        }
        Flow::Continue
    }

    /// Calls [`Session::on_drain`], then re-offers buffered input as the reactor does.
    pub fn drain(&mut self) -> Flow {
        let flow = self.session.on_drain(&mut cx!(self));
        if flow == Flow::Continue && !self.input.is_empty() {
            return self.input(&[]).flow;
        }
        flow
    }

    /// Calls [`Session::on_eof`] with the unconsumed input.
    pub fn eof(&mut self, more: &[u8]) -> Flow {
        self.input.extend_from_slice(more);
        let input = std::mem::take(&mut self.input);
        let flow = self.session.on_eof(&input, &mut cx!(self));
        self.input = input;
        flow
    }

    /// Calls [`Session::on_timeout`], as the reactor does when the session's deadline has
    /// passed. A session that answers `Continue` without moving its deadline past
    /// [`Harness::now`] would only be timed out again at once, so the reactor closes it, and
    /// so does this: the result is then `Close`.
    pub fn timeout(&mut self) -> Flow {
        let flow = self.session.on_timeout(&mut cx!(self));
        match flow {
            Flow::Continue if self.watch.deadline.is_some_and(|d| d <= self.now) => Flow::Close,
            flow => flow,
        }
    }

    /// Calls [`Session::on_shutdown`], as the reactor does when the server stops (SIGTERM).
    /// The reactor then closes the connection once its output is flushed, still offering
    /// drains to a session finishing an answer.
    pub fn shutdown(&mut self) {
        self.session.on_shutdown(&mut cx!(self));
    }

    /// Calls [`Session::on_broadcast`]: another member of the room sent `message`. Whatever
    /// the session broadcasts from there is dropped, as the reactor drops it: a message is
    /// never relayed twice.
    pub fn deliver(&mut self, message: &[u8]) -> Flow {
        let before = self.broadcast.len();
        let flow = self.session.on_broadcast(message, &mut cx!(self));
        self.broadcast.truncate(before);
        flow
    }

    /// Calls [`Session::on_close`]. As with the reactor, its broadcasts (a leave notice) are
    /// kept for [`Harness::take_broadcast`], while what it writes for its own peer, who is
    /// gone, is discarded.
    pub fn close(&mut self) {
        let before = self.out.len();
        self.session.on_close(&mut cx!(self));
        self.out.truncate(before);
    }

    /// Takes everything the session has written so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.send_queued_file();
        std::mem::take(&mut self.out)
    }

    /// Takes at most `max` bytes of what the session has written, as a socket with room for
    /// only that much would; the rest stays pending (see [`Ctx::pending_output`]).
    pub fn take_output_upto(&mut self, max: usize) -> Vec<u8> {
        self.send_queued_file();
        let rest = self.out.split_off(max.min(self.out.len()));
        std::mem::replace(&mut self.out, rest)
    }

    /// Everything written so far, without taking it (as if the socket would block). A
    /// queued file is not in it until the output is taken (see [`Harness::queued_file`]).
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Takes everything the session has broadcast so far.
    pub fn take_broadcast(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.broadcast)
    }

    /// The unconsumed input the harness is holding.
    pub fn pending_input(&self) -> &[u8] {
        &self.input
    }

    /// The room the session joined ([`Ctx::join`]), if any: the reactor then delivers it
    /// the room's broadcasts ([`Harness::deliver`]).
    pub fn room(&self) -> Option<RoomId> {
        self.watch.room
    }

    /// The deadline the session last set.
    pub fn deadline(&self) -> Option<Instant> {
        self.watch.deadline
    }

    /// Whether the session last said it is in the middle of a message from the peer.
    pub fn receiving(&self) -> bool {
        self.watch.receiving
    }

    /// The bytes the session last said it holds in buffers of its own (`Ctx::set_held`).
    pub fn held(&self) -> usize {
        self.watch.held
    }

    /// The bytes the session last said it holds for its peer (`Ctx::set_held_for_peer`).
    pub fn held_for_peer(&self) -> usize {
        self.watch.held_for_peer
    }

    /// The time the session sees as `now`.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves the session's clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// The counters the session sees.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What the session asked the reactor to describe ([`Ctx::inspect`]) and was not yet
    /// answered.
    #[cfg(test)]
    pub(crate) fn inspection(&self) -> Option<Inspect> {
        self.watch.inspect
    }

    /// Answers the session's [`Ctx::inspect`] with `table`, as the reactor does: one
    /// `on_drain` whose context carries it, then the buffered input offered again. `None`
    /// (and no call) if the session asked nothing.
    #[cfg(test)]
    pub(crate) fn answer_inspection(&mut self, table: &ConnTable) -> Option<Flow> {
        self.watch.inspect.take()?;
        let flow = self
            .session
            .on_drain(&mut cx!(self).with_connections(table));
        if flow == Flow::Continue && !self.input.is_empty() {
            return Some(self.input(&[]).flow);
        }
        Some(flow)
    }
}

/// `bytes` with each `(position, value)` of `flips` written over it (positions taken modulo its
/// length) and then cut to `keep` bytes (modulo its length plus one): a damaged, truncated
/// stream for property tests of hostile input.
#[cfg(test)]
pub(crate) fn damaged(mut bytes: Vec<u8>, flips: &[(usize, u8)], keep: usize) -> Vec<u8> {
    if !bytes.is_empty() {
        for &(at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
    }
    bytes.truncate(keep % (bytes.len() + 1));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes lines when `loud`, else takes them silently; counts the drains it is offered.
    struct Counting {
        loud: bool,
        drains: usize,
    }

    impl Session for Counting {
        fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
            match input.iter().position(|&b| b == b'\n') {
                Some(end) if self.loud => Step::forward(end + 1),
                Some(end) => Step::consumed(end + 1),
                None => Step::consumed(0),
            }
        }

        fn on_drain(&mut self, _cx: &mut Ctx<'_>) -> Flow {
            self.drains += 1;
            Flow::Continue
        }
    }

    #[test]
    fn pieces_earn_a_drain_only_when_they_produce_output() {
        for (loud, drains) in [(false, 0), (true, 2)] {
            let mut h = Harness::new(Counting { loud, drains: 0 });
            assert_eq!(h.input_in_pieces(b"a\nb\nc", &[2]), Flow::Continue);
            assert_eq!(h.session.drains, drains, "loud: {loud}");
            assert_eq!(h.pending_input(), b"c");
        }
    }

    #[test]
    fn broadcasts_from_a_delivery_are_dropped_and_output_at_close_discarded() {
        struct Relay;
        impl Session for Relay {
            fn on_input(&mut self, _input: &[u8], _cx: &mut Ctx<'_>) -> Step {
                Step::consumed(0)
            }
            fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
                cx.out().extend_from_slice(message);
                cx.broadcast(message);
                Flow::Continue
            }
            fn on_close(&mut self, cx: &mut Ctx<'_>) {
                cx.out().extend_from_slice(b"moot");
                cx.broadcast(b"left");
            }
        }
        let mut h = Harness::new(Relay);
        assert_eq!(h.deliver(b"hi"), Flow::Continue);
        assert_eq!(h.take_output(), b"hi");
        assert!(
            h.take_broadcast().is_empty(),
            "a message is never relayed twice"
        );
        h.close();
        assert!(h.take_output().is_empty());
        assert_eq!(h.take_broadcast(), b"left");
    }

    #[test]
    fn continuing_past_an_unmoved_deadline_closes_and_a_moved_one_goes_on() {
        struct Late(bool);
        impl Session for Late {
            fn on_input(&mut self, _input: &[u8], _cx: &mut Ctx<'_>) -> Step {
                Step::consumed(0)
            }
            fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
                if self.0 {
                    cx.set_deadline(Some(cx.now() + Duration::from_secs(1)));
                }
                Flow::Continue
            }
        }
        for (moves, flow) in [(true, Flow::Continue), (false, Flow::Close)] {
            let mut h = Harness::new(Late(moves));
            h.watch.deadline = Some(h.now);
            assert_eq!(h.timeout(), flow, "moves its deadline: {moves}");
        }
    }

    #[test]
    fn output_taken_in_part_leaves_the_rest_pending() {
        struct Echo;
        impl Session for Echo {
            fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
                Step::forward(input.len())
            }
        }
        let mut h = Harness::new(Echo);
        h.input(b"abcdef");
        assert_eq!(h.take_output_upto(4), b"abcd");
        assert_eq!(h.take_output_upto(4), b"ef");
        assert!(h.take_output_upto(4).is_empty());
    }

    /// Reports what the reactor lends: on `f`, queues 4 bytes of its file between two
    /// outputs; on `m`, whether memory is tight; on `j`, joins the chat room.
    struct Lent(std::path::PathBuf);

    impl Session for Lent {
        fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
            match input.first() {
                Some(b'f') => {
                    cx.out().extend_from_slice(b"<");
                    let file = std::fs::File::open(&self.0).unwrap();
                    let slice = crate::session::FileSlice {
                        file,
                        offset: 2,
                        len: 4,
                    };
                    if let Err(slice) = cx.send_file(slice) {
                        // No queue lent: copy, as a session under TLS does.
                        use std::os::unix::fs::FileExt;
                        let mut b = [0; 4];
                        slice.file.read_exact_at(&mut b, slice.offset).unwrap();
                        cx.out().extend_from_slice(&b);
                    }
                    cx.out().extend_from_slice(b">");
                }
                Some(b'm') => {
                    let tight: &[u8] = if cx.memory_tight() { b"tight" } else { b"easy" };
                    cx.out().extend_from_slice(tight);
                }
                Some(b'j') => cx.join(RoomId::CHAT),
                _ => {}
            }
            Step::consumed(input.len())
        }
    }

    fn lent() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"..FILE..").unwrap();
        (dir, path)
    }

    #[test]
    fn a_lent_file_queue_puts_the_file_between_the_outputs_around_it() {
        let (_dir, path) = lent();
        let mut h = Harness::new(Lent(path.clone())).lending_files();
        h.input(b"f");
        assert_eq!(h.output(), b"<>", "the file waits in its queue");
        assert_eq!(h.queued_file().map(|q| q.ahead), Some(1));
        assert_eq!(h.take_output(), b"<FILE>");
        assert!(h.queued_file().is_none());
        // Without a queue, the session copies: the same bytes.
        let mut h = Harness::new(Lent(path));
        h.input(b"f");
        assert_eq!(h.take_output(), b"<FILE>");
    }

    #[test]
    fn memory_pressure_and_rooms_are_lent_too() {
        let (_dir, path) = lent();
        let mut h = Harness::new(Lent(path));
        h.input(b"m");
        h.set_memory_tight(true);
        h.input(b"m");
        assert_eq!(h.take_output(), b"easytight");
        assert_eq!(h.room(), None);
        h.input(b"j");
        assert_eq!(h.room(), Some(RoomId::CHAT));
    }
}
