//! [`TlsSession`]: any [`Session`] behind TLS, driven through rustls's byte-buffer API.
//!
//! ```text
//!  ciphertext in ──read_tls──► rustls ──reader()──► plain in ──on_input──► inner session
//!  (reactor input)            (decrypt)                                      │ nested Ctx
//!  ciphertext out ◄─write_tls── rustls ◄─writer()── plain out ◄──────────────┘ (+ forwarded)
//!  (reactor output)           (encrypt)        (both lent by the thread: see `spare`)
//! ```
//!
//! The wrapper is itself a session, so the reactor drives it exactly as it drives a plain one
//! and never learns that TLS exists. Every callback the reactor makes becomes, after TLS has
//! done its part, the same callback on the inner session, with a context
//! ([`Ctx::nested`]) whose output is a plaintext buffer; what the inner session wrote (and the
//! input it forwarded, [`Step::forward`] — necessarily a copy here, since it is re-encrypted)
//! is encrypted into the reactor's output when the callback returns.
//!
//! Guarantees:
//! - **Backpressure.** Ciphertext is decrypted only while the connection's pending output is
//!   below `max_pending` and the inner session holds less than its input limit of plaintext;
//!   the rest stays unconsumed in the reactor's input buffer, which the reactor bounds. The
//!   inner session sees the encrypted output as its own pending output, so a streamed body
//!   still goes only as fast as the peer reads.
//! - **Handshake deadline.** From `on_open` until the handshake completes the session deadline
//!   is the handshake timeout: a client that sends nothing, or half a ClientHello, is closed.
//!   The inner session is opened (`on_open`: a chat join notice) only once the handshake is
//!   done, and owns the deadline from then on. After the handshake a record must arrive
//!   whole within the same time from its first byte (a record trickled a byte at a time would
//!   otherwise reset the idle timeout forever).
//! - **Closing.** `Flow::Close` from the inner session sends `close_notify`; the peer's
//!   `close_notify` is `on_eof` for the inner session. A TCP EOF without it (a truncation
//!   that many clients commit) is also `on_eof`, logged at debug level.
//! - **Memory counted.** What the layer holds between calls is reported to the reactor's
//!   memory budget ([`Ctx::set_held`]), added to what the inner session reports: decrypted
//!   input the inner session left unconsumed, and the incomplete record rustls keeps (followed
//!   here by the record headers, [`Records`]). rustls's outgoing buffers are emptied into the
//!   reactor's output (counted there) after every write, and capped at [`RUSTLS_SEND_LIMIT`].
//! - **Hostile input** gets a TLS alert (when rustls has one to say) and a close, never a
//!   panic. Plain HTTP sent to an HTTPS listener gets a plaintext `400` saying so.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;
use rustls::{CipherSuite, HandshakeKind, ProtocolVersion, ServerConfig, ServerConnection};

use crate::session::{Ctx, Flow, Session, Step};

/// The per-connection settings of a TLS listener.
#[derive(Debug, Clone)]
pub(crate) struct TlsSettings {
    /// The handshake must complete within this time from the connection's opening; after it,
    /// one record must arrive whole within this time from its first byte.
    pub handshake_timeout: Duration,
    /// Ciphertext is decrypted only while the connection has less output than this pending.
    pub max_pending: usize,
    /// The most decrypted input held for an inner session that has not consumed it (the inner
    /// service's input limit).
    pub inner_input_limit: usize,
    /// Answer plain HTTP with a plaintext `400` rather than an alert (HTTPS listeners).
    pub plain_http_hint: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            handshake_timeout: Duration::from_secs(10),
            max_pending: 256 * 1024,
            inner_input_limit: 64 * 1024,
            plain_http_hint: false,
        }
    }
}

/// The most bytes rustls may hold to send (plaintext before the handshake, records after).
///
/// Not a flag: every write is moved into the reactor's output at once (where
/// `--max-output` and the memory budget count it), so this only cuts a large answer into
/// chunks that are encrypted and moved one after the other; rustls never keeps more.
pub(super) const RUSTLS_SEND_LIMIT: usize = 64 * 1024;

/// What a plain-HTTP client gets on an HTTPS port (compare nginx's 497).
pub(crate) const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 64\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS: ask for https:// rather than http:// .\r\n";

