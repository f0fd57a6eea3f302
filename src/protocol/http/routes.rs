//! Which resource a request names, which methods that resource supports, and who handles it.
//!
//! Routing is a `match` on the raw (still percent-encoded) path: `/plain`, `/json`, `/echo`,
//! `/stats`, `/metrics`, `/healthz` and `/connections` are built in, `/files/NAME` is the
//! upload area (writable when configured), and every other path is a static file under the
//! document root. Each resource has a [`MethodSet`]; a known method outside it gets 405 with
//! an `Allow` field built from that set, so `Allow`, `OPTIONS` and the dispatch below can
//! never disagree.
//!
//! A handler answers with a [`Handled`] (defined in `exchange.rs`, below the handlers).

use super::HttpConfig;
use super::auth::Verdict;
use super::connections;
use super::dashboard;
use super::endpoints;
use super::exchange::{Handled, Reply};
use super::host;
use super::metrics;
use super::request::{Method, RequestHead, Target};
use super::static_files;
use super::status::Status;
use super::upgrade as ws_upgrade;
use super::upload;
use crate::protocol::ws::Endpoint;

/// A set of methods, for `Allow` and dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MethodSet(u8);

/// The methods that can appear in `Allow`, in the order they are listed.
const LISTED: [(Method, &str); 7] = [
    (Method::Get, "GET"),
    (Method::Head, "HEAD"),
    (Method::Post, "POST"),
    (Method::Put, "PUT"),
    (Method::Delete, "DELETE"),
    (Method::Options, "OPTIONS"),
    (Method::Trace, "TRACE"),
];

impl MethodSet {
    /// The methods every readable resource supports.
    pub(super) const READ: MethodSet = MethodSet(0)
        .with(Method::Get)
        .with(Method::Head)
        .with(Method::Options);

    /// Adds `method` (methods that cannot be listed are ignored).
    pub(super) const fn with(self, method: Method) -> MethodSet {
        MethodSet(self.0 | bit(method))
    }

    /// Whether `method` is in the set.
    pub(super) const fn contains(self, method: Method) -> bool {
        bit(method) != 0 && self.0 & bit(method) != 0
    }

    /// The `Allow` value, e.g. `GET, HEAD, OPTIONS`.
    pub(super) fn allow_value(self) -> AllowValue {
        let mut value = AllowValue {
            buf: [0; 64],
            len: 0,
        };
        for (method, name) in LISTED {
            if self.contains(method) {
                if value.len > 0 {
                    value.push(b", ");
                }
                value.push(name.as_bytes());
            }
        }
        value
    }
}

const fn bit(method: Method) -> u8 {
    match method {
        Method::Get => 1,
        Method::Head => 1 << 1,
        Method::Post => 1 << 2,
        Method::Put => 1 << 3,
        Method::Delete => 1 << 4,
        Method::Options => 1 << 5,
        Method::Trace => 1 << 6,
        Method::Connect | Method::Patch | Method::Unknown => 0,
    }
}

/// An `Allow` field value, on the stack.
#[derive(Debug, Clone, Copy)]
pub(super) struct AllowValue {
    buf: [u8; 64],
    len: usize,
}

impl AllowValue {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    /// The value.
    pub(super) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource<'b> {
    Plain,
    /// `/json`: TechEmpower's JSON test answer.
    Json,
    Echo,
    Stats,
    /// `/metrics`: the counters of `/stats` in the Prometheus text format.
    Metrics,
    /// `/healthz`: 200 while serving, 503 once draining, for load balancers.
    Healthz,
    /// `/connections`: the open connections of the worker that answers.
    Connections,
    /// `/dashboard`, `/events`, `/ws/chat`, `/ws/echo` (see `dashboard.rs`, `upgrade.rs`).
    Dashboard,
    Events,
    WsChat,
    WsEcho,
    /// `/files/NAME`: a static file that `PUT` and `DELETE` may also write.
    Upload {
        name: &'b str,
    },
    Static,
}

impl<'b> Resource<'b> {
    fn of(path: &'b str) -> Resource<'b> {
        Resource::fixed(path).unwrap_or_else(|| match path.strip_prefix("/files/") {
            Some(name) if !name.is_empty() => Resource::Upload { name },
            _ => Resource::Static,
        })
    }

    /// The built-in resource `path` names exactly, if any.
    fn fixed(path: &str) -> Option<Resource<'b>> {
        Some(match path {
            "/plain" => Resource::Plain,
            "/json" => Resource::Json,
            "/echo" => Resource::Echo,
            "/stats" => Resource::Stats,
            "/metrics" => Resource::Metrics,
            "/healthz" => Resource::Healthz,
            "/connections" => Resource::Connections,
            "/dashboard" => Resource::Dashboard,
            "/events" => Resource::Events,
            "/ws/chat" => Resource::WsChat,
            "/ws/echo" => Resource::WsEcho,
            _ => return None,
        })
    }

