//! Certificates: PEM files given on the command line, or a self-signed one made at start; the
//! choice among several by the name the client asks for (SNI); reload in place.
//!
//! ```text
//!  --tls-cert a.pem --tls-key a.key ─┐                          ClientHello (SNI "b.test")
//!  --tls-cert b.pem --tls-key b.key ─┼─► CertStore [a, b] ◄── SniResolver::resolve ──► b
//!  (none given) ── rcgen ────────────┘   (first = default)     (no SNI, no match ──► a)
//! ```
//!
//! The store sits behind a lock the resolver reads once per handshake; a reload swaps in a new
//! store, so connections already open keep their keys and new handshakes get the new ones.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::client::verify_server_name;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

/// The names the embedded self-signed certificate is valid for.
pub(crate) const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// One certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

/// Why certificates could not be loaded.
#[derive(Debug)]
pub(crate) enum CertError {
    /// The certificate flags do not make sense together.
    Flags(String),
    /// A file could not be read or holds no usable PEM item.
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The key does not fit the certificate, or the provider cannot use it.
    Key {
        /// The certificate file.
        cert: PathBuf,
        /// What rustls said.
        reason: rustls::Error,
    },
    /// The self-signed certificate could not be generated.
    Generate(String),
    /// `--tls-self-signed-out` could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// The OS reason.
        reason: std::io::Error,
    },
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Flags(problem) => f.write_str(problem),
            CertError::File { path, reason } => {
                write!(f, "cannot load {}: {reason}", path.display())
            }
            CertError::Key { cert, reason } => write!(
                f,
                "the key given for {} cannot be used with it: {reason} (check the --tls-cert/--tls-key pairs)",
                cert.display()
            ),
            CertError::Generate(reason) => {
                write!(f, "cannot generate the self-signed certificate: {reason}")
            }
            CertError::Write { path, reason } => {
                write!(f, "cannot write {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for CertError {}

/// The certificates a listener may present; the first is the default.
#[derive(Debug)]
pub(crate) struct CertStore {
    keys: Vec<Arc<CertifiedKey>>,
}

impl CertStore {
    /// Loads every pair in order.
    pub(crate) fn load(
        pairs: &[CertFiles],
        provider: &CryptoProvider,
    ) -> Result<CertStore, CertError> {
        let keys = pairs
            .iter()
            .map(|pair| load_pair(pair, provider).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CertStore { keys })
    }

    /// A store of these certificates, the first the default.
    pub(crate) fn new(keys: Vec<CertifiedKey>) -> CertStore {
        CertStore {
            keys: keys.into_iter().map(Arc::new).collect(),
        }
    }

    /// The certificate for the name the client asked for: the first valid for it, else the
    /// first of all.
    pub(crate) fn select(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = sni.and_then(|n| ServerName::try_from(n).ok())
            && self.keys.len() > 1
        {
            for key in &self.keys {
                let valid = key
                    .end_entity_cert()
                    .ok()
                    .and_then(|der| ParsedCertificate::try_from(der).ok())
                    .is_some_and(|parsed| verify_server_name(&parsed, &name).is_ok());
                if valid {
                    return Some(Arc::clone(key));
                }
            }
        }
        self.keys.first().cloned()
    }

    /// The SHA-256 fingerprints of the leaf certificates, as `openssl x509 -fingerprint
    /// -sha256` prints them.
    pub(crate) fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter_map(|k| k.end_entity_cert().ok())
            .map(|der| fingerprint(der))
            .collect()
    }
}

/// `AB:CD:…`, the SHA-256 of a DER certificate.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut s = String::with_capacity(digest.len() * 3);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

fn load_pair(pair: &CertFiles, provider: &CryptoProvider) -> Result<CertifiedKey, CertError> {
    let file_error = |path: &Path, reason: String| CertError::File {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(&pair.cert)
        .map_err(|e| file_error(&pair.cert, pem_reason(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(&pair.cert, pem_reason(e)))?;
    if chain.is_empty() {
        return Err(file_error(
            &pair.cert,
            "no CERTIFICATE in it (is it a PEM certificate?)".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&pair.key).map_err(|e| {
        let reason = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY in it (PEM: PKCS#8, RSA or EC)".to_string()
            }
            other => pem_reason(other),
        };
        file_error(&pair.key, reason)
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|reason| CertError::Key {
        cert: pair.cert.clone(),
        reason,
    })
}

fn pem_reason(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no PEM item of the expected kind in it".to_string()
        }
        other => format!("not valid PEM ({other:?})"),
    }
}

/// How long a self-signed certificate is valid: 397 days, the most browsers and the CA/B
/// Forum accept for a server certificate (testssl.sh flags more as HIGH). It is made anew at
/// every start, so a server running longer than that restarts to renew it.
pub(crate) const SELF_SIGNED_VALIDITY: std::time::Duration =
    std::time::Duration::from_secs(397 * 86_400);

/// A freshly generated self-signed certificate (ECDSA P-256) for [`SELF_SIGNED_NAMES`], valid
/// from a day ago (clocks differ) for [`SELF_SIGNED_VALIDITY`], with its PEM text for
/// `--tls-self-signed-out`.
pub(crate) fn self_signed(provider: &CryptoProvider) -> Result<(CertifiedKey, String), CertError> {
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| s.to_string()).collect();
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| CertError::Generate(e.to_string()))?;
    // rcgen names dates through `time`, which it does not re-export: count from a date it can
    // build (1975-01-01, 157,766,400 s after the Unix epoch).
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let day = std::time::Duration::from_secs(86_400);
    let since_1975 = since_epoch.saturating_sub(std::time::Duration::from_secs(157_766_400));
    params.not_before = rcgen::date_time_ymd(1975, 1, 1) + since_1975.saturating_sub(day);
    params.not_after = params.not_before + SELF_SIGNED_VALIDITY;
    let signing_key = rcgen::KeyPair::generate().map_err(|e| CertError::Generate(e.to_string()))?;
    let cert = params
        .self_signed(&signing_key)
        .map_err(|e| CertError::Generate(e.to_string()))?;
    let made = rcgen::CertifiedKey { cert, signing_key };
    let pem = made.cert.pem();
    let chain = vec![made.cert.der().clone()];
    let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
        .map_err(|e| CertError::Generate(e.to_string()))?;
    let key = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| CertError::Generate(e.to_string()))?;
    Ok((key, pem))
}

/// Writes the self-signed certificate's PEM to `dir/cert.pem` (`--tls-self-signed-out`), never
/// through a symlink: `dir` is opened `O_NOFOLLOW`, the text goes to a new temporary file
/// (`O_EXCL | O_NOFOLLOW`) that is then renamed over `cert.pem`, and a `cert.pem` that is a
/// symlink is refused. Whoever could plant a link there (a shared `/tmp`) cannot make the
/// server write elsewhere. The certificate is public: mode 0644. Returns the path written.
pub(crate) fn write_self_signed(dir: &Path, pem: &str) -> Result<PathBuf, CertError> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags, openat, renameat, statat, unlinkat};
    use rustix::io::Errno;
    use std::io::Write as _;

    let path = dir.join("cert.pem");
    let failed = |reason: std::io::Error| CertError::Write {
        path: path.clone(),
        reason,
    };
    let symlink = |what: &Path| CertError::Write {
        path: what.to_path_buf(),
        reason: std::io::Error::other(
            "it is a symlink, and the certificate is never written through one; \
             remove it or give another --tls-self-signed-out directory",
        ),
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let dir_fd = match rustix::fs::open(dir, dir_flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) | Err(Errno::NOTDIR) if is_symlink(dir) => return Err(symlink(dir)),
        Err(e) => return Err(failed(e.into())),
    };
    match statat(&dir_fd, "cert.pem", AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            return Err(symlink(&path));
        }
        Ok(_) | Err(Errno::NOENT) => {}
        Err(e) => return Err(failed(e.into())),
    }
    let temp = format!(".cert.pem.{}.tmp", std::process::id());
    let _ = unlinkat(&dir_fd, &*temp, AtFlags::empty());
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd =
        openat(&dir_fd, &*temp, flags, Mode::from_raw_mode(0o644)).map_err(|e| failed(e.into()))?;
    let mut file = std::fs::File::from(fd);
    let written = file
        .write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| renameat(&dir_fd, &*temp, &dir_fd, "cert.pem").map_err(Into::into));
    if let Err(e) = written {
        let _ = unlinkat(&dir_fd, &*temp, AtFlags::empty());
        return Err(failed(e));
    }
    Ok(path)
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Picks a certificate per handshake from a store that can be swapped while serving.
#[derive(Debug)]
pub(crate) struct SniResolver {
    store: RwLock<Arc<CertStore>>,
}

