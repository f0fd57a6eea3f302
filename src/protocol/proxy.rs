//! The PROXY protocol (v2 binary, and v1 text): the real client's address, from a balancer.
//!
//! Behind HAProxy, every connection comes from HAProxy; the client's own address is lost —
//! for logs, for `/healthz`'s answer, for anything counted per client. With `send-proxy-v2`,
//! HAProxy opens each connection with a header naming the client, before any byte of the
//! client's own (HAProxy's `doc/proxy-protocol.txt`):
//!
//! ```text
//!  v2:  0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A   signature (12 bytes)
//!       21                                    version 2, command PROXY (20 = LOCAL)
//!       11                                    family INET, STREAM (21 = INET6, 00 = UNSPEC)
//!       00 0C                                 length of what follows, big-endian
//!       C0 A8 00 01  0A 4D 00 0B  D4 31  1F 90 src addr, dst addr, src port, dst port
//!       [TLVs, skipped]
//!  v1:  "PROXY TCP4 192.168.0.1 10.77.0.11 54321 8080\r\n"   (at most 107 bytes)
//! ```
//!
//! [`parse`] is sans-IO in the httparse style: `Ok(Partial)` is "not yet", never an error, and
//! it refuses as soon as the bytes seen cannot start a header — a client speaking HTTP straight
//! to a PROXY listener is refused at its first byte, not after a timeout.
//!
//! [`ProxySession`] wraps any session: it holds input until the header is complete, then
//! opens the inner session and hands it everything after the header, with the client from the
//! header as its peer ([`Ctx::with_peer`]). A connection whose header is missing, malformed
//! or late is closed before the inner session ever sees it: on a PROXY listener, anything
//! else would let a client that reaches the port directly claim any address it likes.
//! A `LOCAL` header (the balancer's own health check) keeps the socket's peer.
//!
//! Only the balancer may speak for a client: [`ProxyService`] believes headers from the
//! networks it is given (`--proxy-from`) and refuses every other connection at once, before
//! reading a byte, as HAProxy's `accept-proxy` does (see `docs/deploy.md` for why refusing
//! beats serving such a peer under its own address). Refusals are counted (`proxy_refused`)
//! and logged at most once per [`REFUSAL_LOG_EVERY`], so a scan cannot flood the log.

use std::cell::Cell;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::session::{Ctx, Flow, Service, Session, Step};

/// The v2 signature.
pub(crate) const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v2 header accepted, fixed part and TLVs included. HAProxy's own headers (with
/// its usual TLVs) are well under this; a longer one is refused rather than buffered.
pub(crate) const MAX_V2_HEADER: usize = 1024;
/// The longest v1 header, by the specification (CRLF included).
pub(crate) const MAX_V1_HEADER: usize = 107;
/// How long a connection may take to send its header; then it is closed.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one log line per this long about connections refused for coming from outside the
/// trusted networks; the line says how many more were refused meanwhile.
pub(crate) const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

const V1_PREFIX: &[u8] = b"PROXY ";

/// A parse that is not finished or not possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The bytes so far are a valid start; more are needed.
    Partial,
    /// A complete header of `len` bytes; `source` is the client it names, or `None` when the
    /// connection's own peer stands (`LOCAL`, an unknown or non-IP family).
    Done {
        /// The header's length: the client's own bytes start here.
        len: usize,
        /// The real client.
        source: Option<SocketAddr>,
    },
}

/// Why the bytes are not a PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyError {
    /// Neither signature: the peer is not a PROXY-protocol sender.
    NotProxy,
    /// A v2 header of another version.
    BadVersion,
    /// A v2 command other than LOCAL or PROXY.
    BadCommand,
    /// An address family or protocol the specification does not define.
    BadFamily,
    /// The address block is shorter than its family needs, or a v1 field is malformed.
    BadAddress,
    /// Longer than [`MAX_V2_HEADER`] or [`MAX_V1_HEADER`].
    TooLong,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyError::NotProxy => "no PROXY protocol header",
            ProxyError::BadVersion => "unknown PROXY protocol version",
            ProxyError::BadCommand => "unknown PROXY protocol command",
            ProxyError::BadFamily => "unknown PROXY protocol address family",
            ProxyError::BadAddress => "malformed PROXY protocol addresses",
            ProxyError::TooLong => "PROXY protocol header too long",
        })
    }
}