/// Where the TLS layer is.
///
/// ```text
///  Fresh ─first byte─► Handshaking ─done─► Open ─peer's close_notify/EOF─► PeerClosed
///    │                     │                 │                                 │
///    └── plain HTTP ───────┴── alert, timeout┴── inner Close: close_notify ────┴──► Closed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing received yet (the plain-HTTP check looks at the very first bytes).
    Fresh,
    /// Waiting for the handshake to complete; the inner session is not open yet.
    Handshaking,
    /// Application data flows both ways.
    Open,
    /// The peer will send nothing more (its `close_notify`, or a TCP EOF); the inner session
    /// has had `on_eof` and may still be writing.
    PeerClosed,
    /// We sent `close_notify` (or gave up): nothing more is read or written.
    Closed {
        /// Whether the inner session had been opened, and so must hear `on_close`.
        was_open: bool,
    },
}

impl Phase {
    /// Before the handshake completed.
    fn handshaking(self) -> bool {
        matches!(self, Phase::Fresh | Phase::Handshaking)
    }

    /// Whether the inner session has been opened.
    fn opened(self) -> bool {
        matches!(
            self,
            Phase::Open | Phase::PeerClosed | Phase::Closed { was_open: true }
        )
    }

    /// The phase after closing from this one.
    fn closed(self) -> Phase {
        Phase::Closed {
            was_open: self.opened(),
        }
    }
}

/// A session behind TLS: decrypts input for `inner` and encrypts what it writes.
pub(crate) struct TlsSession<S> {
    tls: ServerConnection,
    inner: S,
    phase: Phase,
    settings: Arc<TlsSettings>,
    /// Decrypted input the inner session has not consumed yet. Borrowed from the thread's
    /// spare buffer while it fills, kept only while the inner session leaves bytes in it.
    plain_in: Vec<u8>,
    /// Since when bytes of a record have been arriving without completing it.
    partial_since: Option<Instant>,
    /// Where the ciphertext fed to rustls stands between records.
    records: Records,
    /// What this layer last added to the session's held bytes (see [`Ctx::set_held`]).
    held_own: usize,
}

