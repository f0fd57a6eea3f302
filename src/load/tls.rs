//! The client side of TLS: a rustls `ClientConnection` on a non-blocking socket, for the load
//! generator's mio loop (and, blocking, for `evserve send --tls`).
//!
//! rustls is sans-IO, as on the server: it takes ciphertext in (`read_tls`), hands plaintext
//! out (`reader()`), takes plaintext in (`writer()`) and hands ciphertext out (`write_tls`).
//! [`TlsStream`] joins it to a `mio` socket behind the same `Read`/`Write` the plain
//! connection offers, so `tcp.rs` drives both with one loop:
//!
//! ```text
//!   tcp.rs write(request) ──► writer() ──► [rustls: encrypts; before the handshake ends, holds
//!                                           the plaintext and sends it once it can]
//!                                              │ write_tls, until WouldBlock
//!                                              ▼
//!                                            socket
//!   tcp.rs read(scratch)  ◄── reader() ◄── process_new_packets ◄── read_tls ◄── socket
//! ```
//!
//! Two rules keep it right on an edge-triggered poll:
//! - **Read until the socket says `WouldBlock`.** A TLS read returns the plaintext of the
//!   records decrypted so far, which is no sign the socket is drained; `tcp.rs` skips its
//!   "a short read means drained" shortcut for TLS.
//! - **Ciphertext can wait inside rustls** when the socket is full, after every request has
//!   been handed over (or a handshake message is owed after a read): [`TlsStream::wants_write`]
//!   keeps WRITABLE interest until it has left. rustls bounds what it holds (64 KiB by
//!   default), and `write` answers `WouldBlock` when it is full, so a client never buffers
//!   without limit.
//!
//! **Trust.** No system roots are loaded: `--cacert FILE` names the certificates to trust (the
//! server's self-signed `cert.pem`, or a private CA), or `--insecure` accepts any certificate
//! (the handshake's signatures are still checked, so the peer holds the key of the
//! certificate it sent; who that is, nobody checked). This is a load generator pointed at
//! servers its user runs; it needs no public CA list, and it carries no dependency for one.
//!
//! **Resumption** is on by default: every connection of a run shares one `ClientConfig`, so
//! one session cache (rustls keeps up to 8 TLS 1.3 tickets per server, each used once, and
//! the server sends 2 after each handshake). With `--new-connection-per-request` the first
//! handshake is full and the rest resume; `--no-tls-resume` makes every one full.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind,
    RootCertStore, SignatureScheme,
};

/// Which server certificates to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Only those issued by (or equal to) the certificates in this PEM file.
    CaFile(PathBuf),
    /// Any certificate at all (`--insecure`).
    Insecure,
    /// None given: no certificate can be verified, so every handshake fails with
    /// `UnknownIssuer` (there are no built-in roots).
    Nothing,
}

/// How to set up TLS for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Which certificates to accept.
    pub trust: Trust,
    /// The name to ask for (SNI) and to verify the certificate against: a DNS name or an IP
    /// address, usually the host of the URL or of HOST:PORT.
    pub server_name: String,
    /// ALPN protocols to offer (`http/1.1` for HTTPS; none for echo).
    pub alpn: Vec<Vec<u8>>,
    /// Resume sessions (tickets, or TLS 1.2 session IDs) across connections.
    pub resume: bool,
}

/// A ready TLS client setup: one rustls configuration (and so one session cache) shared by
/// every connection of a run, and the server name they all use.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsClient {
    /// Builds the client; the message names the flag at fault (`--cacert`).
    pub fn new(options: &TlsOptions) -> Result<TlsClient, String> {
        let name = ServerName::try_from(options.server_name.clone()).map_err(|_| {
            format!(
                "'{}' is not a host name or IP address TLS can verify",
                options.server_name
            )
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS setup: {e}"))?;
        let mut config = match &options.trust {
            Trust::CaFile(path) => {
                let roots = load_roots(path)?;
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| format!("--cacert {}: {e}", path.display()))?;
                builder.with_webpki_verifier(verifier).with_no_client_auth()
            }
            Trust::Nothing => builder
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth(),
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth(),
        };
        config.alpn_protocols = options.alpn.clone();
        if !options.resume {
            config.resumption = Resumption::disabled();
        }
        Ok(TlsClient {
            config: Arc::new(config),
            name,
        })
    }

    /// A new client connection to the configured server: nothing is sent until it is driven.
    pub fn connection(&self) -> Result<ClientConnection, rustls::Error> {
        ClientConnection::new(Arc::clone(&self.config), self.name.clone())
    }
}

/// The certificates of a PEM file, as trust anchors.
fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("--cacert {shown}: {}", pem_reason(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--cacert {shown}: {}", pem_reason(e)))?;
    if certs.is_empty() {
        return Err(format!(
            "--cacert {shown} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)"
        ));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("--cacert {shown}: not a usable certificate: {e}"))?;
    }
    Ok(roots)
}