impl std::error::Error for ProxyError {}

/// Parses a PROXY header (v2 or v1) at the start of `input`.
pub(crate) fn parse(input: &[u8]) -> Result<Parsed, ProxyError> {
    match input.first() {
        None => Ok(Parsed::Partial),
        Some(b'\r') => parse_v2(input),
        Some(b'P') => parse_v1(input),
        Some(_) => Err(ProxyError::NotProxy),
    }
}

/// Whether `input` (possibly short) agrees with `prefix` as far as both go.
fn starts_like(input: &[u8], prefix: &[u8]) -> bool {
    let n = input.len().min(prefix.len());
    input[..n] == prefix[..n]
}

fn parse_v2(input: &[u8]) -> Result<Parsed, ProxyError> {
    if !starts_like(input, &V2_SIGNATURE) {
        return Err(ProxyError::NotProxy);
    }
    let Some(&[ver_cmd, family, hi, lo]) = input.get(12..16) else {
        // Check the version and command as soon as their byte is here.
        if let Some(&ver_cmd) = input.get(12) {
            check_ver_cmd(ver_cmd)?;
        }
        return Ok(Parsed::Partial);
    };
    let local = check_ver_cmd(ver_cmd)?;
    let body_len = usize::from(u16::from_be_bytes([hi, lo]));
    let len = 16 + body_len;
    if len > MAX_V2_HEADER {
        return Err(ProxyError::TooLong);
    }
    let needed = match family {
        0x00 => 0,          // UNSPEC
        0x11 | 0x12 => 12,  // INET, STREAM or DGRAM
        0x21 | 0x22 => 36,  // INET6
        0x31 | 0x32 => 216, // UNIX
        _ => return Err(ProxyError::BadFamily),
    };
    if body_len < needed {
        return Err(ProxyError::BadAddress);
    }
    let Some(body) = input.get(16..len) else {
        return Ok(Parsed::Partial);
    };
    let source = match family {
        _ if local => None,
        0x11 | 0x12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes([body[8], body[9]]),
            ))
        }
        0x21 | 0x22 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        _ => None, // UNSPEC, UNIX: no IP address to substitute
    };
    Ok(Parsed::Done { len, source })
}

/// `Ok(true)` for LOCAL, `Ok(false)` for PROXY.
fn check_ver_cmd(ver_cmd: u8) -> Result<bool, ProxyError> {
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::BadVersion);
    }
    match ver_cmd & 0x0F {
        0 => Ok(true),
        1 => Ok(false),
        _ => Err(ProxyError::BadCommand),
    }
}

fn parse_v1(input: &[u8]) -> Result<Parsed, ProxyError> {
    if !starts_like(input, V1_PREFIX) {
        return Err(ProxyError::NotProxy);
    }
    let window = &input[..input.len().min(MAX_V1_HEADER)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if input.len() >= MAX_V1_HEADER {
            Err(ProxyError::TooLong)
        } else {
            Ok(Parsed::Partial)
        };
    };
    let line =
        std::str::from_utf8(&input[V1_PREFIX.len()..end]).map_err(|_| ProxyError::BadAddress)?;
    let len = end + 2;
    let fields: Vec<&str> = line.split(' ').collect();
    let source = match fields[..] {
        ["UNKNOWN", ..] => None,
        [proto @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |s: &str| -> Result<IpAddr, ProxyError> {
                let ip: IpAddr = s.parse().map_err(|_| ProxyError::BadAddress)?;
                match (proto, ip) {
                    ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)) => Ok(ip),
                    _ => Err(ProxyError::BadAddress),
                }
            };
            let port = |s: &str| -> Result<u16, ProxyError> {
                // Decimal as written by a sender: no sign, no leading zero.
                let canonical = !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && (s == "0" || !s.starts_with('0'));
                canonical
                    .then(|| s.parse().ok())
                    .flatten()
                    .ok_or(ProxyError::BadAddress)
            };
            ip(dst)?;
            port(dport)?;
            Some(SocketAddr::new(ip(src)?, port(sport)?))
        }
        _ => return Err(ProxyError::BadAddress),
    };
    Ok(Parsed::Done { len, source })
}