    /// Whether only a `Host` this server answers for may reach it (see `host.rs`): what
    /// shows the server's insides, or lets a page act in it, must be out of a DNS-rebinding
    /// page's reach. `/healthz` is not: balancers check it by address.
    fn names_the_host(self) -> bool {
        matches!(
            self,
            Resource::Stats
                | Resource::Metrics
                | Resource::Connections
                | Resource::Dashboard
                | Resource::Events
                | Resource::WsChat
                | Resource::WsEcho
        )
    }

    fn methods(self, config: &HttpConfig) -> MethodSet {
        let set = match self {
            Resource::Echo => MethodSet::READ.with(Method::Post),
            Resource::Upload { .. } if config.writable => {
                MethodSet::READ.with(Method::Put).with(Method::Delete)
            }
            _ => MethodSet::READ,
        };
        with_trace(set, config)
    }
}

/// Every method the server supports somewhere, for `OPTIONS *` and `CONNECT`.
fn server_methods(config: &HttpConfig) -> MethodSet {
    let set = MethodSet::READ.with(Method::Post);
    let set = if config.writable {
        set.with(Method::Put).with(Method::Delete)
    } else {
        set
    };
    with_trace(set, config)
}

fn with_trace(set: MethodSet, config: &HttpConfig) -> MethodSet {
    if config.allow_trace {
        set.with(Method::Trace)
    } else {
        set
    }
}

/// Routes a parsed request to its handler.
pub(super) fn dispatch(head: &RequestHead<'_, '_>, reply: &mut Reply<'_, '_>) -> Handled {
    let config = &reply.shared.config;
    match head.method {
        Method::Unknown => return refused(reply, Status::NotImplemented),
        // We are not a proxy: no tunnels, whatever the target.
        Method::Connect => return not_allowed(reply, server_methods(config)),
        _ => {}
    }
    // A target that is exactly a built-in route (`/plain`) has no query or fragment to split
    // off: the benchmark routes skip the scan.
    let fixed = Resource::fixed(head.uri);
    let target = match fixed {
        Some(_) => Ok(Target::Origin {
            path: head.uri,
            query: None,
        }),
        None => head.target(),
    };
    let (path, query) = match target {
        Ok(Target::Origin { path, query }) => (path, query),
        Ok(Target::Asterisk) if config.strict_host && !host_allowed(head, config) => {
            return misdirected(head, reply);
        }
        Ok(Target::Asterisk) if head.method == Method::Options => {
            endpoints::options(reply, server_methods(config).allow_value().as_bytes());
            return Handled::Answered;
        }
        Ok(Target::Asterisk) | Err(_) => {
            reply.fail(Status::BadRequest);
            return Handled::Answered;
        }
    };
    let resource = fixed.unwrap_or_else(|| Resource::of(path));
    let allowed = resource.methods(config);
    match (head.method, resource) {
        (_, r) if (config.strict_host || r.names_the_host()) && !host_allowed(head, config) => {
            misdirected(head, reply)
        }
        (m, _) if !allowed.contains(m) => not_allowed(reply, allowed),
        (
            _,
            Resource::Stats
            | Resource::Metrics
            | Resource::Connections
            | Resource::Events
            | Resource::Dashboard
            | Resource::WsChat
            | Resource::WsEcho,
        ) if !may_look_inside(reply) => refused(reply, Status::Forbidden),
        (Method::Options, _) => {
            endpoints::options(reply, allowed.allow_value().as_bytes());
            Handled::Answered
        }
        (Method::Trace, _) => {
            endpoints::trace(head, reply);
            Handled::Answered
        }
        (Method::Get | Method::Head, Resource::Plain) => {
            reply.shared.plain.write(reply);
            Handled::Answered
        }
        (Method::Get | Method::Head, Resource::Json) => {
            reply.shared.json.write(reply);
            Handled::Answered
        }
        (Method::Get | Method::Head, Resource::Echo) => {
            endpoints::echo_query(reply, query);
            Handled::Answered
        }
        (Method::Get | Method::Head, Resource::Stats) => {
            endpoints::stats(reply);
            Handled::Answered
        }
        (Method::Get | Method::Head, Resource::Metrics) => {
            metrics::metrics(reply);
            Handled::Answered
        }
        (Method::Get | Method::Head, Resource::Healthz) => {
            endpoints::healthz(reply);
            Handled::Answered
        }
        // Other clients' addresses: with credentials configured, only for who has them.
        (Method::Get | Method::Head, Resource::Connections) if !authorized(head, reply) => {
            Handled::Answered
        }
        (Method::Get | Method::Head, Resource::Connections) => connections::ask(reply, query),
        (_, Resource::Dashboard | Resource::Events | Resource::WsChat | Resource::WsEcho)
            if !config.browser.dashboard =>
        {
            refused(reply, Status::NotFound)
        }
        (Method::Get | Method::Head, Resource::Dashboard) => dashboard::page(reply),
        (Method::Get | Method::Head, Resource::Events) => dashboard::events(reply),
        (Method::Get | Method::Head, Resource::WsChat) => {
            ws_upgrade::websocket(head, reply, Endpoint::Chat)
        }
        (Method::Get | Method::Head, Resource::WsEcho) => {
            ws_upgrade::websocket(head, reply, Endpoint::Echo)
        }
        (Method::Get | Method::Head, _) => static_files::serve(head, path, query, reply),
        (Method::Post, _) => endpoints::echo_body(head, reply),
        (Method::Put | Method::Delete, _) if !authorized(head, reply) => Handled::Answered,
        (Method::Put, Resource::Upload { name }) => upload::put(head, name, reply),
        (Method::Delete, Resource::Upload { name }) => upload::delete(head, name, reply),
        _ => not_allowed(reply, allowed),
    }
}

