//! Assembling a server: which service listens where, on a reactor with the given limits.
//!
//! This is the one place that knows every protocol *and* the reactor; neither knows the other.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Limits, SocketOptions};
use crate::discovery;
use crate::live::Live;
use crate::protocol::chat::Chat;
use crate::protocol::echo::{Echo, UdpEcho};
use crate::protocol::files::{Files, FilesConfig};
use crate::protocol::framed::{FramedConfig, FramedEcho};
use crate::protocol::http::{Http, HttpConfig, ServerStats};
use crate::protocol::proxy::ProxyService;
use crate::protocol::tls::TlsSetup;
use crate::reactor::rooms::SharedRooms;
use crate::reactor::{Handle, Reactor};
use crate::session::Service;

/// One service bound to one address.
#[derive(Debug, Clone)]
pub enum ServiceSpec {
    /// TCP echo.
    Echo(SocketAddr),
    /// UDP echo.
    UdpEcho(SocketAddr),
    /// Framed echo: each frame back as one frame.
    Framed(SocketAddr, FramedConfig),
    /// A line chat room.
    Chat(SocketAddr, usize),
    /// File uploads over length-prefixed frames.
    Files(SocketAddr, FilesConfig),
    /// HTTP/1.1.
    Http(SocketAddr, Box<HttpConfig>),
    /// A TCP service (any of the above but UDP echo) behind TLS, at the inner one's address.
    Tls(Box<ServiceSpec>, TlsSetup),
}

impl ServiceSpec {
    /// The same service on another address.
    fn with_addr(&self, addr: SocketAddr) -> ServiceSpec {
        let mut spec = self.clone();
        match &mut spec {
            ServiceSpec::Echo(a)
            | ServiceSpec::UdpEcho(a)
            | ServiceSpec::Framed(a, _)
            | ServiceSpec::Chat(a, _)
            | ServiceSpec::Files(a, _)
            | ServiceSpec::Http(a, _) => *a = addr,
            ServiceSpec::Tls(inner, _) => **inner = inner.with_addr(addr),
        }
        spec
    }

    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        match self {
            ServiceSpec::Echo(a)
            | ServiceSpec::UdpEcho(a)
            | ServiceSpec::Framed(a, _)
            | ServiceSpec::Chat(a, _)
            | ServiceSpec::Files(a, _)
            | ServiceSpec::Http(a, _) => *a,
            ServiceSpec::Tls(inner, _) => inner.addr(),
        }
    }

    /// The service's name, as logged and announced.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            ServiceSpec::Echo(_) | ServiceSpec::UdpEcho(_) => "echo",
            ServiceSpec::Framed(..) => "framed",
            ServiceSpec::Chat(..) => "chat",
            ServiceSpec::Files(..) => "files",
            ServiceSpec::Http(..) => "http",
            ServiceSpec::Tls(inner, _) => crate::protocol::tls::tls_name(inner.name()),
        }
    }

    /// `tcp` or `udp`.
    pub(crate) fn transport(&self) -> &'static str {
        match self {
            ServiceSpec::UdpEcho(_) => "udp",
            _ => "tcp",
        }
    }

    /// The command-line flag that asks for this service, for error messages.
    pub(crate) fn flag(&self) -> &'static str {
        match self {
            ServiceSpec::Echo(_) => "--echo",
            ServiceSpec::UdpEcho(_) => "--udp-echo",
            ServiceSpec::Framed(..) => "--framed",
            ServiceSpec::Chat(..) => "--chat",
            ServiceSpec::Files(..) => "--files",
            ServiceSpec::Http(..) => "--http",
            ServiceSpec::Tls(inner, _) => match inner.flag() {
                "--http" => "--https",
                "--echo" => "--tls-echo",
                "--framed" => "--tls-framed",
                "--chat" => "--tls-chat",
                _ => "--tls-files",
            },
        }
    }
}

