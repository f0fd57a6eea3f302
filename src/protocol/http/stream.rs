//! A file body sent a slice at a time, so that memory per connection stays bounded whatever
//! the file size.
//!
//! A file is never read whole: [`FileStream`] tops the output up to 64 KiB waiting to be sent,
//! no more, and the session calls it again from `on_drain`. While the server is over its
//! memory budget ([`crate::session::Ctx::memory_tight`]) the mark drops to 16 KiB: a
//! thousand downloads whose clients stall then hold a quarter of what they would.
//! The head, with the length it promises, is written before the first slice
//! (`static_files.rs`).
//!
//! The reads block the event loop briefly; that is the usual trade for a local disk, and the
//! reason they are bounded.

use std::fs::File;
use std::io;

use crate::session::Output;

/// The output backlog the stream tops up to: a client that stops reading holds at most this
/// much beyond its socket buffer.
const HIGH_WATER: usize = 64 * 1024;
/// The same mark while the server is over its memory budget.
const HIGH_WATER_TIGHT: usize = 16 * 1024;

/// Whether a file stream has more to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pumped {
    /// The output backlog is full; call again after it drains.
    More,
    /// Every byte has been appended.
    Done,
}

/// A file body being sent a slice at a time.
#[derive(Debug)]
pub struct FileStream {
    file: File,
    remaining: u64,
}

impl FileStream {
    /// A stream of the next `len` bytes of `file`, from its current position.
    pub fn new(file: File, len: u64) -> FileStream {
        FileStream {
            file,
            remaining: len,
        }
    }

    /// Tops `out` up with file data to the high-water mark (the lower one if `tight`).
    pub fn pump(&mut self, out: &mut Output<'_>, tight: bool) -> io::Result<Pumped> {
        let mark = if tight { HIGH_WATER_TIGHT } else { HIGH_WATER };
        while self.remaining > 0 {
            let room = mark.saturating_sub(out.pending());
            if room == 0 {
                return Ok(Pumped::More);
            }
            let want = self.remaining.min(room as u64);
            out.reserve(want as usize);
            let got = out.read_from(&mut self.file, want)?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while sent",
                ));
            }
            self.remaining -= got as u64;
        }
        Ok(Pumped::Done)
    }
}