impl<S: Session> TlsSession<S> {
    /// Wraps `inner` in a new server-side TLS connection.
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        settings: Arc<TlsSettings>,
        inner: S,
    ) -> Result<TlsSession<S>, rustls::Error> {
        let mut tls = ServerConnection::new(config)?;
        // The reactor's output limit bounds what rustls produces: everything it encrypts is
        // moved at once into the reactor's buffer, which is counted and throttled there.
        tls.set_buffer_limit(Some(RUSTLS_SEND_LIMIT));
        Ok(TlsSession {
            tls,
            inner,
            phase: Phase::Fresh,
            settings,
            plain_in: Vec::new(),
            partial_since: None,
            records: Records::default(),
            held_own: 0,
        })
    }

    /// The rustls connection (negotiated version, cipher suite, ALPN, SNI).
    #[cfg(test)]
    pub(crate) fn connection(&self) -> &ServerConnection {
        &self.tls
    }

    /// The plaintext buffer capacity this connection holds (none while idle).
    #[cfg(test)]
    pub(super) fn held_plaintext(&self) -> usize {
        self.plain_in.capacity()
    }

    /// The bytes this layer holds between calls: decrypted input the inner session left, and
    /// the incomplete record rustls keeps.
    fn held_own(&self) -> usize {
        self.plain_in.len() + self.records.partial()
    }

    /// Reports what this layer holds plus what the inner session last reported: both share
    /// the connection's one figure ([`Ctx::nested`] shares it), so the inner session's part
    /// is what is there beyond this layer's last report.
    fn report_held(&mut self, cx: &mut Ctx<'_>) {
        let inner = cx.held().saturating_sub(self.held_own);
        self.held_own = self.held_own();
        cx.set_held(inner + self.held_own);
    }

    /// Moves whatever rustls has to send (handshake messages, records, alerts) to the output.
    fn flush_tls(&mut self, cx: &mut Ctx<'_>) {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut cx.out()) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    // Writing into a Vec cannot fail; stop rather than loop if it ever did.
                    debug!("{}: tls write: {e}", cx.peer());
                    break;
                }
            }
        }
    }

    /// Runs one inner-session callback with a plaintext context, then encrypts its output.
    fn with_inner<R>(
        &mut self,
        cx: &mut Ctx<'_>,
        f: impl FnOnce(&mut S, &[u8], &mut Ctx<'_>) -> (R, usize),
    ) -> R {
        let mut plain = spare::take(&spare::OUT);
        // The inner session sees, and replaces, its own figure only.
        cx.set_held(cx.held().saturating_sub(std::mem::take(&mut self.held_own)));
        let (r, forward) = {
            let mut inner_cx = cx.nested(&mut plain);
            f(&mut self.inner, &self.plain_in, &mut inner_cx)
        };
        if forward > 0 {
            plain.extend_from_slice(&self.plain_in[..forward]);
        }
        self.encrypt(&plain, cx);
        spare::give_back(&spare::OUT, plain);
        self.report_held(cx);
        r
    }

    /// Encrypts `plain` into the output.
    fn encrypt(&mut self, plain: &[u8], cx: &mut Ctx<'_>) {
        if plain.is_empty() || matches!(self.phase, Phase::Closed { .. }) {
            return;
        }
        // rustls takes at most `RUSTLS_SEND_LIMIT` at a time: move out, encrypt, repeat.
        let mut rest = plain;
        while !rest.is_empty() {
            self.flush_tls(cx);
            match self.tls.writer().write(rest) {
                Ok(0) => {
                    debug!("{}: tls encrypt: rustls takes nothing", cx.peer());
                    break;
                }
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(e) => {
                    debug!("{}: tls encrypt: {e}", cx.peer());
                    break;
                }
            }
        }
        self.flush_tls(cx);
    }

    /// Translates the inner session's flow: a close sends `close_notify` first.
    fn conclude(&mut self, flow: Flow, cx: &mut Ctx<'_>) -> Flow {
        match flow {
            Flow::Continue => Flow::Continue,
            Flow::Close => {
                if !matches!(self.phase, Phase::Closed { .. }) {
                    self.tls.send_close_notify();
                    self.flush_tls(cx);
                    self.phase = self.phase.closed();
                }
                Flow::Close
            }
            Flow::Abort => {
                self.phase = self.phase.closed();
                Flow::Abort
            }
        }
    }

    /// A fatal TLS error: send the alert rustls queued, count it, close.
    fn fail(&mut self, why: &dyn std::fmt::Display, cx: &mut Ctx<'_>) -> Flow {
        debug!("{}: tls: {why}", cx.peer());
        if self.phase.handshaking() {
            cx.stats().tls_handshakes_failed.incr();
        }
        self.flush_tls(cx);
        self.phase = self.phase.closed();
        Flow::Close
    }

    /// The handshake just completed: count it, hand the deadline to the inner session, open it.
    fn on_established(&mut self, cx: &mut Ctx<'_>) -> Flow {
        match self.tls.handshake_kind() {
            Some(HandshakeKind::Resumed) => cx.stats().tls_handshakes_resumed.incr(),
            _ => cx.stats().tls_handshakes_full.incr(),
        }
        match self.tls.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => cx.stats().tls_version_1_3.incr(),
            Some(ProtocolVersion::TLSv1_2) => cx.stats().tls_version_1_2.incr(),
            _ => {}
        }
        if let Some(suite) = self.tls.negotiated_cipher_suite() {
            let stats = cx.stats();
            match suite.suite() {
                CipherSuite::TLS13_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => {
                    stats.tls_cipher_aes_128_gcm.incr()
                }
                CipherSuite::TLS13_AES_256_GCM_SHA384
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => {
                    stats.tls_cipher_aes_256_gcm.incr()
                }
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
                    stats.tls_cipher_chacha20_poly1305.incr()
                }
                _ => {} // rustls's default provider offers no other suite
            }
        }
        self.phase = Phase::Open;
        cx.set_deadline(None);
        let flow = self.with_inner(cx, |s, _, icx| (s.on_open(icx), 0));
        self.conclude(flow, cx)
    }

    /// Offers the decrypted input to the inner session, keeping what it leaves.
    fn offer_plain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if self.plain_in.is_empty() || self.phase != Phase::Open {
            return Flow::Continue;
        }
        let step = self.with_inner(cx, |s, input, icx| {
            let step = s.on_input(input, icx);
            let consumed = step.consumed.min(input.len());
            (step, step.forward.min(consumed))
        });
        let consumed = step.consumed.min(self.plain_in.len());
        self.consume_plain(consumed);
        let flow = self.conclude(step.flow, cx);
        if flow == Flow::Continue
            && consumed == 0
            && self.plain_in.len() >= self.settings.inner_input_limit
            && cx.pending_output() == 0
        {
            // The inner session holds a full buffer and waits for nothing: it never will
            // progress (the reactor closes a plain connection in the same state).
            debug!("{}: inner input limit reached without progress", cx.peer());
            return self.conclude(Flow::Close, cx);
        }
        flow
    }

    /// Drops the first `n` plaintext bytes. An emptied buffer goes back to the thread's spare,
    /// so an idle connection owns none; a partial message left in a large buffer is moved to
    /// one of its own size, and the large one goes back.
    fn consume_plain(&mut self, n: usize) {
        self.plain_in.drain(..n);
        if self.plain_in.is_empty() {
            spare::give_back(&spare::IN, std::mem::take(&mut self.plain_in));
        } else if self.plain_in.capacity() > 16 * 1024
            && self.plain_in.capacity() > 2 * self.plain_in.len()
        {
            let rest = self.plain_in.to_vec();
            spare::give_back(&spare::IN, std::mem::replace(&mut self.plain_in, rest));
        }
    }

    /// Whether decrypting more now would outrun the peer (output) or the inner session (input).
    fn throttled(&self, cx: &Ctx<'_>) -> bool {
        cx.pending_output() >= self.settings.max_pending
            || self.plain_in.len() >= self.settings.inner_input_limit
    }

    /// Feeds ciphertext to rustls, record batch by record batch, delivering plaintext to the
    /// inner session as it appears. Returns the bytes consumed and the flow.
    fn pump(&mut self, input: &[u8], cx: &mut Ctx<'_>, bounded: bool) -> (usize, Flow) {
        let mut used = 0;
        while used < input.len() {
            if matches!(self.phase, Phase::PeerClosed | Phase::Closed { .. }) {
                // Nothing after close_notify means anything: discard it.
                return (input.len(), Flow::Continue);
            }
            if bounded && self.phase == Phase::Open && self.throttled(cx) {
                break;
            }
            let n = match self.tls.read_tls(&mut &input[used..]) {
                Ok(n) => n,
                Err(e) => return (input.len(), self.fail(&e, cx)),
            };
            self.records.feed(&input[used..used + n]);
            used += n;
            let state = match self.tls.process_new_packets() {
                Ok(state) => state,
                Err(e) => return (input.len(), self.fail(&e, cx)),
            };
            if self.phase == Phase::Open && self.trickling(&state, n, cx) {
                debug!("{}: a tls record trickled in too slowly", cx.peer());
                return (input.len(), self.conclude(Flow::Close, cx));
            }
            self.flush_tls(cx);
            if self.phase.handshaking() && !self.tls.is_handshaking() {
                let flow = self.on_established(cx);
                if flow != Flow::Continue {
                    return (input.len(), flow);
                }
            }
            let ready = state.plaintext_bytes_to_read();
            if ready > 0 {
                if self.plain_in.capacity() == 0 {
                    self.plain_in = spare::take(&spare::IN);
                }
                let at = self.plain_in.len();
                self.plain_in.resize(at + ready, 0);
                if let Err(e) = self.tls.reader().read_exact(&mut self.plain_in[at..]) {
                    self.plain_in.truncate(at);
                    return (input.len(), self.fail(&e, cx));
                }
            }
            let flow = self.offer_plain(cx);
            if flow != Flow::Continue {
                return (input.len(), flow);
            }
            if state.peer_has_closed() {
                return (input.len(), self.peer_closed(cx));
            }
            if n == 0 {
                // rustls took nothing: a record it cannot buffer yet. Cannot happen after a
                // successful process, but never spin on it.
                break;
            }
        }
        (used, Flow::Continue)
    }

    /// Whether the peer has been sending one record for longer than the handshake timeout:
    /// bytes arriving, none completing a record. The handshake has its deadline, and HTTP's
    /// header timeout starts only at the first *plaintext* byte, so without this a client
    /// could hold a connection by trickling a record a byte at a time, each byte resetting
    /// the idle timeout.
    fn trickling(&mut self, state: &rustls::IoState, taken: usize, cx: &Ctx<'_>) -> bool {
        let completed = state.plaintext_bytes_to_read() > 0
            || state.tls_bytes_to_write() > 0
            || state.peer_has_closed();
        if completed {
            self.partial_since = None;
            return false;
        }
        if taken == 0 {
            return false;
        }
        let since = *self.partial_since.get_or_insert(cx.now());
        cx.now().saturating_duration_since(since) > self.settings.handshake_timeout
    }

    /// The peer will send nothing more: tell the inner session, with what it left unconsumed.
    fn peer_closed(&mut self, cx: &mut Ctx<'_>) -> Flow {
        match self.phase {
            Phase::Fresh | Phase::Handshaking => {
                cx.stats().tls_handshakes_failed.incr();
                self.phase = self.phase.closed();
                Flow::Close
            }
            Phase::Open => {
                self.phase = Phase::PeerClosed;
                let flow = self.with_inner(cx, |s, input, icx| (s.on_eof(input, icx), 0));
                self.conclude(flow, cx)
            }
            // The inner session heard it already and is still finishing its answer.
            Phase::PeerClosed => Flow::Continue,
            Phase::Closed { .. } => Flow::Close,
        }
    }

    /// A client speaking plain HTTP to the HTTPS port: tell it in words, then close.
    fn looks_like_plain_http(&self, input: &[u8]) -> bool {
        // A TLS connection starts with a handshake record (22); an HTTP request with a method
        // name in capitals followed by a space.
        self.settings.plain_http_hint && {
            let word = input.iter().take_while(|b| b.is_ascii_uppercase()).count();
            word > 0 && (word == input.len() || (word < input.len() && input[word] == b' '))
        }
    }
}

