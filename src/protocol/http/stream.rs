//! A file body sent a slice at a time, so that memory per connection stays bounded whatever
//! the file size.
//!
//! Where the connection's bytes reach the socket as they are (plain TCP), the whole body is
//! handed to the reactor as a file slice ([`Ctx::send_file`]): the kernel copies it from the
//! page cache (`sendfile(2)`), and the server holds none of it. Otherwise (TLS, or
//! `--sendfile false`) it is read into the output: [`FileStream`] tops the output up to 64 KiB
//! waiting to be sent, no more, and the session calls it again from `on_drain`. While the
//! server is over its memory budget ([`Ctx::memory_tight`]) the mark drops to 16 KiB: a
//! thousand downloads whose clients stall then hold a quarter of what they would.
//! The head, with the length it promises, is written before the body (`static_files.rs`).
//!
//! The reads block the event loop briefly; that is the usual trade for a local disk, and the
//! reason they are bounded.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};

use crate::session::{Ctx, FileSlice};

/// The output backlog the stream tops up to: a client that stops reading holds at most this
/// much beyond its socket buffer.
const HIGH_WATER: usize = 64 * 1024;
/// The same mark while the server is over its memory budget.
const HIGH_WATER_TIGHT: usize = 16 * 1024;

/// Whether a file stream has more to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pumped {
    /// The output backlog is full, or another file is queued ahead; call again after it
    /// drains.
    More,
    /// Every byte has been appended or queued.
    Done,
}

/// A file body being sent a slice at a time.
#[derive(Debug)]
pub(crate) struct FileStream {
    /// `None` once handed to the reactor.
    file: Option<File>,
    offset: u64,
    remaining: u64,
    /// Hand the body to the reactor when the connection can send files.
    sendfile: bool,
    /// The file's read position is at `offset` (the copying path reads from it).
    positioned: bool,
}

impl FileStream {
    /// A stream of `len` bytes of `file` from `offset`; `sendfile` lets it go to the socket
    /// without passing through memory where the connection allows.
    pub(crate) fn new(file: File, offset: u64, len: u64, sendfile: bool) -> FileStream {
        FileStream {
            file: Some(file),
            offset,
            remaining: len,
            sendfile,
            positioned: false,
        }
    }

    /// What is left to send, for a caller that frames the body itself (HTTP/2); `None` once
    /// everything was sent.
    pub(crate) fn into_slice(self) -> Option<FileSlice> {
        let file = self.file?;
        (self.remaining > 0).then_some(FileSlice {
            file,
            offset: self.offset,
            len: self.remaining,
        })
    }

    /// Queues the rest of the file on the connection, or tops its output up with file data
    /// to the high-water mark (the lower one while memory is tight).
    pub(crate) fn pump(&mut self, cx: &mut Ctx<'_>) -> io::Result<Pumped> {
        let Some(file) = self.file.take() else {
            return Ok(Pumped::Done);
        };
        if self.remaining == 0 {
            return Ok(Pumped::Done);
        }
        if self.sendfile && cx.can_send_files() {
            let slice = FileSlice {
                file,
                offset: self.offset,
                len: self.remaining,
            };
            return match cx.send_file(slice) {
                Ok(()) => {
                    self.remaining = 0;
                    Ok(Pumped::Done)
                }
                // Another answer's file is still going out ahead of this one.
                Err(slice) => {
                    self.file = Some(slice.file);
                    Ok(Pumped::More)
                }
            };
        }
        let file = self.file.insert(file);
        if !self.positioned {
            file.seek(SeekFrom::Start(self.offset))?;
            self.positioned = true;
        }
        let mark = if cx.memory_tight() {
            HIGH_WATER_TIGHT
        } else {
            HIGH_WATER
        };
        let mut out = cx.out();
        while self.remaining > 0 {
            let room = mark.saturating_sub(out.pending());
            if room == 0 {
                return Ok(Pumped::More);
            }
            let want = self.remaining.min(room as u64);
            out.reserve(want as usize);
            let got = out.read_from(&mut *file, want)?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while sent",
                ));
            }
            self.remaining -= got as u64;
            self.offset += got as u64;
        }
        Ok(Pumped::Done)
    }
}
