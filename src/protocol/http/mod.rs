//! HTTP/1.1, as a sans-IO origin server: static files, uploads and a few built-in endpoints.
//!
//! The layers, from the wire up. Each file imports only from the files listed before it (and
//! from `mod.rs`, for the configuration and the `Shared` state); nothing imports a file
//! listed after it, so a layer can be read and tested without the ones over it. (`scan.rs`
//! runs before `request.rs` on the wire, but uses its limits and errors.)
//!
//! ```text
//!  status.rs        the status codes we send
//!  request.rs       parse a head with httparse, decide framing and persistence
//!  scan.rs          find the end of a head, incrementally, enforcing the early limits
//!  body.rs          unframe a body: Content-Length or chunked, incrementally, strictly
//!  response.rs      write response heads into the output buffer; the Date cache
//!  ─────────────────────────────────────────────────────────────────── header semantics
//!  validators.rs    ETag and Last-Modified; preconditions (304, 412)
//!  ranges.rs        one byte range out of a Range field (206, 416)
//!  stream.rs        FileStream: a file body a slice at a time, bounded memory
//!  ─────────────────────────────────────────────────────────────────── one exchange
//!  exchange.rs      the Reply every handler writes through; Handled, BodySink
//!  ─────────────────────────────────────────────────────────────────── handlers
//!  root.rs          the document root, path safety, Refusal (403, 404, 412, 500)
//!  auth.rs          Basic credentials: sources, comparison, failures slowed (401, 429)
//!  file_cache.rs    small files held in memory
//!  listing.rs       a directory's listing page
//!  endpoints.rs     /plain, /json, /echo, /stats, /healthz, OPTIONS, TRACE
//!  metrics.rs       /metrics: the counters of /stats for Prometheus
//!  static_files.rs  GET and HEAD of files and directories
//!  upload.rs        PUT and DELETE under /files/
//!  dashboard.rs     /dashboard (an embedded page) and /events (Server-Sent Events)
//!  upgrade.rs       the WebSocket handshake, and the hand-over to the next protocol
//!  ─────────────────────────────────────────────────────────────────── the connection
//!  routes.rs        path → resource, method → handler, Allow sets
//!  conn.rs          HttpSession: the per-connection state machine (reading × writing)
//!  multiplexed.rs   one HTTP/2 stream's exchange through the same routes and Reply
//! ```
//!
//! Nothing here touches a socket: [`HttpSession`] is fed bytes through the
//! [`Session`] contract and appends its answers to the reactor's
//! output buffer. Pipelined requests are answered in order within one call; a long file is
//! streamed from `on_drain` while later requests wait in the input buffer.
//!
//! The sessions of one [`Http`] service share, through an `Rc` (everything runs on the
//! reactor's thread), the configuration, the `Date` cache, the precomputed `/plain` answer and
//! the response counters. See `docs/http.md` for every status code and limit.

pub mod auth;
pub(crate) mod body;
mod config;
mod conn;
mod connections;
pub mod dashboard;
mod endpoints;
mod exchange;
mod file_cache;
pub(crate) mod host;
mod listing;
mod metrics;
pub(crate) mod multiplexed;
mod ranges;
pub mod request;
pub(crate) mod response;
mod root;
mod routes;
pub mod scan;
mod static_files;
pub(crate) mod status;
mod stream;
mod upgrade;
mod upload;
mod validators;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use crate::live::{Follower, Live};
use crate::session::{Service, Session};
use crate::stats::{Group, Stats};

pub use config::{HttpConfig, loopback};
pub use conn::HttpSession;

use endpoints::Canned;
use request::RequestLimits;
use response::{HeadParts, StatusCounts};
use std::cell::RefCell;

use root::Root;

/// What the sessions of one service share.
#[derive(Debug)]
pub(crate) struct Shared {
    config: HttpConfig,
    limits: RequestLimits,
    /// The last `Host` found valid (see `request.rs`).
    hosts: request::HostMemo,
    parts: HeadParts,
    plain: Canned,
    json: Canned,
    root: Root,
    /// Small files held in memory (see `file_cache.rs`).
    file_cache: RefCell<file_cache::FileCache>,
    /// Directory pages recently built (see `listing.rs`).
    listings: RefCell<listing::ListingCache>,
    /// Verified credentials remembered, failures counted (see `auth.rs`).
    gate: RefCell<auth::Gate>,
    /// The server this service is part of, for `/stats`.
    server: ServerStats,
}

impl Shared {
    /// What the sessions of a service with `config` share; `counts` carries on the response
    /// counters of the service this one replaces (they are already in the server's group).
    fn new(config: HttpConfig, server: ServerStats, counts: Option<Arc<StatusCounts>>) -> Shared {
        let limits = RequestLimits::of(&config);
        let mut parts = HeadParts::new(&config.server_name, Instant::now());
        if let Some(max_age) = config.hsts_max_age {
            // With the fields every response carries, so every answer (and the cached ones
            // built from these parts) has it.
            let field = format!("Strict-Transport-Security: max-age={max_age}\r\n");
            parts.server_line.extend_from_slice(field.as_bytes());
        }
        match counts {
            Some(counts) => parts.counts = counts,
            None => server.responses.join(Arc::clone(&parts.counts)),
        }
        Shared {
            limits,
            hosts: request::HostMemo::default(),
            plain: Canned::plain(&parts),
            json: Canned::json(&parts),
            parts,
            root: Root::new(config.root.clone()),
            file_cache: RefCell::new(file_cache::FileCache::new(
                config.file_cache,
                Arc::clone(&server.file_writes),
            )),
            listings: RefCell::default(),
            gate: RefCell::new(auth::Gate::new(config.auth_max_failures, Instant::now())),
            config,
            server,
        }
    }