impl SniResolver {
    /// Serves `store`.
    pub(crate) fn new(store: CertStore) -> SniResolver {
        SniResolver {
            store: RwLock::new(Arc::new(store)),
        }
    }

    /// Replaces the store: handshakes from now on use the new certificates.
    pub(crate) fn replace(&self, store: CertStore) {
        *self.store.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(store);
    }

    /// The store in use.
    pub(crate) fn current(&self) -> Arc<CertStore> {
        Arc::clone(&self.store.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current().select(hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> CryptoProvider {
        rustls::crypto::aws_lc_rs::default_provider()
    }

    #[test]
    fn the_self_signed_certificate_is_valid_for_the_loopback_names() {
        let (key, pem) = self_signed(&provider()).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let der = key.end_entity_cert().unwrap();
        let parsed = ParsedCertificate::try_from(der).unwrap();
        for name in SELF_SIGNED_NAMES {
            let name = ServerName::try_from(name).unwrap();
            assert!(verify_server_name(&parsed, &name).is_ok(), "{name:?}");
        }
        let other = ServerName::try_from("example.com").unwrap();
        assert!(verify_server_name(&parsed, &other).is_err());
    }

    #[test]
    fn fingerprints_are_colon_separated_upper_hex() {
        let f = fingerprint(b"");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("E3:B0:C4:42"), "{f}");
    }

    #[test]
    fn the_self_signed_certificate_is_never_written_through_a_symlink() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let base = tempfile::tempdir().unwrap();
        let elsewhere = base.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("victim"), "keep").unwrap();

        // A planted directory link.
        let linked_dir = base.path().join("out-link");
        symlink(&elsewhere, &linked_dir).unwrap();
        let e = write_self_signed(&linked_dir, "PEM").unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");

        // A planted file link.
        let dir = base.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        symlink(elsewhere.join("victim"), dir.join("cert.pem")).unwrap();
        let e = write_self_signed(&dir, "PEM").unwrap_err();
        assert!(
            e.to_string().contains("cert.pem") && e.to_string().contains("symlink"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(elsewhere.join("victim")).unwrap(),
            "keep"
        );
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 1);

        // A fresh directory, and one written again.
        let fresh = base.path().join("fresh/sub");
        for _ in 0..2 {
            let path = write_self_signed(&fresh, "PEM").unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "PEM");
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o022, 0, "{mode:o}");
        }
        assert_eq!(
            std::fs::read_dir(&fresh).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn missing_and_wrong_files_say_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let pair = CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        let e = CertStore::load(std::slice::from_ref(&pair), &provider()).unwrap_err();
        assert!(e.to_string().contains("cert.pem"), "{e}");
        std::fs::write(&cert, "not pem").unwrap();
        let e = CertStore::load(std::slice::from_ref(&pair), &provider()).unwrap_err();
        assert!(e.to_string().contains("no CERTIFICATE"), "{e}");
        let (_, pem) = self_signed(&provider()).unwrap();
        std::fs::write(&cert, pem).unwrap();
        let e = CertStore::load(std::slice::from_ref(&pair), &provider()).unwrap_err();
        assert!(e.to_string().contains("key.pem"), "{e}");
    }
}