/// Whether the request's `Host` is one the server answers for (see `host.rs`).
fn host_allowed(head: &RequestHead<'_, '_>, config: &HttpConfig) -> bool {
    host::host_allowed(head.header("host"), &config.host_names)
}

/// 421 for a `Host` the server does not answer for (RFC 9110 §15.5.20: this server is not
/// authoritative for that name), logged at debug level: a rebinding page may ask often.
fn misdirected(head: &RequestHead<'_, '_>, reply: &mut Reply<'_, '_>) -> Handled {
    log::debug!(
        "{}: 421 for Host {:?} (see --server-name)",
        reply.cx.peer(),
        String::from_utf8_lossy(head.header("host").unwrap_or_default())
    );
    refused(reply, Status::MisdirectedRequest)
}

fn refused(reply: &mut Reply<'_, '_>, status: Status) -> Handled {
    reply.refuse(status);
    Handled::Answered
}

fn unauthorized(reply: &mut Reply<'_, '_>) -> Handled {
    reply.refuse_with(
        Status::Unauthorized,
        Some(("WWW-Authenticate", b"Basic realm=\"evserve\"")),
    );
    Handled::Answered
}

fn not_allowed(reply: &mut Reply<'_, '_>, allowed: MethodSet) -> Handled {
    let allow = allowed.allow_value();
    reply.refuse_with(Status::MethodNotAllowed, Some(("Allow", allow.as_bytes())));
    Handled::Answered
}

/// Whether the client may see the server's insides or join its WebSockets (`--stats-allow`,
/// loopback by default): its address (the real client's, behind the PROXY protocol) lies in
/// one of the allowed networks.
fn may_look_inside(reply: &Reply<'_, '_>) -> bool {
    let allow = &reply.shared.config.stats_allow;
    let ip = reply.cx.peer().ip().to_canonical();
    allow.iter().any(|net| net.contains(&ip))
}

/// Whether the request carries valid Basic credentials (or none are configured); if not,
/// answers 401, or 429 for an address that failed too often lately (see `auth.rs`).
fn authorized(head: &RequestHead<'_, '_>, reply: &mut Reply<'_, '_>) -> bool {
    let Some(users) = &reply.shared.config.auth else {
        return true;
    };
    let peer = reply.cx.peer().ip().to_canonical();
    let now = reply.cx.now();
    let verdict =
        reply
            .shared
            .gate
            .borrow_mut()
            .check(users, head.header("authorization"), peer, now);
    match verdict {
        Verdict::Allowed => return true,
        Verdict::Denied => {
            unauthorized(reply);
        }
        Verdict::Throttled(seconds) => {
            let mut value = itoa::Buffer::new();
            reply.refuse_with(
                Status::TooManyRequests,
                Some(("Retry-After", value.format(seconds).as_bytes())),
            );
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_methods_in_order() {
        let set = MethodSet::READ.with(Method::Delete).with(Method::Trace);
        assert_eq!(
            set.allow_value().as_bytes(),
            b"GET, HEAD, DELETE, OPTIONS, TRACE"
        );
        let all = LISTED.iter().fold(MethodSet(0), |s, (m, _)| s.with(*m));
        assert_eq!(
            all.allow_value().as_bytes(),
            b"GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE"
        );
        assert!(!all.contains(Method::Patch));
        assert!(!all.contains(Method::Unknown));
    }

    #[test]
    fn paths_name_resources() {
        assert_eq!(Resource::of("/plain"), Resource::Plain);
        assert_eq!(Resource::of("/json"), Resource::Json);
        assert_eq!(Resource::of("/healthz"), Resource::Healthz);
        assert_eq!(Resource::of("/plain/"), Resource::Static);
        assert_eq!(
            Resource::of("/files/a.txt"),
            Resource::Upload { name: "a.txt" }
        );
        assert_eq!(Resource::of("/files/"), Resource::Static);
        assert_eq!(Resource::of("/index.html"), Resource::Static);
    }
}