/// Everything needed to start a server.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// The services and their addresses.
    pub services: Vec<ServiceSpec>,
    /// Limits enforced by the reactor.
    pub limits: Limits,
    /// Options for every listening socket.
    pub socket_options: SocketOptions,
    /// Broadcast discovery beacons, if set.
    pub announce: Option<Announce>,
    /// Independent single-threaded reactors sharing the listening ports (at least 1).
    pub workers: usize,
    /// The groups every worker adds its counters to, so `/stats` reports the whole server.
    /// Clones of a configuration share them: a configuration and its clones are one server.
    pub stats: ServerStats,
    /// Every TCP listener, TLS ones included, expects a PROXY protocol header first
    /// (`--proxy-protocol`).
    pub proxy_protocol: bool,
    /// Chat members are named by their addresses rather than `guest-N`
    /// (`--chat-show-addresses`).
    pub chat_show_addresses: bool,
    /// The balancers whose PROXY headers are believed (`--proxy-from`); a connection from
    /// anywhere else is refused. Empty: nobody's.
    pub proxy_from: Vec<ipnet::IpNet>,
}

/// Where and how often a server announces itself.
#[derive(Debug, Clone)]
pub struct Announce {
    /// The (broadcast) address beacons are sent to.
    pub to: SocketAddr,
    /// The server's name in its beacons.
    pub name: String,
    /// The interval between beacons (never below [`discovery::MIN_INTERVAL`]).
    pub interval: std::time::Duration,
    /// Sign each beacon with this shared key (`--beacon-key`); unsigned without one.
    pub key: Option<crate::secret::Secret>,
}

/// What a reload (SIGHUP) read: the whole configuration again, and how it differs from the
/// running one, setting by setting.
#[derive(Debug)]
pub struct Reloaded {
    /// The file read, for the log.
    pub file: std::path::PathBuf,
    /// The configuration the file and the command line now give.
    pub config: ServerConfig,
    /// Every setting that differs from what the server runs with.
    pub changes: Vec<Change>,
}

/// One setting a reload found changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its name in the file (the flag without its dashes).
    pub name: String,
    /// The value the server runs with, as text.
    pub old: String,
    /// The value read.
    pub new: String,
    /// Whether the running server takes it; otherwise it waits for a restart.
    pub applied: bool,
}

/// Reads the configuration again, or says (naming the file and the line) why it cannot be
/// used. Called on every SIGHUP, on a thread of its own.
pub type Reloader = Box<dyn FnMut() -> Result<Reloaded, String> + Send>;

/// The settings every worker follows while it runs (see `live.rs`): the reactor's limits,
/// and the configuration of each HTTP listener, by index in `ServerConfig::services`.
#[derive(Debug, Clone)]
struct LiveSettings {
    limits: Arc<Live<Limits>>,
    http: Vec<Option<Arc<Live<HttpConfig>>>>,
    /// Whether each listener is behind TLS (HSTS is sent there only).
    tls: Vec<bool>,
}

impl LiveSettings {
    /// Settings that start as `config`'s (its limits already a worker's share).
    fn new(config: &ServerConfig) -> LiveSettings {
        LiveSettings {
            limits: Live::new(config.limits.clone()),
            http: config
                .services
                .iter()
                .map(|spec| http_of(spec).map(|http| Live::new(http.clone())))
                .collect(),
            tls: config
                .services
                .iter()
                .map(|spec| matches!(spec, ServiceSpec::Tls(..)))
                .collect(),
        }
    }

    /// Publishes what the running server takes from `new`: every limit (a worker's share of
    /// the memory budget), and each HTTP listener's settings from a listener of its kind in
    /// `new` (they are all the same but for HSTS), keeping what only a restart changes
    /// (HTTP/2, whose use TLS listeners announce at the handshake).
    fn publish(&self, new: &ServerConfig, workers: usize) {
        let mut limits = new.limits.clone();
        limits.max_memory = (limits.max_memory / workers.max(1)).max(1);
        self.limits.set(limits);
        let plain = new.services.iter().find_map(|spec| match spec {
            ServiceSpec::Http(_, http) => Some(&**http),
            _ => None,
        });
        let tls = new.services.iter().find_map(|spec| match spec {
            ServiceSpec::Tls(..) => http_of(spec),
            _ => None,
        });
        for (live, behind_tls) in self.http.iter().zip(&self.tls) {
            let Some(live) = live else { continue };
            let running = live.get();
            let from = if *behind_tls {
                tls.or(plain)
            } else {
                plain.or(tls)
            };
            if let Some(from) = from {
                live.set(HttpConfig {
                    http2: running.http2,
                    hsts_max_age: from.hsts_max_age.filter(|_| *behind_tls),
                    ..from.clone()
                });
            }
        }
    }
}

