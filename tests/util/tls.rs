//! TLS for end-to-end tests: a server with its self-signed certificate written out, a rustls
//! client trusting it, certificate files for given names, and external tools required loudly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::Server;

/// Read and write timeout of every test socket.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS server and the directory holding its certificate as `cert.pem`.
pub struct TlsServer {
    /// The server.
    pub server: Server,
    /// Holds `cert.pem` (self-signed) or the PEM files a test wrote.
    pub dir: tempfile::TempDir,
}

impl TlsServer {
    /// Starts `evserve serve ARGS… --tls-self-signed-out DIR`, waiting for `listeners`.
    pub fn self_signed(args: &[&str], listeners: usize) -> TlsServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().to_str().expect("utf-8 temp path").to_string();
        let mut all = args.to_vec();
        all.extend_from_slice(&["--tls-self-signed-out", &out]);
        let server = Server::start(&all, listeners);
        TlsServer { server, dir }
    }

    /// The self-signed certificate's path.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The address of the TLS service `name` (`https`, `tls-echo`, …).
    pub fn tcp(&self, name: &str) -> SocketAddr {
        self.server.tcp(name)
    }
}

/// A rustls client configuration trusting only the certificates in `pem`.
pub fn client_config(pem: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pem).expect("read cert") {
        roots.add(cert.expect("pem cert")).expect("add root");
    }
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A TLS stream, handshake not yet done (it happens on the first read or write).
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `addr` as `name` (SNI and verified name) with `config`.
pub fn connect(addr: SocketAddr, config: &Arc<ClientConfig>, name: &str) -> TlsStream {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(TIMEOUT)).unwrap();
    let name = ServerName::try_from(name.to_string()).expect("server name");
    let conn = ClientConnection::new(Arc::clone(config), name).expect("client connection");
    StreamOwned::new(conn, tcp)
}

/// Connects and completes the handshake.
pub fn handshake(addr: SocketAddr, config: &Arc<ClientConfig>, name: &str) -> TlsStream {
    let mut s = connect(addr, config, name);
    while s.conn.is_handshaking() {
        s.conn
            .complete_io(&mut s.sock)
            .expect("TLS handshake with evserve");
    }
    s
}

/// Writes a self-signed certificate for `names` and its key as DIR/STEM.pem and DIR/STEM.key.
pub fn write_cert(dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names).expect("rcgen");
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// Fails the test with an install hint when `tool` is not on the PATH.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} is not installed; these tests need it (apt-get install -y {package})"
    );
}

/// Runs `program ARGS` with `stdin` as its input, bounded by `timeout` seconds.
pub fn run(program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new("timeout")
        .arg("20")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Reads until EOF or error, bounded by the socket timeout; returns what was read.
pub fn read_to_close(stream: &mut impl Read) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}
