//! TLS as a session layer: any TCP service, encrypted, on the same event loop.
//!
//! ```text
//!   reactor ──bytes──► TlsSession ──plaintext──► inner Session (echo, chat, files, http…)
//!           ◄─bytes─── (rustls)   ◄─plaintext──
//! ```
//!
//! rustls is itself sans-IO: it reads and writes byte buffers and never touches a socket. So
//! TLS needs no change to the reactor: `TlsService` wraps any [`Service`], and every session
//! it makes is a `TlsSession` wrapping the inner service's session (see `session.rs` for how
//! each callback is translated, and `docs/tls.md` for the whole design).
//!
//! This module owns the server-side configuration too: which certificates (`certs.rs`: PEM
//! files chosen by SNI, or a self-signed one made at start), which versions (TLS 1.2 and 1.3
//! only), ALPN `h2` and `http/1.1` on HTTPS listeners, session resumption (tickets and a bounded
//! session cache), and reloading the certificates on SIGHUP. Its flags are the binary's (`cli/tls_args.rs`).

pub(crate) mod certs;
mod session;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use log::{error, info, warn};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ProducesTickets, ServerSessionMemoryCache};

pub use certs::CertFiles;
pub(crate) use certs::{CertError, CertStore, SniResolver};
pub(crate) use session::{TlsSession, TlsSettings};

use crate::session::{Ctx, Flow, RoomId, Service, Session, Step};

/// Sessions remembered for resumption by ID (TLS 1.2 clients without tickets), per server.
pub(crate) const SESSION_CACHE_SIZE: usize = 4096;

/// The largest TLS record on the wire: 16 KiB of payload plus the most any cipher adds, plus
/// the 5-byte header.
pub(crate) const MAX_RECORD: usize = 16 * 1024 + 2048 + 5;

/// How the TLS listeners of one server are set up. Clones share the loaded certificates, so
/// every listener and every worker presents the same ones (and one self-signed certificate is
/// made, not one per listener).
#[derive(Clone)]
pub struct TlsSetup {
    /// Certificate/key pairs; empty means a self-signed certificate for the loopback names.
    pub certs: Vec<CertFiles>,
    /// Where to write the self-signed certificate as `cert.pem`.
    pub self_signed_out: Option<PathBuf>,
    /// How long a handshake may take.
    pub handshake_timeout: Duration,
    /// What is wrong with the flags, reported by `TlsSetup::load`.
    pub problem: Option<String>,
    /// Whether HTTPS listeners offer HTTP/2 by ALPN (`h2`, then `http/1.1`); default true.
    pub http2: bool,
    loaded: Arc<Mutex<Option<Loaded>>>,
}

impl fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSetup")
            .field("certs", &self.certs)
            .field("self_signed_out", &self.self_signed_out)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// What loading produced, shared by every listener.
#[derive(Clone)]
struct Loaded {
    https: Arc<ServerConfig>,
    plain: Arc<ServerConfig>,
}

impl TlsSetup {
    /// A setup serving `certs` (or a self-signed certificate when empty).
    pub fn new(certs: Vec<CertFiles>) -> TlsSetup {
        TlsSetup {
            certs,
            self_signed_out: None,
            handshake_timeout: TlsSettings::default().handshake_timeout,
            problem: None,
            http2: true,
            loaded: Arc::default(),
        }
    }

    /// Loads the certificates and builds the rustls configurations, once for all clones: logs
    /// the fingerprints, writes `cert.pem` if asked, and from then on reloads on SIGHUP.
    pub(crate) fn load(&self) -> Result<(), CertError> {
        self.loaded().map(|_| ())
    }

