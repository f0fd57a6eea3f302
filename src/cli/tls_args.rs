//! `evserve serve`'s TLS flags, flattened into its arguments.
//!
//! Each TCP service has a TLS twin flag (`--https` for `--http`, `--tls-echo` for `--echo`…):
//! a flag per service reads as the plain ones do and keeps `--help` greppable, where a
//! `tls://` prefix on every address flag would hide TLS inside the address syntax.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::values::parse_duration;
use evserve::protocol::files::FilesConfig;
use evserve::protocol::framed::FramedConfig;
use evserve::protocol::http::HttpConfig;
use evserve::protocol::tls::{CertFiles, TlsSetup};
use evserve::server::ServiceSpec;

/// TLS listeners and their certificates.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// Serve HTTP over TLS (HTTPS) on ADDR. Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub https: Vec<SocketAddr>,
    /// Serve echo over TLS on ADDR. Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub tls_echo: Vec<SocketAddr>,
    /// Serve framed echo over TLS on ADDR. Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub tls_framed: Vec<SocketAddr>,
    /// Serve the chat room over TLS on ADDR: the same room as --chat and /ws/chat. Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub tls_chat: Vec<SocketAddr>,
    /// Receive files over TLS on ADDR, stored in --files-dir. Repeatable.
    #[arg(long, value_name = "ADDR", requires = "files_dir")]
    pub tls_files: Vec<SocketAddr>,
    /// Certificate chain (PEM, leaf first). Repeatable with --tls-key: the certificate valid
    /// for the name a client asks for (SNI) is chosen, else the first. Default: a self-signed
    /// certificate for localhost, 127.0.0.1 and ::1, made at start. Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Vec<PathBuf>,
    /// Private key (PEM: PKCS#8, RSA or EC) of the --tls-cert at the same position.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Vec<PathBuf>,
    /// Write the self-signed certificate to DIR/cert.pem, for `curl --cacert DIR/cert.pem`.
    #[arg(long, value_name = "DIR", conflicts_with = "tls_cert")]
    pub tls_self_signed_out: Option<PathBuf>,
    /// Close a connection whose TLS handshake has not completed after this long, or whose
    /// next record has been arriving for longer.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub tls_handshake_timeout: Duration,
}

impl TlsArgs {
    /// The TLS listeners asked for, each the plain service (configured as its plain twin
    /// would be) wrapped in TLS. Certificate flags that do not pair up are reported when the
    /// certificates are loaded, before anything listens.
    pub fn services(
        &self,
        http: &HttpConfig,
        framed: FramedConfig,
        max_line: usize,
        files: Option<&FilesConfig>,
    ) -> Vec<ServiceSpec> {
        let mut plain = Vec::new();
        plain.extend(
            self.https
                .iter()
                .map(|a| ServiceSpec::Http(*a, Box::new(http.clone()))),
        );
        plain.extend(self.tls_echo.iter().map(|a| ServiceSpec::Echo(*a)));
        plain.extend(
            self.tls_framed
                .iter()
                .map(|a| ServiceSpec::Framed(*a, framed)),
        );
        plain.extend(
            self.tls_chat
                .iter()
                .map(|a| ServiceSpec::Chat(*a, max_line)),
        );
        if let Some(files) = files {
            plain.extend(
                self.tls_files
                    .iter()
                    .map(|a| ServiceSpec::Files(*a, files.clone())),
            );
        }
        if plain.is_empty() {
            return plain;
        }
        let mut setup = TlsSetup::new(
            self.tls_cert
                .iter()
                .zip(&self.tls_key)
                .map(|(cert, key)| CertFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                })
                .collect(),
        );
        setup.self_signed_out = self.tls_self_signed_out.clone();
        setup.handshake_timeout = self.tls_handshake_timeout;
        setup.http2 = http.http2.enabled;
        if self.tls_cert.len() != self.tls_key.len() {
            setup.problem = Some(format!(
                "{} --tls-cert but {} --tls-key: give one key for each certificate, in the same order",
                self.tls_cert.len(),
                self.tls_key.len()
            ));
        }
        plain
            .into_iter()
            .map(|spec| ServiceSpec::Tls(Box::new(spec), setup.clone()))
            .collect()
    }
}
