//! Answers out: HEADERS as soon as a handler has written its head, DATA round-robin.
//!
//! HEADERS are not flow controlled, and HPACK's table depends on the order blocks are
//! encoded in, so a head is encoded and appended to the connection's output the moment the
//! handler has written it ([`Stream::send_head`]). DATA is what flow control governs: the
//! producer ([`H2Session::produce`]) walks the streams round-robin and gives each one frame
//! of at most 16 KiB per pass, within the connection's window, the stream's window and the
//! peer's `SETTINGS_MAX_FRAME_SIZE`, until the connection's output holds [`HIGH_WATER`]
//! bytes. A large download therefore takes one frame in turn with every other answer, and a
//! small answer beside it leaves after a frame of the download, not after all of it. An
//! answer complete and short enough for one frame within the windows
//! ([`Stream::fits_one_frame`]) does not wait for the producer: its DATA follows its HEADERS
//! at once, and its stream closes before the next request of the same read is opened.
//!
//! A file body goes out as a DATA frame header appended to the output, then a slice of the
//! file of that frame's length queued with [`Ctx::send_file`], so on plain TCP its bytes
//! never enter the server's memory. The reactor holds one slice at a time: the next frame of
//! a file waits for the previous one to be sent, while buffered answers go on. Under TLS the
//! frame's bytes are read into the output instead.
//!
//! Request bodies, the other way: a stream's receive window is topped up only while its
//! answer's backlog is under one window. An `/echo` whose client sends but does not read
//! stops being granted room, and stops being sent to: memory per stream stays bounded.

use std::io;
use std::os::unix::fs::FileExt;

use crate::session::{Ctx, FileSlice};

use super::conn::H2Session;
use super::frame::{self, ErrorCode};
use super::hpack;
use super::stream::Stream;
use crate::protocol::http::multiplexed::{head_len, response_head};

/// The output backlog the producer tops up to: a client that stops reading holds at most
/// this much beyond its socket buffer (plus one file frame).
pub(super) const HIGH_WATER: usize = 64 * 1024;

/// The most body bytes in one DATA frame, whatever the peer allows: the unit of fairness.
pub(super) const FRAME_CHUNK: usize = 16 * 1024;

/// A complete answer without a head: a bug of ours, answered with a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoHead;