/// Where a [`ProxySession`] is.
enum State {
    /// Waiting for the whole header; the inner session has not been opened.
    Header,
    /// The header was read: the inner session runs with `peer` as its peer.
    Relaying {
        /// The client named by the header, or the socket's peer.
        peer: SocketAddr,
    },
    /// The header was refused; the connection is being dropped.
    Refused,
}

/// A session that reads a PROXY header, then relays to the session it wraps.
pub(crate) struct ProxySession {
    inner: Box<dyn Session>,
    state: State,
}

impl ProxySession {
    /// Wraps `inner`, which is opened once the header has arrived.
    pub(crate) fn new(inner: Box<dyn Session>) -> ProxySession {
        ProxySession {
            inner,
            state: State::Header,
        }
    }
}

impl Session for ProxySession {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.set_deadline(Some(cx.now() + HEADER_TIMEOUT));
        Flow::Continue
    }

    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        match self.state {
            State::Relaying { peer } => return self.inner.on_input(input, &mut cx.with_peer(peer)),
            State::Refused => return Step::consumed(input.len()).aborting(),
            State::Header => {}
        }
        let (len, source) = match parse(input) {
            Ok(Parsed::Partial) => return Step::consumed(0),
            Ok(Parsed::Done { len, source }) => (len, source),
            Err(e) => {
                log::info!("{}: closed: {e} on a --proxy-protocol listener", cx.peer());
                self.state = State::Refused;
                return Step::consumed(input.len()).aborting();
            }
        };
        let peer = source.unwrap_or(cx.peer());
        self.state = State::Relaying { peer };
        cx.set_deadline(None);
        let mut inner_cx = cx.with_peer(peer);
        let flow = self.inner.on_open(&mut inner_cx);
        let rest = &input[len..];
        if flow != Flow::Continue || rest.is_empty() {
            return Step {
                consumed: len,
                forward: 0,
                flow,
            };
        }
        // The client's first bytes came with the header. What the inner session forwards
        // sits after the header in `input`, which `Step::forward` (a prefix) cannot say: copy.
        let step = self.inner.on_input(rest, &mut inner_cx);
        let forward = step.forward.min(step.consumed).min(rest.len());
        inner_cx.out().extend_from_slice(&rest[..forward]);
        Step {
            consumed: len + step.consumed.min(rest.len()),
            forward: 0,
            flow: step.flow,
        }
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        match self.state {
            State::Relaying { peer } => self.inner.on_drain(&mut cx.with_peer(peer)),
            _ => Flow::Continue,
        }
    }

    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        match self.state {
            State::Relaying { peer } => self.inner.on_eof(input, &mut cx.with_peer(peer)),
            _ => Flow::Abort, // gone before its header: nothing to answer
        }
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        match self.state {
            State::Relaying { peer } => self.inner.on_timeout(&mut cx.with_peer(peer)),
            _ => {
                log::info!("{}: closed: no PROXY protocol header in time", cx.peer());
                Flow::Abort
            }
        }
    }

    fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
        match self.state {
            State::Relaying { peer } => self.inner.on_broadcast(message, &mut cx.with_peer(peer)),
            _ => Flow::Continue, // not in the room yet
        }
    }

    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
        if let State::Relaying { peer } = self.state {
            self.inner.on_shutdown(&mut cx.with_peer(peer));
        }
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        if let State::Relaying { peer } = self.state {
            self.inner.on_close(&mut cx.with_peer(peer));
        }
    }
}