    fn loaded(&self) -> Result<Loaded, CertError> {
        let mut slot = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(loaded) = &*slot {
            return Ok(loaded.clone());
        }
        if let Some(problem) = &self.problem {
            return Err(CertError::Flags(problem.clone()));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let store = if self.certs.is_empty() {
            let (key, pem) = certs::self_signed(&provider)?;
            let store = CertStore::new(vec![key]);
            info!(
                "tls: self-signed certificate for {}, SHA-256 fingerprint {}",
                certs::SELF_SIGNED_NAMES.join(", "),
                store.fingerprints().join(" ")
            );
            if let Some(dir) = &self.self_signed_out {
                let path = certs::write_self_signed(dir, &pem)?;
                info!("tls: wrote {} (curl --cacert {0})", path.display());
            }
            store
        } else {
            let store = CertStore::load(&self.certs, &provider)?;
            log_loaded(&self.certs, &store);
            store
        };
        let resolver = Arc::new(SniResolver::new(store));
        let ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
            .map_err(|e| CertError::Generate(format!("session ticket keys: {e}")))?;
        let cache = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
        let build = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, CertError> {
            server_config(&provider, &resolver, &ticketer, &cache, alpn)
        };
        let loaded = Loaded {
            // A client that picks `h2` starts with HTTP/2's preface, which the HTTP session
            // recognises (see `http/upgrade.rs`): nothing else needs to know the choice.
            https: if self.http2 {
                build(&[b"h2", b"http/1.1"])?
            } else {
                build(&[b"http/1.1"])?
            },
            plain: build(&[])?,
        };
        if !self.certs.is_empty() {
            reload_on_sighup(self.certs.clone(), provider, resolver);
        }
        *slot = Some(loaded.clone());
        Ok(loaded)
    }

    /// Wraps `inner` for a TLS listener of this setup. An HTTP service gets ALPN `h2` and
    /// `http/1.1` (`http/1.1` alone without HTTP/2)
    /// and the plaintext answer to plain HTTP.
    pub(crate) fn wrap(&self, inner: Box<dyn Service>) -> Result<TlsService, CertError> {
        let loaded = self.loaded()?;
        let https = inner.name() == "http";
        let settings = TlsSettings {
            handshake_timeout: self.handshake_timeout,
            inner_input_limit: inner.input_limit(),
            plain_http_hint: https,
            ..TlsSettings::default()
        };
        Ok(TlsService {
            config: if https { loaded.https } else { loaded.plain },
            settings: Arc::new(settings),
            name: tls_name(inner.name()),
            inner,
        })
    }
}

fn log_loaded(files: &[CertFiles], store: &CertStore) {
    for (pair, fp) in files.iter().zip(store.fingerprints()) {
        info!(
            "tls: certificate {} (SHA-256 fingerprint {fp})",
            pair.cert.display()
        );
    }
}

/// One rustls server configuration: TLS 1.2 and 1.3, certificates by SNI, tickets and a
/// bounded session cache for resumption.
fn server_config(
    provider: &Arc<CryptoProvider>,
    resolver: &Arc<SniResolver>,
    ticketer: &Arc<dyn ProducesTickets>,
    cache: &Arc<ServerSessionMemoryCache>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, CertError> {
    let mut config = ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| CertError::Generate(format!("protocol versions: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(resolver) as Arc<dyn rustls::server::ResolvesServerCert>);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // The server's order of cipher suites, not the client's: a client that lists a weaker
    // suite first (or is made to, by a downgrade) still gets the strongest both support.
    // testssl.sh reports following the client's order as a HIGH finding for TLS 1.2.
    config.ignore_client_order = true;
    config.ticketer = Arc::clone(ticketer);
    config.session_storage = Arc::clone(cache) as Arc<dyn rustls::server::StoresServerSessions>;
    Ok(Arc::new(config))
}

/// Reloads the certificate files on every SIGHUP: connections already open keep their keys,
/// new handshakes get the new ones. A reload that fails keeps the old certificates.
fn reload_on_sighup(
    files: Vec<CertFiles>,
    provider: Arc<CryptoProvider>,
    resolver: Arc<SniResolver>,
) {
    let mut signals = match signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP]) {
        Ok(signals) => signals,
        Err(e) => {
            warn!("tls: cannot watch SIGHUP, certificates will not reload: {e}");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("evserve-tls-reload".into())
        .spawn(move || {
            for _ in signals.forever() {
                match CertStore::load(&files, &provider) {
                    Ok(store) => {
                        log_loaded(&files, &store);
                        resolver.replace(store);
                        info!("tls: certificates reloaded (SIGHUP)");
                    }
                    Err(e) => error!("tls: reload failed, keeping the old certificates: {e}"),
                }
            }
        });
    if let Err(e) = spawned {
        warn!("tls: cannot start the reload thread, certificates will not reload: {e}");
    }
}

/// The name a TLS listener logs and announces: `https`, `tls-echo`, `tls-chat`…
pub(crate) fn tls_name(inner: &str) -> &'static str {
    match inner {
        "http" => "https",
        "echo" => "tls-echo",
        "framed" => "tls-framed",
        "chat" => "tls-chat",
        "files" => "tls-files",
        _ => "tls",
    }
}

/// Any TCP service behind TLS.
pub(crate) struct TlsService {
    inner: Box<dyn Service>,
    config: Arc<ServerConfig>,
    settings: Arc<TlsSettings>,
    name: &'static str,
}

impl Service for TlsService {
    fn name(&self) -> &'static str {
        self.name
    }

    fn new_session(&mut self, peer: SocketAddr) -> Box<dyn Session> {
        let inner = self.inner.new_session(peer);
        match TlsSession::new(Arc::clone(&self.config), Arc::clone(&self.settings), inner) {
            Ok(session) => Box::new(session),
            Err(e) => {
                error!("tls: cannot start a session for {peer}: {e}");
                Box::new(Refused)
            }
        }
    }

    /// Nothing: a refusal cannot be encrypted before a handshake, and plaintext would only be
    /// a protocol error to a TLS client. The connection is just closed.
    fn reject_message(&self) -> &[u8] {
        b""
    }

    fn idle_disposable(&self) -> bool {
        self.inner.idle_disposable()
    }

    /// The inner service's: `--tls-chat` members are in the same room as `--chat` ones.
    fn room(&self) -> Option<RoomId> {
        self.inner.room()
    }

    fn input_limit(&self) -> usize {
        // Room for the inner service's largest message, or a few whole records.
        self.inner.input_limit().max(4 * MAX_RECORD)
    }
}

/// The session of a connection TLS could not be set up for: closed at once.
struct Refused;

impl Session for Refused {
    fn on_open(&mut self, _cx: &mut Ctx<'_>) -> Flow {
        Flow::Abort
    }

    fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
        Step {
            consumed: input.len(),
            forward: 0,
            flow: Flow::Abort,
        }
    }
}

#[cfg(test)]
mod tests;