impl Stream {
    /// Encodes the head the handler wrote, if it has, as HEADERS (with END_STREAM when the
    /// answer is bodiless and complete). `Err` if the handler's answer is complete but has
    /// no head: a bug of ours, answered with a reset.
    pub(crate) fn send_head(
        &mut self,
        encoder: &mut hpack::Encoder,
        block: &mut Vec<u8>,
        max_frame: u32,
        cx: &mut Ctx<'_>,
    ) -> Result<(), NoHead> {
        while !self.head_sent {
            let rest = self.out.get(self.sent..).unwrap_or_default();
            // "HTTP/1.1 200 OK": the status is bytes 9 to 12.
            let status = rest
                .get(9..12)
                .filter(|d| d.iter().all(u8::is_ascii_digit))
                .map(|d| d.iter().fold(0u16, |n, &b| n * 10 + u16::from(b - b'0')));
            let Some(status) = status else {
                return if self.complete { Err(NoHead) } else { Ok(()) };
            };
            block.clear();
            // The same head as the last one encoded, the table unchanged since (every field
            // of a repeated answer is indexed by then): the same block, without looking for
            // its end, parsing or encoding it again. A head ends at its first blank line, so
            // the remembered head, found at the start of `rest`, is all of `rest`'s head.
            let remembered = encoder.remembered_len();
            let repeated = match rest.get(..remembered) {
                Some(head) if remembered > 0 => encoder.repeat(head),
                _ => None,
            };
            let (len, parsed) = match repeated {
                Some(memo) => {
                    block.extend_from_slice(memo);
                    (remembered, true)
                }
                None => {
                    // Handlers write a head whole, in one call: until its blank line is
                    // there, nothing is encoded (every block the encoder starts changes its
                    // table and must be sent).
                    let Some(len) = head_len(rest) else {
                        return if self.complete { Err(NoHead) } else { Ok(()) };
                    };
                    let head = &rest[..len];
                    let before = encoder.generation();
                    let mut fields = encoder.block(&mut *block);
                    fields.status(status);
                    let parsed = response_head(head, |name, value| fields.field(name, value));
                    if parsed.is_some() {
                        encoder.remember(head, before, block);
                    }
                    (len, parsed.is_some())
                }
            };
            if !parsed {
                // Our own head did not parse: a bug. The block is sent all the same, to
                // keep the client's table in step, and the stream is reset.
                frame::encode_headers(&mut cx.out(), self.id, block, true, max_frame);
                return Err(NoHead);
            }
            self.sent += len;
            if (100..200).contains(&status) {
                // An interim answer (`100 Continue`): HEADERS of its own, then the final
                // head follows.
                frame::encode_headers(&mut cx.out(), self.id, block, false, max_frame);
                continue;
            }
            self.head_sent = true;
            let end_stream = self.complete && self.backlog() == 0 && self.file.is_none();
            frame::encode_headers(&mut cx.out(), self.id, block, end_stream, max_frame);
            if end_stream {
                self.state.we_ended(self.id);
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
        Ok(())
    }

    /// Tops up the stream's receive window while its answer's backlog is under `window`
    /// bytes (see the module's docs).
    pub(crate) fn grant(&mut self, window: usize, cx: &mut Ctx<'_>) {
        if !self.state.peer_may_send() || self.backlog() >= window {
            return;
        }
        if let Some(grant) = self.recv.update_due() {
            frame::encode_window_update(&mut cx.out(), self.id, grant);
        }
    }

    /// Whether the rest of the answer is in the buffer, its head sent, and goes out in one
    /// DATA frame of at most `room` bytes that the stream's window allows.
    pub(crate) fn fits_one_frame(&self, room: usize) -> bool {
        let left = self.backlog();
        self.head_sent
            && self.complete
            && self.file.is_none()
            && self.state.we_may_send()
            && left <= room
            && left <= self.send.available()
    }

    /// Sends one DATA frame of at most `room` bytes, or the empty one that ends a stream
    /// whose body is all out. Returns the body bytes sent, `None` if nothing could be.
    pub(crate) fn send_data(
        &mut self,
        room: usize,
        chunk: &mut Vec<u8>,
        cx: &mut Ctx<'_>,
    ) -> io::Result<Option<usize>> {
        if !self.head_sent || !self.state.we_may_send() {
            return Ok(None);
        }
        let buffered = self.backlog();
        let file_len = self
            .file
            .as_ref()
            .map_or(0, |f| usize::try_from(f.len).unwrap_or(usize::MAX));
        if buffered == 0 && file_len == 0 {
            if !self.complete {
                return Ok(None);
            }
            frame::encode_data(&mut cx.out(), self.id, &[], true);
            self.state.we_ended(self.id);
            return Ok(Some(0));
        }
        let room = room.min(self.send.available());
        if room == 0 {
            return Ok(None);
        }
        let n = if buffered > 0 {
            let n = buffered.min(room);
            let end = self.complete && self.file.is_none() && n == buffered;
            let data = self.out.get(self.sent..self.sent + n).unwrap_or_default();
            frame::encode_data(&mut cx.out(), self.id, data, end);
            self.sent += n;
            if self.sent == self.out.len() {
                self.out.clear();
                self.sent = 0;
            }
            if end {
                self.state.we_ended(self.id);
            }
            n
        } else {
            let Some(n) = self.send_file_frame(room.min(file_len), chunk, cx)? else {
                return Ok(None);
            };
            if let Some(exchange) = &mut self.exchange {
                exchange.add_bytes(n as u64);
            }
            n
        };
        self.send.spend(n);
        Ok(Some(n))
    }

    /// One DATA frame of `n` bytes of the file body: `sendfile` where the connection can,
    /// else read into the output. `None` while another file slice is still queued.
    fn send_file_frame(
        &mut self,
        n: usize,
        chunk: &mut Vec<u8>,
        cx: &mut Ctx<'_>,
    ) -> io::Result<Option<usize>> {
        let Some(file) = &mut self.file else {
            return Ok(None);
        };
        let end = self.complete && n as u64 == file.len;
        let len = u32::try_from(n).unwrap_or(u32::MAX);
        if cx.can_send_files() {
            if !cx.can_queue_file() {
                return Ok(None);
            }
            let slice = FileSlice {
                file: file.file.try_clone()?,
                offset: file.offset,
                len: n as u64,
            };
            frame::encode_data_header(&mut cx.out(), self.id, len, end);
            if cx.send_file(slice).is_err() {
                return Err(io::Error::other("a file slice was refused"));
            }
        } else {
            chunk.resize(n, 0);
            file.file.read_exact_at(chunk, file.offset)?;
            frame::encode_data(&mut cx.out(), self.id, chunk, end);
        }
        file.offset += n as u64;
        file.len -= n as u64;
        if file.len == 0 {
            self.file = None;
        }
        if end {
            self.state.we_ended(self.id);
        }
        Ok(Some(n))
    }
}

impl H2Session {
    /// Sends DATA round-robin, a frame per stream per pass, until the output holds
    /// [`HIGH_WATER`] bytes or no stream can send (see the module's docs).
    pub(super) fn produce(&mut self, cx: &mut Ctx<'_>) {
        let max = (self.peer_max_frame() as usize).min(FRAME_CHUNK);
        let window = self.window_target();
        loop {
            let n = self.streams.len();
            if n == 0 || cx.pending_output() >= HIGH_WATER {
                break;
            }
            let mut progressed = false;
            let mut failed = Vec::new();
            let grow = self.may_grow(cx);
            for k in 0..n {
                if cx.pending_output() >= HIGH_WATER {
                    break;
                }
                let i = (self.next_turn + k) % n;
                let room = max.min(self.send_window());
                let Some(stream) = self.streams.get_mut(i) else {
                    continue;
                };
                match stream.send_data(room, &mut self.chunk, cx) {
                    Ok(Some(sent)) => {
                        self.spend(sent);
                        progressed = true;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        log::error!("http2: {}: sending a file: {e}", cx.peer());
                        failed.push(stream.id);
                    }
                }
                if let Some(stream) = self.streams.get_mut(i)
                    && grow
                {
                    stream.grant(window, cx);
                }
            }
            self.next_turn = (self.next_turn + 1) % n;
            for id in failed {
                // The head promised bytes we cannot send: only a reset tells the client.
                self.reset_quietly(id, ErrorCode::InternalError, cx);
            }
            self.close_finished(cx);
            if !progressed {
                break;
            }
        }
        // Withheld while the connection held its share (see `conn.rs`, "What one
        // connection holds"): due again once the peer has taken some.
        self.grant_connection(cx);
    }
}
