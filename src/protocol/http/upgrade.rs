//! Leaving HTTP: the WebSocket handshake, and the hand-over of a connection to another session.
//!
//! ```text
//!   Upgradable::Http(HttpSession) ──(handler returns Handled::Upgrade(next),
//!                                     its head already in the output)──► Upgradable::Next(next)
//! ```
//!
//! A handler that switches protocols (a WebSocket `101`, an event stream's `200`) writes its
//! head and returns the session that takes over. [`HttpSession`] stops reading at that point
//! and leaves the rest of the input unconsumed; [`Upgradable`], the session the reactor really
//! holds, then opens the next session and feeds it that rest, in the same call: a client that
//! sent its first frame right behind its handshake loses nothing. From then on every callback
//! goes straight to the next session. The reactor knows nothing of this.
//!
//! The WebSocket handshake (RFC 6455 §4.2) is checked in order, each failure with its answer:
//! not a GET on HTTP/1.1, a body, or a missing, malformed or repeated `Sec-WebSocket-Key`
//! (RFC 6455 §11.3.1: the field must not appear more than once): 400; no
//! `Upgrade: websocket` with `Connection: upgrade`: 426 with `Upgrade: websocket`; a version
//! other than 13: 426 with `Sec-WebSocket-Version: 13`; an `Origin` that is neither this
//! server (a name it answers for, at the host and port the request was sent to: see
//! `host.rs`) nor in `--ws-allow-origin`: 403. Clients that send no `Origin` (not browsers)
//! are let in: the check exists to stop other web sites from using a visitor's browser, not
//! to authenticate. (A `Host` the server does not answer for never gets this far: 421.)

use std::fmt;

use super::conn::HttpSession;
use super::exchange::Handled;
use super::exchange::Reply;
use super::host;
use super::request::{BodyFraming, Method, RequestHead, Version};
use super::status::Status;
use std::rc::Rc;

use crate::protocol::http2::H2Session;
use crate::protocol::http2::frame::PREFACE;
use crate::protocol::ws::{self, Endpoint, WsSession};
use crate::session::{Ctx, Flow, Session, Step};

/// The session that takes a connection over after its HTTP head.
pub(crate) struct Upgrade(pub Box<dyn Session>);

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Upgrade(..)")
    }
}

/// What the reactor holds for an HTTP connection: HTTP, or what HTTP handed it to.
pub(super) enum Upgradable {
    /// No byte read yet, and HTTP/2 is on: the first bytes say which version the client
    /// speaks. HTTP/2's 24-byte preface (`PRI * HTTP/2.0...`) makes the connection an HTTP/2
    /// one (h2c by prior knowledge, or `h2` chosen by ALPN under TLS, whose client sends the
    /// same preface); anything else is HTTP/1.1, served as always.
    Fresh(HttpSession),
    /// Still HTTP.
    Http(HttpSession),
    /// Another protocol, since a handler switched.
    Next(Box<dyn Session>),
}

impl Upgradable {
    /// An HTTP connection.
    pub(super) fn new(http: HttpSession) -> Upgradable {
        if http.shared().config().http2.enabled {
            Upgradable::Fresh(http)
        } else {
            Upgradable::Http(http)
        }
    }

    /// Decides the version from the first bytes: `None` while they could still be the
    /// start of HTTP/2's preface.
    fn choose(&mut self, input: &[u8]) -> Option<()> {
        let Upgradable::Fresh(http) = self else {
            return Some(());
        };
        // The preface's request line is enough to know the client speaks HTTP/2: the HTTP/2
        // session checks the rest, and answers a wrong one with GOAWAY.
        let line = PREFACE.len() - 8;
        let n = input.len().min(line);
        if input.get(..n) == PREFACE.get(..n) {
            if n < line {
                return None;
            }
            *self = Upgradable::Next(Box::new(H2Session::new(Rc::clone(http.shared()))));
            return Some(());
        }
        // A session that has read nothing is all defaults: a new one is the same, and
        // costs no allocation.
        *self = Upgradable::Http(HttpSession::new(Rc::clone(http.shared())));
        Some(())
    }
}