impl<S: Session> Session for TlsSession<S> {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.set_deadline(cx.now().checked_add(self.settings.handshake_timeout));
        Flow::Continue
    }

    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        if self.phase == Phase::Fresh && !input.is_empty() {
            self.phase = Phase::Handshaking;
            if self.looks_like_plain_http(input) {
                debug!("{}: plain HTTP on a TLS port", cx.peer());
                cx.stats().tls_handshakes_failed.incr();
                cx.out().extend_from_slice(PLAIN_HTTP_ANSWER);
                self.phase = self.phase.closed();
                return Step::close(input.len());
            }
        }
        let (consumed, flow) = self.pump(input, cx, true);
        self.report_held(cx);
        Step {
            consumed,
            forward: 0,
            flow,
        }
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if !matches!(self.phase, Phase::Open | Phase::PeerClosed) {
            return Flow::Continue;
        }
        let flow = self.with_inner(cx, |s, _, icx| (s.on_drain(icx), 0));
        let flow = self.conclude(flow, cx);
        if flow != Flow::Continue {
            return flow;
        }
        if self.phase == Phase::PeerClosed && !self.plain_in.is_empty() {
            // As the reactor does after an EOF the session chose to outlive: offer what was
            // left (requests queued behind a streamed answer) again.
            let step = self.with_inner(cx, |s, input, icx| {
                let step = s.on_input(input, icx);
                (step, step.forward.min(step.consumed).min(input.len()))
            });
            let consumed = step.consumed.min(self.plain_in.len());
            self.consume_plain(consumed);
            let flow = self.conclude(step.flow, cx);
            self.report_held(cx);
            return flow;
        }
        let flow = self.offer_plain(cx);
        self.report_held(cx);
        flow
    }

    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        // Whatever ciphertext was left (a last record held back by backpressure) first.
        let (_, flow) = self.pump(input, cx, false);
        self.report_held(cx);
        if flow != Flow::Continue {
            return flow;
        }
        if self.phase == Phase::Open {
            debug!("{}: tcp eof without close_notify", cx.peer());
        }
        self.peer_closed(cx)
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        match self.phase {
            Phase::Fresh | Phase::Handshaking => {
                debug!("{}: tls handshake timed out", cx.peer());
                cx.stats().tls_handshakes_failed.incr();
                self.phase = self.phase.closed();
                Flow::Close
            }
            Phase::Open | Phase::PeerClosed => {
                let flow = self.with_inner(cx, |s, _, icx| (s.on_timeout(icx), 0));
                self.conclude(flow, cx)
            }
            Phase::Closed { .. } => Flow::Close,
        }
    }

    fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
        // A connection still handshaking has not joined the room (its inner session is not
        // open), so it hears nothing: a trickling handshake cannot hoard broadcasts.
        if !matches!(self.phase, Phase::Open | Phase::PeerClosed) {
            return Flow::Continue;
        }
        let flow = self.with_inner(cx, |s, _, icx| (s.on_broadcast(message, icx), 0));
        self.conclude(flow, cx)
    }

    /// The inner session's goodbye, encrypted. No `close_notify` here: a stream still being
    /// finished must be sent first; it follows when the inner session has nothing more.
    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
        if matches!(self.phase, Phase::Open | Phase::PeerClosed) {
            let flow = self.with_inner(cx, |s, _, icx| {
                s.on_shutdown(icx);
                (Flow::Continue, 0)
            });
            self.conclude(flow, cx);
        }
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        // Only a session that was opened is told it closes (a chat leave notice).
        if self.phase.opened() {
            let mut discard = Vec::new();
            let mut inner_cx = cx.nested(&mut discard);
            self.inner.on_close(&mut inner_cx);
        }
    }
}