/// The HTTP configuration of a plain or TLS HTTP listener.
fn http_of(spec: &ServiceSpec) -> Option<&HttpConfig> {
    match spec {
        ServiceSpec::Http(_, http) => Some(http),
        ServiceSpec::Tls(inner, _) => http_of(inner),
        _ => None,
    }
}

/// On every SIGHUP (caught by `signals`), reads the configuration with `reload` and
/// publishes what a running server can take; logs one line naming each changed setting,
/// and those that wait for a restart. A file that cannot be used changes nothing.
fn reload_on_sighup(
    mut signals: signal_hook::iterator::Signals,
    mut reload: Option<Reloader>,
    live: LiveSettings,
    workers: usize,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("evserve-reload".into())
        .spawn(move || {
            for _ in signals.forever() {
                let Some(reload) = reload.as_mut() else {
                    log::info!(
                        "SIGHUP: started without --config, so there are no settings to reload"
                    );
                    continue;
                };
                match reload() {
                    Ok(reloaded) => {
                        live.publish(&reloaded.config, workers);
                        let (level, line) = reload_line(&reloaded);
                        log::log!(level, "{line}");
                    }
                    Err(e) => {
                        log::error!("reload failed, still serving with the previous settings: {e}")
                    }
                }
            }
        })
        .map(drop)
}

/// `reloaded FILE: access-log false -> true; not applied until restart: http (A -> B)`, at
/// warning level when something waits for a restart.
fn reload_line(reloaded: &Reloaded) -> (log::Level, String) {
    let file = reloaded.file.display();
    let (applied, waiting): (Vec<&Change>, Vec<&Change>) =
        reloaded.changes.iter().partition(|c| c.applied);
    let mut parts: Vec<String> = applied
        .iter()
        .map(|c| format!("{} {} -> {}", c.name, c.old, c.new))
        .collect();
    if !waiting.is_empty() {
        let names: Vec<String> = waiting
            .iter()
            .map(|c| format!("{} ({} -> {})", c.name, c.old, c.new))
            .collect();
        parts.push(format!("not applied until restart: {}", names.join(", ")));
    }
    if parts.is_empty() {
        return (
            log::Level::Info,
            format!("reloaded {file}: no setting changed"),
        );
    }
    let level = if waiting.is_empty() {
        log::Level::Info
    } else {
        log::Level::Warn
    };
    (level, format!("reloaded {file}: {}", parts.join("; ")))
}

/// Starts announcing `services` on `reactor` as `announce` says.
pub fn add_announcer(
    reactor: &mut Reactor,
    announce: &Announce,
    services: Vec<discovery::ServiceEntry>,
) -> io::Result<()> {
    let beacon = discovery::Beacon {
        name: announce.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        services: discovery::advertised(services, announce.to),
    };
    let invalid = |e| io::Error::new(io::ErrorKind::InvalidInput, e);
    let payload: Box<dyn FnMut() -> Vec<u8>> = match &announce.key {
        None => {
            let payload = beacon.encode().map_err(invalid)?;
            Box::new(move || payload.clone())
        }
        Some(key) => {
            let mut sealer = discovery::Sealer::new(key.clone());
            // Signed once now, so a beacon too large to sign is refused at start.
            sealer
                .seal(&beacon, discovery::seal::unix_now())
                .map_err(invalid)?;
            Box::new(move || {
                // Cannot fail: the same beacon was signed at start.
                sealer
                    .seal(&beacon, discovery::seal::unix_now())
                    .unwrap_or_default()
            })
        }
    };
    let mut schedule = discovery::Schedule::new(announce.interval);
    let interval = schedule.interval();
    let bind: SocketAddr = if announce.to.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    reactor.add_periodic(
        bind,
        announce.to,
        payload,
        Box::new(move || schedule.next_delay()),
    )?;
    log::info!(
        "announcing {:?} to {} every {interval:?} (with jitter), {}",
        announce.name,
        announce.to,
        if announce.key.is_some() {
            "signed with --beacon-key"
        } else {
            "unsigned"
        }
    );
    Ok(())
}