/// A PEM reading error as a person reads it: the OS reason for a file that cannot be opened.
fn pem_reason(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("not a PEM file ({other:?})"),
    }
}

/// `--insecure`: any certificate is accepted, but the handshake's signatures are still
/// checked with the provider's algorithms, as `curl -k` does.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The host part of `HOST:PORT` (`[::1]:443` gives `::1`), as the name TLS verifies.
pub fn host_of(hostport: &str) -> &str {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => hostport,
    }
}

/// What went wrong in TLS, by kind: the key of the report's failure tally, so it is small,
/// `Copy` and ordered. The full rustls message is the tally's example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsProblem {
    /// The server's certificate was refused, for this reason (`UnknownIssuer`,
    /// `NotValidForName`, `Expired`…).
    Certificate(&'static str),
    /// The server sent this alert (`HandshakeFailure`, `ProtocolVersion`…).
    Alert(&'static str),
    /// Another rustls error, by name (`InvalidMessage`, `PeerIncompatible`…).
    Protocol(&'static str),
    /// The server closed the connection (or reset it) before the handshake completed.
    Closed,
    /// No answer to the handshake within the request timeout (counted as timeouts).
    TimedOut,
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsProblem::Certificate(why) => f.write_str(why),
            TlsProblem::Alert(alert) => write!(f, "alert {alert} from the server"),
            TlsProblem::Protocol(what) => f.write_str(what),
            TlsProblem::Closed => f.write_str("closed by the server"),
            TlsProblem::TimedOut => f.write_str("timed out"),
        }
    }
}

impl TlsProblem {
    /// The kind of a rustls error.
    pub fn of(e: &rustls::Error) -> TlsProblem {
        use rustls::Error as E;
        match e {
            E::InvalidCertificate(c) => TlsProblem::Certificate(certificate_reason(c)),
            E::AlertReceived(alert) => TlsProblem::Alert(alert.as_str().unwrap_or("unknown")),
            E::InappropriateMessage { .. } => TlsProblem::Protocol("InappropriateMessage"),
            E::InappropriateHandshakeMessage { .. } => {
                TlsProblem::Protocol("InappropriateHandshakeMessage")
            }
            E::InvalidMessage(_) => TlsProblem::Protocol("InvalidMessage"),
            E::NoCertificatesPresented => TlsProblem::Protocol("NoCertificatesPresented"),
            E::DecryptError => TlsProblem::Protocol("DecryptError"),
            E::PeerIncompatible(_) => TlsProblem::Protocol("PeerIncompatible"),
            E::PeerMisbehaved(_) => TlsProblem::Protocol("PeerMisbehaved"),
            E::PeerSentOversizedRecord => TlsProblem::Protocol("PeerSentOversizedRecord"),
            E::NoApplicationProtocol => TlsProblem::Protocol("NoApplicationProtocol"),
            _ => TlsProblem::Protocol("other TLS error"),
        }
    }

    /// The rustls error inside an IO error from a [`TlsStream`], if it is one.
    pub fn of_io(e: &io::Error) -> Option<(TlsProblem, String)> {
        let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
        Some((TlsProblem::of(inner), describe(inner)))
    }
}

/// The name of a certificate error, as rustls spells it, without the details some variants
/// carry (times, names), which would make every failure a kind of its own.
fn certificate_reason(e: &CertificateError) -> &'static str {
    use CertificateError as C;
    match e {
        C::UnknownIssuer => "UnknownIssuer",
        C::BadEncoding => "BadEncoding",
        C::Expired | C::ExpiredContext { .. } => "Expired",
        C::NotValidYet | C::NotValidYetContext { .. } => "NotValidYet",
        C::Revoked => "Revoked",
        C::NotValidForName | C::NotValidForNameContext { .. } => "NotValidForName",
        C::BadSignature => "BadSignature",
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => "InvalidPurpose",
        C::UnhandledCriticalExtension => "UnhandledCriticalExtension",
        C::ApplicationVerificationFailure => "ApplicationVerificationFailure",
        _ => "InvalidCertificate",
    }
}

/// rustls's message, with what to do next where there is something to do.
pub fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "{e}; give the server's certificate (or its CA's) with --cacert FILE, or --insecure \
             to skip the check"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "{e}; connect by a name the certificate holds (evserve's self-signed one: \
             localhost, 127.0.0.1, ::1)"
        ),
        rustls::Error::InappropriateHandshakeMessage {
            got_type: rustls::HandshakeType::ClientHello,
            ..
        } => format!("{e}; the server sent our ClientHello back: that port echoes, not TLS"),
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => {
            format!("{e}; does that port speak TLS?")
        }
        _ => e.to_string(),
    }
}

/// Where a TLS connection is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The handshake is under way; requests written meanwhile wait inside rustls.
    Handshaking,
    /// The handshake completed; its kind not yet taken by [`TlsStream::handshake_done`].
    Completed(HandshakeKind),
    /// Application data flows.
    Established,
}