/// A service whose connections each start with a PROXY header (`--proxy-protocol`), from
/// the balancers in `trusted` (`--proxy-from`) only.
pub(crate) struct ProxyService {
    inner: Box<dyn Service>,
    trusted: Rc<[ipnet::IpNet]>,
    refusals: Rc<RefusalLog>,
}

impl ProxyService {
    /// Wraps `inner`'s sessions in [`ProxySession`]s, for connections whose socket peer lies
    /// in `trusted`; any other connection is refused unread. An empty `trusted` trusts nobody.
    pub(crate) fn new(inner: Box<dyn Service>, trusted: &[ipnet::IpNet]) -> ProxyService {
        ProxyService {
            inner,
            trusted: trusted.into(),
            refusals: Rc::new(RefusalLog::default()),
        }
    }

    /// Whether a connection from `ip` may send a PROXY header.
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&ip))
    }
}

impl Service for ProxyService {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn new_session(&mut self, peer: SocketAddr) -> Box<dyn Session> {
        if !self.trusts(peer.ip()) {
            return Box::new(Untrusted(self.refusals.clone()));
        }
        Box::new(ProxySession::new(self.inner.new_session(peer)))
    }

    fn reject_message(&self) -> &[u8] {
        self.inner.reject_message()
    }

    fn idle_disposable(&self) -> bool {
        self.inner.idle_disposable()
    }

    fn input_limit(&self) -> usize {
        // The header may arrive with the client's first bytes behind it.
        self.inner.input_limit() + MAX_V2_HEADER
    }
}

/// The session of a connection from outside `--proxy-from`: closed as it opens, unread.
struct Untrusted(Rc<RefusalLog>);

impl Session for Untrusted {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.stats().proxy_refused.incr();
        self.0.note(cx.peer(), cx.now());
        Flow::Abort
    }

    fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
        Step::consumed(input.len()).aborting()
    }

    fn on_eof(&mut self, _input: &[u8], _cx: &mut Ctx<'_>) -> Flow {
        Flow::Abort
    }
}

/// Rate-limits the log of refused connections: one line per [`REFUSAL_LOG_EVERY`], with the
/// count of those it did not mention.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Cell<Option<Instant>>,
    unlogged: Cell<u64>,
}

impl RefusalLog {
    /// Logs the refusal of `peer`, or counts it if a line was written recently. Returns
    /// whether it logged.
    fn note(&self, peer: SocketAddr, now: Instant) -> bool {
        if self
            .last
            .get()
            .is_some_and(|last| now < last + REFUSAL_LOG_EVERY)
        {
            self.unlogged.set(self.unlogged.get() + 1);
            return false;
        }
        let more = self.unlogged.replace(0);
        let also = if more > 0 {
            format!(" ({more} more refused since the last such line)")
        } else {
            String::new()
        };
        log::warn!(
            "{peer}: refused: not in --proxy-from, so its PROXY header cannot be believed; \
             add the balancer's network with --proxy-from if it is one{also}"
        );
        self.last.set(Some(now));
        true
    }
}

trait Aborting {
    fn aborting(self) -> Step;
}