/// A service could not be bound.
///
/// The message says what failed, the OS reason once, and what to do about it, e.g.
/// `cannot listen on 127.0.0.1:7007 (echo, the default): Address already in use (os error
/// 98); is another evserve running? choose another port with --echo`. The [`io::Error`] is kept
/// as the [`source`](std::error::Error::source) for callers that match on its kind; a printer
/// that walks the chain should skip a cause the message already contains.
#[derive(Debug)]
pub struct BindError {
    /// The service, as logged (`echo`, `http`, `announce`, ...).
    pub service: &'static str,
    /// The flag that asks for it.
    pub flag: &'static str,
    /// The address it asked for.
    pub addr: SocketAddr,
    /// Whether the address is a default the user never typed (no service flag was given).
    pub defaulted: bool,
    /// Why the bind failed.
    pub source: io::Error,
}

impl BindError {
    fn new(spec: &ServiceSpec, source: io::Error) -> BindError {
        BindError {
            service: spec.name(),
            flag: spec.flag(),
            addr: spec.addr(),
            defaulted: false,
            source,
        }
    }

    /// What to do next, for the common reasons.
    fn hint(&self) -> Option<String> {
        let flag = self.flag;
        let hint = match self.source.kind() {
            io::ErrorKind::AddrInUse if self.defaulted => format!(
                "is another evserve running? stop it, or choose addresses with {flag} and \
                 the other service flags (any service flag replaces the defaults)"
            ),
            io::ErrorKind::AddrInUse => format!(
                "is another evserve running? choose another port with {flag}, e.g. \
                 {flag} {}:0 for any free one",
                self.addr.ip()
            ),
            io::ErrorKind::AddrNotAvailable => format!(
                "this machine has no address {}; use 127.0.0.1, 0.0.0.0 or one that \
                 `ip -brief address` lists",
                self.addr.ip()
            ),
            io::ErrorKind::PermissionDenied if self.addr.port() < 1024 => format!(
                "ports below 1024 need root or CAP_NET_BIND_SERVICE; choose a port above \
                 1023 with {flag}"
            ),
            _ => return None,
        };
        Some(hint)
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.service == "announce" {
            "cannot send beacons to"
        } else {
            "cannot listen on"
        };
        write!(f, "{verb} {}", self.addr)?;
        if self.defaulted {
            write!(f, " ({}, the default)", self.service)?;
        } else {
            write!(f, " ({})", self.flag)?;
        }
        write!(f, ": {}", self.source)?;
        if let Some(hint) = self.hint() {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Why a server did not start, or stopped with an error.
#[derive(Debug)]
pub enum ServeError {
    /// A service's address could not be bound.
    Bind(BindError),
    /// Something the server needs besides its addresses (an epoll instance, a thread, the
    /// signal handler) could not be had, or the event loop failed.
    Io {
        /// What was being done, e.g. `starting worker thread 2`.
        what: String,
        /// The OS reason.
        source: io::Error,
    },
}

impl ServeError {
    fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServeError {
        let what = what.into();
        move |source| ServeError::Io { what, source }
    }
}

impl From<BindError> for ServeError {
    fn from(e: BindError) -> ServeError {
        ServeError::Bind(e)
    }
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Bind(e) => e.fmt(f),
            ServeError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Bind(e) => Some(e),
            ServeError::Io { source, .. } => Some(source),
        }
    }
}

/// What each HTTP listener of `config` (bound at `bound`) serves, and to whom: one info line
/// per listener naming its document root and its open endpoints, then one warning if a status
/// page or a writable upload area is reachable beyond loopback without a restriction.
pub fn exposure(config: &ServerConfig, bound: &[SocketAddr]) -> Vec<(log::Level, String)> {
    let mut lines = Vec::new();
    let mut exposed = Vec::new();
    for (spec, addr) in config.services.iter().zip(bound) {
        let (http, flag) = match spec {
            ServiceSpec::Http(_, http) => (http, "--http"),
            ServiceSpec::Tls(inner, _) => match &**inner {
                ServiceSpec::Http(_, http) => (http, "--https"),
                _ => continue,
            },
            _ => continue,
        };
        let root = std::fs::canonicalize(&http.root).unwrap_or_else(|_| http.root.clone());
        let status = if http.browser.dashboard {
            "/stats /metrics /connections /dashboard /events /ws/chat /ws/echo"
        } else {
            "/stats /metrics /connections"
        };
        let loopback_only = http
            .stats_allow
            .iter()
            .all(|net| is_loopback(net.network()));
        let everyone = http.stats_allow.iter().any(|net| net.prefix_len() == 0);
        let allowed = if loopback_only {
            "loopback only".to_string()
        } else if everyone {
            "any address".to_string()
        } else {
            let nets: Vec<String> = http.stats_allow.iter().map(|n| n.to_string()).collect();
            nets.join(", ")
        };
        let writes = match (http.writable, http.auth.is_some()) {
            (false, _) => "read-only",
            (true, true) => "PUT/DELETE /files/ with credentials",
            (true, false) => "PUT/DELETE /files/ for anyone (--writable-without-auth)",
        };
        let name = spec.name();
        lines.push((
            log::Level::Info,
            format!(
                "{name} {addr}: root {}, files {writes}, listings {}",
                root.display(),
                if http.listings {
                    "on"
                } else {
                    "off (--listings)"
                },
            ),
        ));
        lines.push((
            log::Level::Info,
            format!(
                "{name} {addr}: {status} for {allowed} (--stats-allow); /plain /json /echo \
                 /healthz for anyone"
            ),
        ));
        if is_loopback(addr.ip()) {
            continue;
        }
        if !loopback_only {
            exposed.push(format!("{status} on {flag} {addr} to {allowed}"));
        }
        if http.writable && http.auth.is_none() {
            exposed.push(format!("PUT/DELETE /files/ on {flag} {addr} to anyone"));
        }
    }
    if !exposed.is_empty() {
        lines.push((
            log::Level::Warn,
            format!(
                "exposed beyond loopback: {}; narrow with --stats-allow NET and --auth-file \
                 FILE if that is not meant",
                exposed.join("; ")
            ),
        ));
    }
    lines
}

/// Whether `ip` is the machine itself (IPv4-mapped loopback included).
fn is_loopback(ip: std::net::IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Builds a reactor serving everything in `config`. Returns it with the bound addresses, in
/// the order of `config.services`.
pub(crate) fn build(config: &ServerConfig) -> Result<(Reactor, Vec<SocketAddr>), ServeError> {
    build_following(config, None)
}

/// [`build`], with the reactor and its HTTP services following `live` if given.
fn build_following(
    config: &ServerConfig,
    live: Option<&LiveSettings>,
) -> Result<(Reactor, Vec<SocketAddr>), ServeError> {
    let reactor = Reactor::new(config.limits.clone(), config.socket_options.clone())
        .map_err(ServeError::io("cannot create the event loop"))?;
    bind_all(reactor, config, live)
}

/// Binds every service of `config` on `reactor`; with `live`, the reactor and each HTTP
/// service take the settings a reload publishes there.
fn bind_all(
    mut reactor: Reactor,
    config: &ServerConfig,
    live: Option<&LiveSettings>,
) -> Result<(Reactor, Vec<SocketAddr>), ServeError> {
    if let Some(live) = live {
        reactor.follow_limits(&live.limits);
    }
    let live_http = |index: usize| live.and_then(|l| l.http.get(index).cloned().flatten());
    let mut bound = Vec::with_capacity(config.services.len());
    // --proxy-protocol: every TCP service reads the balancer's header first. Under TLS the
    // header comes before the ClientHello (HAProxy sends it first on the TCP connection).
    let wrap = |service: Box<dyn Service>| -> Box<dyn Service> {
        if config.proxy_protocol {
            Box::new(ProxyService::new(service, &config.proxy_from))
        } else {
            service
        }
    };
    for (index, spec) in config.services.iter().enumerate() {
        let http = |c: &HttpConfig| {
            let service = Http::in_server(c.clone(), config.stats.clone());
            match live_http(index) {
                Some(live) => service.following(&live),
                None => service,
            }
        };
        let addr = match spec {
            ServiceSpec::Echo(a) => reactor.listen(*a, wrap(Box::new(Echo))),
            ServiceSpec::UdpEcho(a) => reactor.bind_udp(*a, Box::new(UdpEcho)),
            ServiceSpec::Framed(a, c) => reactor.listen(*a, wrap(Box::new(FramedEcho::new(*c)))),
            ServiceSpec::Chat(a, max_line) => reactor.listen(
                *a,
                wrap(Box::new(
                    Chat::new(*max_line).showing_addresses(config.chat_show_addresses),
                )),
            ),
            ServiceSpec::Files(a, c) => reactor.listen(*a, wrap(Box::new(Files::new(c.clone())))),
            ServiceSpec::Http(a, c) => reactor.listen(*a, wrap(Box::new(http(c)))),
            ServiceSpec::Tls(inner, setup) => tls_service(inner, setup, config, http)
                .and_then(|service| reactor.listen(spec.addr(), wrap(service))),
        }
        .map_err(|e| BindError::new(spec, e))?;
        bound.push(addr);
    }
    if let Some(announce) = &config.announce {
        let entries = config
            .services
            .iter()
            .zip(&bound)
            .map(|(spec, addr)| discovery::ServiceEntry {
                name: spec.name().to_string(),
                transport: spec.transport().to_string(),
                addr: *addr,
            })
            .collect();
        add_announcer(&mut reactor, announce, entries).map_err(|source| BindError {
            service: "announce",
            flag: "--announce",
            addr: announce.to,
            defaulted: false,
            source,
        })?;
    }
    config.stats.reactors.join(reactor.stats());
    Ok((reactor, bound))
}

/// The service `inner` describes, behind TLS.
fn tls_service(
    inner: &ServiceSpec,
    setup: &TlsSetup,
    config: &ServerConfig,
    http: impl Fn(&HttpConfig) -> Http,
) -> io::Result<Box<dyn Service>> {
    let service: Box<dyn Service> = match inner {
        ServiceSpec::Echo(_) => Box::new(Echo),
        ServiceSpec::Framed(_, c) => Box::new(FramedEcho::new(*c)),
        ServiceSpec::Chat(_, max_line) => {
            Box::new(Chat::new(*max_line).showing_addresses(config.chat_show_addresses))
        }
        ServiceSpec::Files(_, c) => Box::new(Files::new(c.clone())),
        ServiceSpec::Http(_, c) => Box::new(http(c)),
        ServiceSpec::UdpEcho(_) | ServiceSpec::Tls(..) => {
            return Err(io::Error::other("TLS wraps one TCP service"));
        }
    };
    let service = setup.wrap(service).map_err(io::Error::other)?;
    Ok(Box::new(service))
}

/// Loads the certificates of every TLS listener, so a bad file is reported before anything
/// listens (and a self-signed certificate is made once, for every worker).
pub(crate) fn load_tls(config: &ServerConfig) -> io::Result<()> {
    for spec in &config.services {
        if let ServiceSpec::Tls(_, setup) = spec {
            setup.load().map_err(io::Error::other)?;
        }
    }
    Ok(())
}

/// A server running on its own thread (for tests, benchmarks and embedding).
pub struct Running {
    /// The bound addresses, in the order of the configuration's services.
    pub addrs: Vec<SocketAddr>,
    /// The reactor's counters.
    pub stats: std::sync::Arc<crate::stats::Stats>,
    handle: Handle,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Running {
    /// Stops the server gracefully and waits for its thread.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.handle.stop();
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("reactor thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Builds and runs a server on a new thread. The reactor is built *on* that thread because
/// sessions may hold thread-local state (`Rc`), so a reactor never moves between threads.
pub fn spawn(config: ServerConfig) -> Result<Running, ServeError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("evserve-reactor".into())
        .spawn(move || {
            let mut reactor = match build(&config) {
                Ok((reactor, addrs)) => {
                    let _ = tx.send(Ok((addrs, reactor.stats(), reactor.handle())));
                    reactor
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return Ok(());
                }
            };
            reactor.run()
        })
        .map_err(ServeError::io("cannot start the reactor thread"))?;
    let (addrs, stats, handle) = rx.recv().map_err(|_| ServeError::Io {
        what: "the reactor thread died while starting".into(),
        source: io::Error::other("no answer from the thread"),
    })??;
    Ok(Running {
        addrs,
        stats,
        handle,
        thread: Some(thread),
    })
}

/// Runs the server on this thread until SIGINT/SIGTERM, with `config.workers` reactors.
///
/// Workers share almost nothing: each has its own thread, poll, connections and counters,
/// and its own listening sockets bound with `SO_REUSEPORT`, so the kernel spreads new
/// connections (and datagrams) across them. Worker 0 binds first, so that a port 0 is
/// resolved once and every other worker binds the very same ports. What they share: rooms
/// (a chat line reaches the members of every worker, through one inbox per worker, see
/// `reactor/rooms.rs`), the file cache's write counter and the counters `/stats` sums.
///
/// With `reload`, the configuration is read again on every SIGHUP: what a running
/// server can take reaches every worker (the reactors' limits at their next turn, the HTTP
/// settings for connections opened from then on), and one line logs each changed setting,
/// naming those that wait for a restart. A configuration that cannot be used is logged and
/// changes nothing. Without `reload`, SIGHUP only logs that there is nothing to reload (and
/// reloads the TLS certificates, as it always does).
pub fn serve_reloading(config: &ServerConfig, reload: Option<Reloader>) -> Result<(), ServeError> {
    // Caught before anything is bound, like SIGTERM: a SIGHUP sent on seeing `listening`
    // must not meet its default action, which ends the process.
    let sighup = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .map_err(ServeError::io("cannot handle SIGHUP"))?;
    load_tls(config).map_err(ServeError::io("loading the TLS certificates"))?;
    let workers = config.workers.max(1);
    let mut first = config.clone();
    if workers > 1 {
        first.socket_options.reuse_port = true;
        // The budget is the server's: each worker holds its share.
        first.limits.max_memory = (config.limits.max_memory / workers).max(1);
    }
    // Worker 0 owns the signal handler and passes each signal on to the others. It is
    // registered before anything is bound: a supervisor (or a test) that sends SIGTERM as
    // soon as it reads `listening` must find it handled, not meet the default action. A
    // signal that arrives while the other workers start is held until the loop runs, and by
    // then every follower's handle is known: none can miss it.
    let mut reactor = Reactor::new(first.limits.clone(), first.socket_options.clone())
        .map_err(ServeError::io("cannot create the event loop"))?;
    reactor
        .handle_signals()
        .map_err(ServeError::io("cannot handle SIGINT and SIGTERM"))?;
    let live = LiveSettings::new(&first);
    let (mut reactor, addrs) = bind_all(reactor, &first, Some(&live))?;
    for (level, line) in exposure(config, &addrs) {
        log::log!(level, "{line}");
    }
    let rooms = SharedRooms::new(workers);
    if workers > 1 {
        reactor.share_rooms(rooms.clone(), 0);
    }
    let mut rest = first.clone();
    rest.announce = None; // one beacon per server, not per worker
    rest.services = config
        .services
        .iter()
        .zip(&addrs)
        .map(|(spec, addr)| spec.with_addr(*addr))
        .collect();
    let mut threads = Vec::new();
    let mut followers = Vec::new();
    let mut failed = None;
    for n in 1..workers {
        let cfg = rest.clone();
        let rooms = rooms.clone();
        let live = live.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("evserve-worker-{n}"))
            .spawn(move || -> Result<(), ServeError> {
                let mut reactor = match build_following(&cfg, Some(&live)) {
                    Ok((reactor, _)) => reactor,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Ok(());
                    }
                };
                reactor.share_rooms(rooms, n);
                let _ = tx.send(Ok(reactor.handle()));
                reactor
                    .run()
                    .map_err(ServeError::io("the event loop failed"))
            })
            .map_err(ServeError::io(format!(
                "cannot start worker thread {n} (--workers {workers})"
            )));
        let started = spawned.and_then(|thread| {
            threads.push(thread);
            rx.recv().unwrap_or_else(|_| {
                Err(ServeError::Io {
                    what: format!("worker {n} died while starting"),
                    source: io::Error::other("no answer from the thread"),
                })
            })
        });
        match started {
            Ok(handle) => followers.push(handle),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failed {
        // Stop the workers already running, so the process can exit with the error.
        followers.iter().for_each(Handle::stop_now);
        for thread in threads {
            let _ = thread.join();
        }
        return Err(e);
    }
    reactor.forward_signals_to(followers);
    if let Err(e) = reload_on_sighup(sighup, reload, live, workers) {
        log::warn!("cannot start the thread that reloads on SIGHUP, settings will not reload: {e}");
    }
    let result = reactor
        .run()
        .map_err(ServeError::io("the event loop failed"));
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("worker: {e}"),
            Err(_) => log::error!("worker panicked"),
        }
    }
    result
}