impl Session for Upgradable {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        match self {
            Upgradable::Http(http) | Upgradable::Fresh(http) => http.on_open(cx),
            Upgradable::Next(next) => next.on_open(cx),
        }
    }

    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        if let Upgradable::Fresh(_) = self {
            if self.choose(input).is_none() {
                return Step::consumed(0);
            }
            if let Upgradable::Next(h2) = self {
                let flow = h2.on_open(cx);
                if flow != Flow::Continue {
                    return Step::close(input.len());
                }
            }
        }
        let http = match self {
            Upgradable::Next(next) => return next.on_input(input, cx),
            Upgradable::Http(http) | Upgradable::Fresh(http) => http,
        };
        let step = http.on_input(input, cx);
        let Some(Upgrade(next)) = http.take_upgrade() else {
            return step;
        };
        let used = step.consumed.min(input.len());
        *self = Upgradable::Next(next);
        let Upgradable::Next(next) = self else {
            return step;
        };
        let flow = next.on_open(cx);
        if flow != Flow::Continue {
            return Step {
                consumed: input.len(),
                forward: 0,
                flow,
            };
        }
        let rest = input.get(used..).unwrap_or_default();
        let inner = next.on_input(rest, cx);
        // A forward counts from the start of *its* input, which is not ours: copy it instead.
        let forward = inner.forward.min(inner.consumed).min(rest.len());
        cx.out()
            .extend_from_slice(rest.get(..forward).unwrap_or_default());
        Step {
            consumed: used + inner.consumed.min(rest.len()),
            forward: 0,
            flow: inner.flow,
        }
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        match self {
            Upgradable::Http(http) | Upgradable::Fresh(http) => http.on_drain(cx),
            Upgradable::Next(next) => next.on_drain(cx),
        }
    }

    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        match self {
            Upgradable::Http(http) | Upgradable::Fresh(http) => http.on_eof(input, cx),
            Upgradable::Next(next) => next.on_eof(input, cx),
        }
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        match self {
            Upgradable::Http(http) | Upgradable::Fresh(http) => http.on_timeout(cx),
            Upgradable::Next(next) => next.on_timeout(cx),
        }
    }

    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
        match self {
            Upgradable::Http(http) | Upgradable::Fresh(http) => http.on_shutdown(cx),
            Upgradable::Next(next) => next.on_shutdown(cx),
        }
    }

    fn on_broadcast(&mut self, message: &[u8], cx: &mut Ctx<'_>) -> Flow {
        match self {
            // HTTP is in no room: a broadcast cannot reach it, and would not be HTTP.
            Upgradable::Http(_) | Upgradable::Fresh(_) => Flow::Continue,
            Upgradable::Next(next) => next.on_broadcast(message, cx),
        }
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        match self {
            Upgradable::Http(http) | Upgradable::Fresh(http) => http.on_close(cx),
            Upgradable::Next(next) => next.on_close(cx),
        }
    }
}

/// Whether the comma-separated `value` lists `token` (case-insensitive).
fn has_token(value: Option<&[u8]>, token: &str) -> bool {
    value.is_some_and(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// `GET /ws/chat` and `GET /ws/echo`: checks the handshake (see the module docs) and answers
/// `101`, handing the connection to a [`WsSession`].
pub(super) fn websocket(
    head: &RequestHead<'_, '_>,
    reply: &mut Reply<'_, '_>,
    endpoint: Endpoint,
) -> Handled {
    let config = &reply.shared.config.browser;
    if head.method != Method::Get
        || head.version != Version::Http11
        || head.framing != BodyFraming::None
    {
        reply.fail(Status::BadRequest);
        return Handled::Answered;
    }
    if !has_token(head.header("upgrade"), "websocket")
        || !has_token(head.header("connection"), "upgrade")
    {
        reply.refuse_with(Status::UpgradeRequired, Some(("Upgrade", b"websocket")));
        return Handled::Answered;
    }
    if head.header("sec-websocket-version").map(<[u8]>::trim_ascii) != Some(ws::VERSION) {
        reply.refuse_with(
            Status::UpgradeRequired,
            Some(("Sec-WebSocket-Version", ws::VERSION)),
        );
        return Handled::Answered;
    }
    let Some(key) = head.header("sec-websocket-key").map(<[u8]>::trim_ascii) else {
        reply.fail(Status::BadRequest);
        return Handled::Answered;
    };
    let keys = head
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"));
    if keys.count() > 1 || !ws::key_is_valid(key) {
        reply.fail(Status::BadRequest);
        return Handled::Answered;
    }
    if let Some(origin) = head.header("origin")
        && !host::origin_allowed(
            origin,
            head.header("host"),
            &reply.shared.config.host_names,
            &config.ws_allow_origin,
        )
    {
        log::info!(
            "{}: websocket from origin {:?} refused (see --ws-allow-origin)",
            reply.cx.peer(),
            String::from_utf8_lossy(origin)
        );
        reply.refuse(Status::Forbidden);
        return Handled::Answered;
    }
    let ws_config = config.ws;
    let accept = ws::accept_key(key);
    reply
        .start(Status::SwitchingProtocols)
        .header("Upgrade", b"websocket")
        .header("Connection", b"Upgrade")
        .header("Sec-WebSocket-Accept", accept.as_bytes())
        .end_unframed();
    Handled::Upgrade(Upgrade(Box::new(WsSession::new(endpoint, ws_config))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_lists() {
        assert!(has_token(Some(b"keep-alive, Upgrade"), "upgrade"));
        assert!(!has_token(Some(b"keep-alive"), "upgrade"));
        assert!(!has_token(None, "upgrade"));
    }
}