/// Follows the TLS record layer (RFC 8446 §5.1: a 5-byte header whose last two bytes are the
/// length, then that many bytes) through the ciphertext handed to rustls, to know how many
/// bytes of an incomplete record rustls keeps in its buffer: its API does not say, and a
/// peer may send up to 16 KiB of a record and stop. Complete records are processed by
/// rustls in the same call (`process_new_packets`), so only the incomplete one is held.
/// During the handshake rustls may also join several records into one message (at most
/// 64 KiB, within the handshake timeout): those are not seen here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Records {
    /// The header of the record under way, as far as it has come.
    header: [u8; 5],
    header_len: usize,
    /// Bytes of its body still to come, once the header is whole.
    body_left: usize,
    /// Bytes of it fed so far, header included.
    partial: usize,
}

impl Records {
    /// Follows `bytes`, the next ciphertext rustls took.
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = if self.header_len < self.header.len() {
                let take = (self.header.len() - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_len += take;
                if self.header_len == self.header.len() {
                    self.body_left =
                        usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                }
                take
            } else {
                let take = self.body_left.min(bytes.len());
                self.body_left -= take;
                take
            };
            self.partial += take;
            bytes = &bytes[take..];
            if self.header_len == self.header.len() && self.body_left == 0 {
                *self = Records::default();
            }
        }
    }

    /// Bytes of the incomplete record fed so far.
    fn partial(&self) -> usize {
        self.partial
    }
}