impl Aborting for Step {
    fn aborting(mut self) -> Step {
        self.flow = Flow::Abort;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    /// HAProxy's header for client 192.168.0.1:54321 to 10.77.0.11:8080, with one TLV.
    fn v2_inet() -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0x00, 12 + 7]);
        h.extend_from_slice(&[192, 168, 0, 1, 10, 77, 0, 11]);
        h.extend_from_slice(&54321u16.to_be_bytes());
        h.extend_from_slice(&8080u16.to_be_bytes());
        h.extend_from_slice(&[0x04, 0x00, 0x04, b'n', b'o', b'o', b'p']); // PP2_TYPE_NOOP
        h
    }

    fn v2_inet6() -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x21, 0x00, 36]);
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&dst.octets());
        h.extend_from_slice(&443u16.to_be_bytes());
        h.extend_from_slice(&8080u16.to_be_bytes());
        h
    }

    fn v2_local() -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        h
    }

    fn done(len: usize, source: Option<&str>) -> Result<Parsed, ProxyError> {
        Ok(Parsed::Done {
            len,
            source: source.map(|s| s.parse().unwrap()),
        })
    }

    #[test]
    fn whole_headers_name_the_client() {
        assert_eq!(parse(&v2_inet()), done(35, Some("192.168.0.1:54321")));
        assert_eq!(parse(&v2_inet6()), done(52, Some("[2001:db8::1]:443")));
        assert_eq!(parse(&v2_local()), done(16, None));
        let v1 = b"PROXY TCP4 192.168.0.1 10.77.0.11 54321 8080\r\n";
        assert_eq!(parse(v1), done(v1.len(), Some("192.168.0.1:54321")));
        let v1 = b"PROXY TCP6 2001:db8::1 2001:db8::2 443 8080\r\n";
        assert_eq!(parse(v1), done(v1.len(), Some("[2001:db8::1]:443")));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), done(15, None));
    }

    #[test]
    fn a_header_cut_anywhere_is_partial_until_its_last_byte() {
        for header in [
            v2_inet(),
            v2_inet6(),
            v2_local(),
            b"PROXY TCP4 192.168.0.1 10.77.0.11 54321 8080\r\n".to_vec(),
        ] {
            for cut in 0..header.len() {
                assert_eq!(parse(&header[..cut]), Ok(Parsed::Partial), "cut at {cut}");
            }
            // And what follows the header is not part of it.
            let mut more = header.clone();
            more.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert!(matches!(parse(&more), Ok(Parsed::Done { len, .. }) if len == header.len()));
        }
    }

    #[test]
    fn anything_else_is_refused_as_early_as_possible() {
        assert_eq!(parse(b"G"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"\r\n\r\nX"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"PROXZ"), Err(ProxyError::NotProxy));
        assert_eq!(parse(&[0x16, 0x03, 0x01]), Err(ProxyError::NotProxy), "TLS");
        let mut h = v2_inet();
        h[12] = 0x11;
        assert_eq!(parse(&h[..13]), Err(ProxyError::BadVersion), "at its byte");
        h[12] = 0x22;
        assert_eq!(parse(&h), Err(ProxyError::BadCommand));
        let mut h = v2_inet();
        h[13] = 0x41;
        assert_eq!(parse(&h), Err(ProxyError::BadFamily));
        let mut h = v2_inet();
        h[15] = 4; // INET with only 4 bytes of addresses
        assert_eq!(parse(&h), Err(ProxyError::BadAddress));
        let mut h = v2_inet();
        h[14] = 0xFF;
        assert_eq!(
            parse(&h[..16]),
            Err(ProxyError::TooLong),
            "known from the length"
        );
        for bad in [
            &b"PROXY TCP4 192.168.0.1 10.77.0.11 54321\r\n"[..],
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n",
            b"PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n",
        ] {
            assert_eq!(parse(bad), Err(ProxyError::BadAddress), "{bad:?}");
        }
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 120]].concat();
        assert_eq!(parse(&long), Err(ProxyError::TooLong));
    }

    /// Writes `peer=ADDR\n` when opened, then echoes by forwarding.
    struct Tell;

    impl Session for Tell {
        fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
            let line = format!("peer={}\n", cx.peer());
            cx.out().extend_from_slice(line.as_bytes());
            Flow::Continue
        }
        fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
            Step::forward(input.len())
        }
    }

    #[test]
    fn the_wrapped_session_sees_the_client_and_every_byte_after_the_header() {
        let stream = [v2_inet(), b"hello".to_vec()].concat();
        for piece in 1..=stream.len() {
            let mut h = Harness::new(ProxySession::new(Box::new(Tell)));
            assert_eq!(h.open(), Flow::Continue);
            assert!(h.deadline().is_some(), "the header has a deadline");
            assert_eq!(h.input_in_pieces(&stream, &[piece]), Flow::Continue);
            assert_eq!(
                h.take_output(),
                b"peer=192.168.0.1:54321\nhello",
                "pieces of {piece}"
            );
            assert_eq!(h.deadline(), None, "cleared once the header is in");
            assert!(h.pending_input().is_empty());
            assert_eq!(h.input(b" again").flow, Flow::Continue);
            assert_eq!(h.take_output(), b" again");
        }
    }

    #[test]
    fn a_local_header_keeps_the_socket_peer() {
        let mut h = Harness::new(ProxySession::new(Box::new(Tell)));
        h.open();
        h.input(&v2_local());
        assert_eq!(h.take_output(), b"peer=127.0.0.1:40000\n");
    }

    #[test]
    fn a_connection_without_a_header_is_dropped_before_the_inner_session_sees_it() {
        let mut h = Harness::new(ProxySession::new(Box::new(Tell)));
        h.open();
        assert_eq!(h.input(b"GET / HTTP/1.1\r\n").flow, Flow::Abort);
        assert!(h.take_output().is_empty());
        let mut h = Harness::new(ProxySession::new(Box::new(Tell)));
        h.open();
        h.input(&v2_inet()[..10]);
        assert_eq!(h.timeout(), Flow::Abort, "too slow to send its header");
        assert!(h.take_output().is_empty());
    }

    /// A service of [`Tell`] sessions.
    struct Tells;

    impl Service for Tells {
        fn name(&self) -> &'static str {
            "tell"
        }
        fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
            Box::new(Tell)
        }
    }

    #[test]
    fn only_the_trusted_networks_may_send_a_header() {
        let nets = [
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let mut service = ProxyService::new(Box::new(Tells), &nets);
        for (peer, trusted) in [
            ("127.0.0.1:1", true),
            ("10.9.8.7:1", true),
            ("[::ffff:127.0.0.1]:1", true),
            ("127.0.0.2:1", false),
            ("[::1]:1", false),
            ("192.168.0.1:1", false),
        ] {
            let peer: SocketAddr = peer.parse().unwrap();
            assert_eq!(service.trusts(peer.ip()), trusted, "{peer}");
            let mut h = Harness::new(service.new_session(peer));
            let opened = h.open();
            h.input(&[v2_inet(), b"hello".to_vec()].concat());
            let output = h.take_output();
            if trusted {
                assert_eq!(opened, Flow::Continue);
                assert_eq!(output, b"peer=192.168.0.1:54321\nhello", "{peer}");
                assert_eq!(h.stats().proxy_refused.get(), 0);
            } else {
                assert_eq!(opened, Flow::Abort, "{peer}: refused unread");
                assert!(output.is_empty(), "{peer}");
                assert_eq!(h.stats().proxy_refused.get(), 1, "{peer}: counted");
            }
        }
        let mut nobody = ProxyService::new(Box::new(Tells), &[]);
        let mut h = Harness::new(nobody.new_session("127.0.0.1:1".parse().unwrap()));
        assert_eq!(h.open(), Flow::Abort, "an empty list trusts nobody");
    }

    #[test]
    fn refusals_are_logged_once_per_period() {
        let log = RefusalLog::default();
        let peer: SocketAddr = "127.0.0.2:1".parse().unwrap();
        let t = Instant::now();
        assert!(log.note(peer, t));
        assert!(!log.note(peer, t + Duration::from_secs(1)));
        assert!(!log.note(peer, t + REFUSAL_LOG_EVERY - Duration::from_millis(1)));
        assert_eq!(log.unlogged.get(), 2);
        assert!(log.note(peer, t + REFUSAL_LOG_EVERY));
        assert_eq!(log.unlogged.get(), 0);
    }
}
