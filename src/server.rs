//! Assembling a server: which service listens where, on a reactor with the given limits.
//!
//! This is the one place that knows every protocol *and* the reactor; neither knows the other.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::config::{Limits, SocketOptions};
use crate::protocol::echo::{Echo, UdpEcho};
use crate::reactor::Reactor;

/// One service bound to one address.
#[derive(Debug, Clone)]
pub enum ServiceSpec {
    /// TCP echo.
    Echo(SocketAddr),
    /// UDP echo.
    UdpEcho(SocketAddr),
}

impl ServiceSpec {
    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        match self {
            ServiceSpec::Echo(a) | ServiceSpec::UdpEcho(a) => *a,
        }
    }

    /// The command-line flag that asks for this service, for error messages.
    pub fn flag(&self) -> &'static str {
        match self {
            ServiceSpec::Echo(_) => "--echo",
            ServiceSpec::UdpEcho(_) => "--udp-echo",
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
    for spec in &config.services {
        let addr = match spec {
            ServiceSpec::Echo(a) => reactor.listen(*a, Box::new(Echo)),
            ServiceSpec::UdpEcho(a) => reactor.bind_udp(*a, Box::new(UdpEcho)),
        }
        .map_err(|e| fail(spec, e))?;
        bound.push(addr);
    }
    Ok((reactor, bound))
}