/// The plaintext buffers of the session running now, lent by the reactor's thread.
///
/// Sessions run one at a time on their reactor's thread, so one pair of buffers serves them
/// all, as the reactor's one read buffer serves every connection: a connection owns plaintext
/// only while its inner session leaves some unconsumed. A buffer is taken out of its cell and
/// put back, never borrowed in place, so a call that somehow nested would get a fresh empty
/// buffer rather than a panic.
mod spare {
    use std::cell::Cell;
    use std::thread::LocalKey;

    /// The most capacity kept between calls; a larger buffer (a huge answer) is freed.
    const KEEP: usize = 1024 * 1024;

    thread_local! {
        /// Decrypted input.
        pub(crate) static IN: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
        /// The inner session's output, before encryption.
        pub(crate) static OUT: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }

    /// The thread's buffer, empty.
    pub(super) fn take(key: &'static LocalKey<Cell<Vec<u8>>>) -> Vec<u8> {
        let mut buf = key.with(Cell::take);
        buf.clear();
        buf
    }

    /// Puts `buf` back for the next call.
    pub(super) fn give_back(key: &'static LocalKey<Cell<Vec<u8>>>, mut buf: Vec<u8>) {
        if buf.capacity() <= KEEP {
            buf.clear();
            key.with(|cell| cell.set(buf));
        }
    }
}
