//! Assembling a server: which service listens where, on a reactor with the given limits.
//!
//! This is the one place that knows every protocol *and* the reactor; neither knows the other.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::config::{Limits, SocketOptions};
use crate::discovery;
use crate::protocol::chat::Chat;
use crate::protocol::echo::{Echo, UdpEcho};
use crate::protocol::files::{Files, FilesConfig};
use crate::protocol::framed::{FramedConfig, FramedEcho};
use crate::protocol::http::{Http, HttpConfig, ServerStats};
use crate::protocol::proxy::ProxyService;
use crate::protocol::tls::TlsSetup;
use crate::reactor::Reactor;
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
    pub fn name(&self) -> &'static str {
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
    pub fn transport(&self) -> &'static str {
        match self {
            ServiceSpec::UdpEcho(_) => "udp",
            _ => "tcp",
        }
    }

    /// The command-line flag that asks for this service, for error messages.
    pub fn flag(&self) -> &'static str {
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
    /// Every TCP listener expects a PROXY protocol header first (`--proxy-protocol`).
    pub proxy_protocol: bool,
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
    let payload = beacon
        .encode()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
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
        "announcing {:?} to {} every {interval:?} (with jitter)",
        announce.name,
        announce.to
    );
    Ok(())
}

/// A service could not be bound.
#[derive(Debug)]
pub struct BindError {
    /// The flag that asked for it.
    pub flag: &'static str,
    /// The address it asked for.
    pub addr: SocketAddr,
    /// Why the bind failed.
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot bind {} {}", self.flag, self.addr)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Builds a reactor serving everything in `config`. Returns it with the bound addresses, in
/// the order of `config.services`.
pub fn build(config: &ServerConfig) -> Result<(Reactor, Vec<SocketAddr>), BindError> {
    let fail = |spec: &ServiceSpec, source| BindError {
        flag: spec.flag(),
        addr: spec.addr(),
        source,
    };
    let mut reactor = Reactor::new(config.limits.clone(), config.socket_options.clone())
        .map_err(|e| fail(&config.services[0], e))?;
    let mut bound = Vec::with_capacity(config.services.len());
    // --proxy-protocol: every TCP service reads the balancer's header first.
    let wrap = |service: Box<dyn Service>| -> Box<dyn Service> {
        if config.proxy_protocol {
            Box::new(ProxyService::new(service))
        } else {
            service
        }
    };
    for spec in &config.services {
        let addr = match spec {
            ServiceSpec::Echo(a) => reactor.listen(*a, wrap(Box::new(Echo))),
            ServiceSpec::UdpEcho(a) => reactor.bind_udp(*a, Box::new(UdpEcho)),
            ServiceSpec::Framed(a, c) => reactor.listen(*a, wrap(Box::new(FramedEcho::new(*c)))),
            ServiceSpec::Chat(a, max_line) => {
                reactor.listen(*a, wrap(Box::new(Chat::new(*max_line))))
            }
            ServiceSpec::Files(a, c) => reactor.listen(*a, wrap(Box::new(Files::new(c.clone())))),
            ServiceSpec::Http(a, c) => reactor.listen(
                *a,
                wrap(Box::new(Http::in_server(
                    (**c).clone(),
                    config.stats.clone(),
                ))),
            ),
            ServiceSpec::Tls(inner, setup) => tls_service(inner, setup, &config.stats)
                .and_then(|service| reactor.listen(spec.addr(), service)),
        }
        .map_err(|e| fail(spec, e))?;
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
            flag: "--announce",
            addr: announce.to,
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
    stats: &ServerStats,
) -> io::Result<Box<dyn Service>> {
    let service: Box<dyn Service> = match inner {
        ServiceSpec::Echo(_) => Box::new(Echo),
        ServiceSpec::Framed(_, c) => Box::new(FramedEcho::new(*c)),
        ServiceSpec::Chat(_, max_line) => Box::new(Chat::new(*max_line)),
        ServiceSpec::Files(_, c) => Box::new(Files::new(c.clone())),
        ServiceSpec::Http(_, c) => Box::new(Http::in_server((**c).clone(), stats.clone())),
        ServiceSpec::UdpEcho(_) | ServiceSpec::Tls(..) => {
            return Err(io::Error::other("TLS wraps one TCP service"));
        }
    };
    let service = setup.wrap(service).map_err(io::Error::other)?;
    Ok(Box::new(service))
}

/// Loads the certificates of every TLS listener, so a bad file is reported before anything
/// listens (and a self-signed certificate is made once, for every worker).
pub fn load_tls(config: &ServerConfig) -> io::Result<()> {
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
    handle: crate::reactor::Handle,
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
pub fn spawn(config: ServerConfig) -> Result<Running, BindError> {
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
        .map_err(|e| BindError {
            flag: "--workers",
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source: e,
        })?;
    let (addrs, stats, handle) = rx.recv().map_err(|_| BindError {
        flag: "--workers",
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source: io::Error::other("reactor thread died while starting"),
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
/// Workers share nothing: each has its own thread, poll, connections and counters, and its
/// own listening sockets bound with `SO_REUSEPORT`, so the kernel spreads new connections
/// (and datagrams) across them. Worker 0 binds first, so that a port 0 is resolved once and
/// every other worker binds the very same ports. State that lives in a reactor — a chat room,
/// for one — is per worker.
pub fn serve(config: &ServerConfig) -> io::Result<()> {
    load_tls(config)?;
    let workers = config.workers.max(1);
    let mut first = config.clone();
    if workers > 1 {
        first.socket_options.reuse_port = true;
    }
    let (mut reactor, addrs) = build(&first).map_err(|e| io::Error::other(e.to_string()))?;
    reactor.handle_signals()?;
    let mut rest = first.clone();
    rest.announce = None; // one beacon per server, not per worker
    rest.services = config
        .services
        .iter()
        .zip(&addrs)
        .map(|(spec, addr)| spec.with_addr(*addr))
        .collect();
    let mut threads = Vec::new();
    for n in 1..workers {
        let cfg = rest.clone();
        let thread = std::thread::Builder::new()
            .name(format!("evserve-worker-{n}"))
            .spawn(move || -> io::Result<()> {
                let (mut reactor, _) = build(&cfg).map_err(|e| io::Error::other(e.to_string()))?;
                reactor.handle_signals()?;
                reactor.run()
            })?;
        threads.push(thread);
    }
    let result = reactor.run();
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("worker: {e}"),
            Err(_) => log::error!("worker panicked"),
        }
    }
    result
}