/// A rustls client connection on a non-blocking TCP socket.
pub struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
    phase: Phase,
    /// The socket reported the server's EOF.
    tcp_eof: bool,
}

impl TlsStream {
    /// Starts a TLS client on a connected socket: the ClientHello waits in rustls until the
    /// first [`flush_tls`](TlsStream::flush_tls).
    pub fn new(tcp: TcpStream, tls: ClientConnection) -> TlsStream {
        TlsStream {
            tcp,
            tls,
            phase: Phase::Handshaking,
            tcp_eof: false,
        }
    }

    /// The socket, to register with a poll.
    pub fn tcp(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// The handshake has not completed yet.
    pub fn handshaking(&self) -> bool {
        self.phase == Phase::Handshaking
    }

    /// Once, after the handshake completes: whether it resumed a session, and the version and
    /// cipher suite agreed on.
    pub fn handshake_done(&mut self) -> Option<(bool, String)> {
        let Phase::Completed(kind) = self.phase else {
            return None;
        };
        self.phase = Phase::Established;
        let version = self
            .tls
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("TLS");
        let suite = self
            .tls
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("unknown suite");
        Some((kind == HandshakeKind::Resumed, format!("{version} {suite}")))
    }

    /// Ciphertext waits in rustls for the socket (WRITABLE interest is needed).
    pub fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// Writes the ciphertext rustls holds until it is all gone or the socket is full.
    pub fn flush_tls(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Says goodbye (`close_notify`) as far as the socket takes it now, without waiting.
    pub fn close(&mut self) {
        if !self.handshaking() {
            self.tls.send_close_notify();
            let _ = self.flush_tls();
        }
    }

    /// Feeds what the socket holds to rustls: false once the socket is drained.
    fn receive(&mut self) -> io::Result<bool> {
        loop {
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => self.tcp_eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                // rustls has queued the alert that tells the server why; send it if we can.
                let _ = self.flush_tls();
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
            if self.phase == Phase::Handshaking && !self.tls.is_handshaking() {
                self.phase =
                    Phase::Completed(self.tls.handshake_kind().unwrap_or(HandshakeKind::Full));
            }
            return Ok(true);
        }
    }
}

impl Read for TlsStream {
    /// Plaintext from the records received so far, reading the socket as needed. `Ok(0)` is
    /// the end of the stream (the server's `close_notify`, or its TCP EOF); `WouldBlock` comes
    /// only from the socket, so a caller reading until it sees one has drained the socket.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The TCP EOF came without close_notify: an end all the same (a body delimited
                // by the close is complete; a request unanswered fails as on plain TCP).
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.tcp_eof {
                return Ok(0);
            }
            if !self.receive()? {
                return Err(ErrorKind::WouldBlock.into());
            }
        }
    }
}

impl Write for TlsStream {
    /// Hands plaintext to rustls (which holds it until the handshake is done) and writes what
    /// ciphertext the socket takes. `WouldBlock` when rustls holds as much as it may.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush_tls()?;
        let n = self.tls.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.flush_tls()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_host_ports() {
        assert_eq!(host_of("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(host_of("localhost:1"), "localhost");
        assert_eq!(host_of("[::1]:8443"), "::1");
        assert_eq!(host_of("example.test"), "example.test");
        assert_eq!(host_of("::1"), "::1");
    }

    #[test]
    fn problems_have_short_stable_names() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            TlsProblem::of(&unknown),
            TlsProblem::Certificate("UnknownIssuer")
        );
        assert!(describe(&unknown).contains("--cacert"));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(
            TlsProblem::of(&alert).to_string(),
            "alert HandshakeFailure from the server"
        );
        let io = io::Error::new(ErrorKind::InvalidData, unknown);
        assert_eq!(
            TlsProblem::of_io(&io).map(|(p, _)| p),
            Some(TlsProblem::Certificate("UnknownIssuer"))
        );
        assert_eq!(TlsProblem::of_io(&io::Error::other("x")), None);
    }

    #[test]
    fn options_are_checked_and_name_the_flag() {
        let options = |trust| TlsOptions {
            trust,
            server_name: "localhost".into(),
            alpn: Vec::new(),
            resume: true,
        };
        assert!(TlsClient::new(&options(Trust::Insecure)).is_ok());
        assert!(TlsClient::new(&options(Trust::Nothing)).is_ok());
        let missing = TlsClient::new(&options(Trust::CaFile("/nonexistent/ca.pem".into())));
        assert!(
            missing
                .unwrap_err()
                .starts_with("--cacert /nonexistent/ca.pem: ")
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let err = TlsClient::new(&options(Trust::CaFile(empty))).unwrap_err();
        assert!(err.contains("holds no certificate"), "{err}");
        let bad_name = TlsOptions {
            server_name: "a b".into(),
            ..options(Trust::Insecure)
        };
        assert!(TlsClient::new(&bad_name).is_err());
    }
}
