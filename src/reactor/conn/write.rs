//! A connection's write path: its own output, the shared buffer, a queued file, all within
//! the write budgets.
//!
//! ```text
//!  [ out: ahead of the file ] ──write(MSG_MORE)──►
//!  [ file slice ]             ──sendfile─────────►  socket     every byte through
//!  [ out: behind the file ]   ──write────────────►             `write_out`'s budgets
//! ```
//!
//! Without a queued file, output is written from the connection's buffer, or straight from
//! the reactor's shared one when the connection holds none (what the socket does not take is
//! kept). With one (`Ctx::send_file`), `QueuedFile::ahead` counts the buffered bytes that go
//! before it; whatever sessions append meanwhile waits behind it. Every write, `sendfile`
//! included, goes through [`Conn::write_out`]: at most the connection's `write_budget` per
//! turn, and the reactor's `turn_write_budget` for all of them, with a small floor so that a
//! short answer never waits behind a thousand downloads.

use std::io::{self, Write};
use std::time::Instant;

use log::debug;
use mio::net::TcpStream;
use socket2::SockRef;

use super::core::{FileStep, file_step};
use super::{Conn, Core};
use crate::reactor::WriteBudget;
use crate::session::FileSlice;
use crate::stats::Stats;

impl Conn {
    /// Writes pending output: first whatever the connection holds, then the shared buffer
    /// (whose leftovers it keeps); a queued file goes between the bytes appended before it
    /// and those appended after. One `write` per call unless the socket takes everything.
    pub(super) fn send(&mut self, core: &mut Core) -> io::Result<()> {
        let result = if self.file.is_some() {
            self.keep_shared(core, 0);
            self.send_around_file(core)
        } else if !core.out_buf.is_empty() {
            let mut r = Ok(());
            let mut written = 0;
            if self.buffered() == 0 && self.state.can_write() {
                let (out, stats) = (&core.out_buf, &core.stats);
                let sent = self.write_out(
                    out.len(),
                    core.now,
                    stats,
                    &mut core.turn_write_left,
                    |s, done, max| write_some(s, &out[done..done + max], false, stats),
                );
                written = *sent.as_ref().unwrap_or(&0);
                r = sent.map(|_| ());
            }
            self.keep_shared(core, written);
            r
        } else {
            self.write_buffered(usize::MAX, false, core)
        };
        if self.buffered() == 0 {
            self.out_pos = 0;
            self.out.clear();
            // Give a grown buffer back to the reactor for the next busy connection rather
            // than free it and grow another one copy by copy; an idle connection owns none.
            if self.out.capacity() > core.out_buf.capacity() {
                std::mem::swap(&mut self.out, &mut core.out_buf);
            }
            if self.out.capacity() > 16 * 1024 {
                self.out = Vec::new();
            }
            let keep = core.limits.max_output + core.limits.read_chunk;
            if core.out_buf.capacity() > 2 * keep {
                core.out_buf.shrink_to(keep);
            }
        }
        self.state
            .backpressure(self.buffered(), self.input.len(), &core.limits, &core.stats);
        self.account(core);
        if let Err(e) = &result {
            debug!("{}: write: {e}", self.peer);
        }
        result
    }

    /// Keeps what a callback left in the shared buffer from byte `from` on (what the socket
    /// did not take; with a file queued, all of it, as it must wait for the file) behind the
    /// connection's own output, leaving the shared buffer empty. A connection holding
    /// nothing takes the shared buffer itself (no copy) and gives its empty one in exchange.
    fn keep_shared(&mut self, core: &mut Core, from: usize) {
        if from < core.out_buf.len() {
            if self.buffered() == 0 {
                self.out.clear();
                std::mem::swap(&mut self.out, &mut core.out_buf);
                self.out_pos = from;
            } else {
                self.out.extend_from_slice(&core.out_buf[from..]);
            }
        }
        core.out_buf.clear();
    }

