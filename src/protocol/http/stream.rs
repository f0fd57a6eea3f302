//! A file body sent a slice at a time, so that memory per connection stays bounded whatever
//! the file size.
//!
//! A file is never read whole: [`FileStream`] appends 64 KiB at a time, and only while less
//! than 64 KiB is waiting to be sent; the session calls it again from `on_drain`.
//! The head, with the length it promises, is written before the first slice
//! (`static_files.rs`).
//!
//! The reads block the event loop briefly; that is the usual trade for a local disk, and the
//! reason they are bounded.

use std::fs::File;
use std::io;

use crate::session::Output;

/// How much file data is read per step.
const CHUNK: usize = 64 * 1024;
/// The output backlog above which no more file data is read until the socket drains: one
/// chunk, so a client that stops reading holds at most that much beyond its socket buffer.
const HIGH_WATER: usize = CHUNK;

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

    /// Appends file data to `out` while what it has pending is under the high-water mark.
    pub fn pump(&mut self, out: &mut Output<'_>) -> io::Result<Pumped> {
        while self.remaining > 0 {
            if out.pending() >= HIGH_WATER {
                return Ok(Pumped::More);
            }
            let want = self.remaining.min(CHUNK as u64);
            out.reserve(CHUNK);
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