    /// The service's configuration.
    pub(crate) fn config(&self) -> &HttpConfig {
        &self.config
    }
}

/// Where `/stats` finds the counters of the whole server, which may run several workers.
///
/// A configuration and its clones describe one server, so every worker's service is given
/// clones of the same groups; each worker adds its own counters when it starts.
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    /// Every worker's reactor counters. When empty (a service used on its own), `/stats`
    /// reports the counters of the reactor that answers.
    pub(crate) reactors: Arc<Group<Stats>>,
    /// Every HTTP service's response counts; each service joins with its own.
    pub(crate) responses: Arc<Group<StatusCounts>>,
    /// Writes (`PUT`, `DELETE`) through any worker, so that every worker's file cache
    /// forgets what a write changed (see `file_cache.rs`).
    pub(crate) file_writes: Arc<AtomicU64>,
}

/// The HTTP service: one [`HttpSession`] per connection.
#[derive(Debug)]
pub struct Http {
    shared: Rc<Shared>,
    reject: Vec<u8>,
    /// Where a reload publishes a new configuration (see [`Http::following`]).
    live: Option<Follower<HttpConfig>>,
}

impl Http {
    /// A service with this configuration, on its own: `/stats` reports its reactor alone.
    pub fn new(config: HttpConfig) -> Http {
        Http::in_server(config, ServerStats::default())
    }

    /// What its sessions share, to build a session by hand in a test.
    #[cfg(test)]
    pub(crate) fn shared_for_tests(&self) -> &Rc<Shared> {
        &self.shared
    }

    /// A service that is one worker's part of a server: `/stats` sums the counters in `server`.
    pub(crate) fn in_server(config: HttpConfig, server: ServerStats) -> Http {
        if config.writable {
            let uploads = config.root.join("files");
            crate::protocol::stale::sweep_and_log(
                &uploads,
                crate::protocol::store::is_temp_name,
                "http",
            );
        }
        let shared = Shared::new(config, server, None);
        Http {
            reject: reject_message(&shared.parts.server_line),
            shared: Rc::new(shared),
            live: None,
        }
    }

    /// The service, taking the configuration `live` holds whenever a reload (SIGHUP)
    /// publishes a new one: the connections opened from then on are served with it, those
    /// already open keep the one they started with. The response counts go on in the same
    /// counters.
    pub(crate) fn following(mut self, live: &Arc<Live<HttpConfig>>) -> Http {
        self.live = Some(live.follow());
        self
    }

    /// Puts in the configuration a reload published, if any (one atomic load otherwise).
    fn take_new_config(&mut self) {
        let Some(config) = self.live.as_mut().and_then(Follower::changed) else {
            return;
        };
        let counts = Arc::clone(&self.shared.parts.counts);
        let shared = Shared::new((*config).clone(), self.shared.server.clone(), Some(counts));
        self.reject = reject_message(&shared.parts.server_line);
        self.shared = Rc::new(shared);
    }

    /// A session for a new connection (what [`Service::new_session`] boxes). The peer's
    /// address is not needed: the reactor passes it with every call, through `Ctx`.
    pub fn session(&self) -> HttpSession {
        HttpSession::new(Rc::clone(&self.shared))
    }

    /// Responses sent so far by all sessions, by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    #[cfg(test)]
    pub(crate) fn responses(&self) -> [u64; 5] {
        self.shared.parts.counts.get()
    }
}

impl Service for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
        self.take_new_config();
        Box::new(upgrade::Upgradable::new(self.session()))
    }

    /// A complete 503. It has no `Date`: it is prepared once, and RFC 9110 §6.6.1 makes
    /// `Date` optional on 5xx answers.
    fn reject_message(&self) -> &[u8] {
        &self.reject
    }

    /// A keep-alive connection between requests is a courtesy: at the connection limit it
    /// makes room for a client with a request.
    fn idle_disposable(&self) -> bool {
        true
    }

    /// Room for the largest head we accept, and more: bodies are consumed as they arrive, so
    /// input only piles up behind a response being streamed.
    fn input_limit(&self) -> usize {
        (64 * 1024).max(self.shared.config.max_header_bytes.saturating_add(1))
    }
}

fn reject_message(server_line: &[u8]) -> Vec<u8> {
    const BODY: &[u8] = b"503 Service Unavailable\n";
    let mut out = status::Status::ServiceUnavailable.line().to_vec();
    out.extend_from_slice(server_line);
    out.extend_from_slice(b"Retry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(BODY.len()).as_bytes());
    out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    out.extend_from_slice(BODY);
    out
}

#[cfg(test)]
mod tests;
