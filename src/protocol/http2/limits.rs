//! Every limit an HTTP/2 connection enforces, with its default, in one place.
//!
//! The first four are announced to the peer in our SETTINGS; the rest are ours alone and
//! bound what a peer can make one connection cost: bytes held while a header block is
//! assembled, answers held for a peer that does not read, frames it takes, resets and
//! control frames it provokes.

use std::time::Duration;

/// The HTTP/2 part of an HTTP service's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Config {
    /// Whether HTTP/2 is served at all: h2c by prior knowledge on plain listeners, `h2` by
    /// ALPN on HTTPS ones. Default `true` (`--no-http2` turns both off).
    pub enabled: bool,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: streams a client may have open at once; one more
    /// is refused with `REFUSED_STREAM`. Default 128.
    pub max_concurrent_streams: u32,
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: request-body bytes a client may send on a stream
    /// before we grant more; also the most a stream's unread answer may hold before we stop
    /// granting. Default 256 KiB.
    pub initial_window_size: u32,
    /// The connection's receive window, granted right after the preface (the protocol
    /// starts every connection at 64 KiB). Default 1 MiB.
    pub connection_window_size: u32,
    /// `SETTINGS_MAX_FRAME_SIZE`: the largest frame payload we accept. Default 16 KiB, the
    /// protocol's minimum.
    pub max_frame_size: u32,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`: the largest decoded request head (names and values
    /// plus 32 bytes a field, RFC 9113 §6.5.2); larger is answered 431. Default 16 KiB.
    pub max_header_list_size: u32,
    /// The largest compressed header block (HEADERS plus CONTINUATION frames) held while it
    /// is assembled; larger ends the connection. Default 16 KiB.
    pub max_header_block: usize,
    /// The most CONTINUATION frames in one header block (a flood of empty ones costs a
    /// frame each and grows nothing, CVE-2024-27983). Default 32.
    pub max_continuations: u32,
    /// Streams reset within `RESET_WINDOW`, by the client (RST_STREAM) or by us for a
    /// client's error, before the connection is ended with `ENHANCE_YOUR_CALM`: Rapid Reset
    /// (CVE-2023-44487) and MadeYouReset (CVE-2025-8671) make the server start work that is
    /// cancelled at once. Default 200.
    pub max_resets: u32,
    /// Control frames we owe the peer (SETTINGS and PING acknowledgements, resets) queued
    /// while it does not read them; one more ends the connection with `ENHANCE_YOUR_CALM`.
    /// Default 1,000.
    pub max_queued_control: u32,
    /// Answer and request-body bytes the connection's streams may hold while the peer's
    /// windows are closed (or its reads slow); at or past it, a new stream is refused with
    /// `REFUSED_STREAM` and no more window is granted, so request bodies stop too. One
    /// connection then holds at most this, plus one answer, plus the connection window
    /// already granted. Default 1 MiB (`--http2-max-held`).
    pub max_held: usize,
    /// Empty DATA frames (no payload, no padding, no END_STREAM) in a row, with no DATA that
    /// carries a byte between them; one more ends the connection with `ENHANCE_YOUR_CALM`.
    /// Such a frame spends no flow-control window, so nothing else bounds how many a client
    /// sends, and each costs a pass through the stream's handler (CVE-2019-9518). Default 100.
    pub max_empty_frames: u32,
}

/// The span over which [`Http2Config::max_resets`] counts.
pub(crate) const RESET_WINDOW: Duration = Duration::from_secs(10);

impl Default for Http2Config {
    fn default() -> Http2Config {
        Http2Config {
            enabled: true,
            max_concurrent_streams: 128,
            initial_window_size: 256 * 1024,
            connection_window_size: 1024 * 1024,
            max_frame_size: 16 * 1024,
            max_header_list_size: 16 * 1024,
            max_header_block: 16 * 1024,
            max_continuations: 32,
            max_resets: 200,
            max_queued_control: 1000,
            max_held: 1024 * 1024,
            max_empty_frames: 100,
        }
    }
}