    /// Writes up to `max` bytes of the connection's own output, within the write budgets.
    /// `more`: a file follows at once, so the kernel may hold these bytes back to send them
    /// in the same segment as its first (`MSG_MORE`, as nginx's `TCP_NOPUSH` does for a
    /// response head).
    fn write_buffered(&mut self, max: usize, more: bool, core: &mut Core) -> io::Result<()> {
        if self.buffered() == 0 || !self.state.can_write() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let (start, end) = (
            self.out_pos,
            out.len().min(self.out_pos.saturating_add(max)),
        );
        let stats = &core.stats;
        let r = self.write_out(
            end - start,
            core.now,
            stats,
            &mut core.turn_write_left,
            |s, done, max| write_some(s, &out[start + done..start + done + max], more, stats),
        );
        self.out = out;
        self.out_pos = start + *r.as_ref().unwrap_or(&0);
        r.map(|_| ())
    }

    /// Sends the queued file: first the output ahead of it, then the file with `sendfile`,
    /// then, once it is all sent, the output behind it (the order is `file_step`'s).
    fn send_around_file(&mut self, core: &mut Core) -> io::Result<()> {
        let Some(mut queued) = self.file.take() else {
            return Ok(());
        };
        loop {
            let r = match file_step(queued.ahead, queued.slice.len, self.state.can_write()) {
                FileStep::Ahead(ahead) => {
                    let before = self.buffered();
                    let r = self.write_buffered(ahead, true, core);
                    queued.ahead -= before - self.buffered();
                    r.map(|()| queued.ahead == 0)
                }
                FileStep::File => self
                    .send_file(&mut queued.slice, core)
                    .map(|()| queued.slice.len == 0),
                FileStep::Wait => Ok(false),
                // The file is out: what was appended behind it goes now.
                FileStep::Behind => return self.write_buffered(usize::MAX, false, core),
            };
            // An error, or a step left unfinished (the socket is full, or the budget spent):
            // the rest waits, in order.
            if !matches!(r, Ok(true)) {
                self.file = Some(queued);
                return r.map(|_| ());
            }
        }
    }

    /// Sends what the write budgets allow of `slice` with `sendfile`: the kernel copies it
    /// from the page cache, and the server's memory never holds it.
    fn send_file(&mut self, slice: &mut FileSlice, core: &mut Core) -> io::Result<()> {
        let len = usize::try_from(slice.len).unwrap_or(usize::MAX);
        let FileSlice { file, offset, .. } = slice;
        let stats = &core.stats;
        let r = self.write_out(
            len,
            core.now,
            stats,
            &mut core.turn_write_left,
            |s, _, max| {
                stats.sendfiles.incr();
                match rustix::fs::sendfile(s, &*file, Some(offset), max) {
                    // Fewer bytes in the file than its answer promised.
                    Ok(0) => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while sent",
                    )),
                    r => r.map_err(io::Error::from),
                }
            },
        );
        slice.len -= *r.as_ref().unwrap_or(&0) as u64;
        r.map(|_| ())
    }

    /// Writes `total` bytes with `op(socket, done, max)`, which writes at most `max` of them
    /// from byte `done` on and says how many it wrote, until done, the socket is full, or this
    /// turn's write budget (the connection's, or the whole reactor's) is spent. Returns how
    /// many were written; on an error, those written before it are counted, not returned.
    pub(super) fn write_out(
        &mut self,
        total: usize,
        now: Instant,
        stats: &Stats,
        budget: &mut WriteBudget,
        mut op: impl FnMut(&TcpStream, usize, usize) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut done = 0;
        while done < total {
            let allowed = self.state.write_allowed(budget);
            if allowed == 0 {
                return Ok(done);
            }
            let max = (total - done).min(allowed);
            match op(&self.socket, done, max) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    done += n;
                    if !self.state.on_written(n, max, budget, now, stats) {
                        return Ok(done);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.state.on_write_would_block(stats);
                    return Ok(done);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// One `write` of `bytes`, or with `more` one `send(MSG_MORE)`: more follows at once.
pub(super) fn write_some(
    socket: &TcpStream,
    bytes: &[u8],
    more: bool,
    stats: &Stats,
) -> io::Result<usize> {
    stats.writes.incr();
    if more {
        SockRef::from(socket).send_with_flags(bytes, libc::MSG_MORE)
    } else {
        (&*socket).write(bytes)
    }
}
