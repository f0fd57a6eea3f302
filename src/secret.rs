//! Shared secrets read from files: the discovery key (`--beacon-key`) and the files token
//! (`--files-token`, `send --token-file`).
//!
//! A secret is given as a file, never on the command line, where `ps` and `/proc/PID/cmdline`
//! would show it to every user of the machine. The file is refused, before anything starts,
//! when it is missing, shorter than `MIN_SECRET` bytes (a guessable secret protects nothing)
//! or readable by its group or by others (any user could then sign beacons or store files):
//! the message says how to fix each. One trailing line end is not part of the secret, so a key
//! written by `openssl rand -hex 32 > FILE` or an editor reads the same on every machine.
//!
//! [`Secret`] never shows its bytes: its `Debug` form is `Secret(<N bytes>)`, so a config
//! dumped to a log at debug level does not leak it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The shortest secret accepted, in bytes.
pub(crate) const MIN_SECRET: usize = 16;

/// The longest secret file read, in bytes: a key file is small; a large one is a mistake.
pub(crate) const MAX_SECRET: u64 = 4096;

/// The bytes of a secret file. Cheap to clone (shared); its `Debug` form hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<[u8]>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

impl Secret {
    /// A secret from bytes in memory (tests, embedding); the same length rule as a file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, String> {
        let bytes = trim_line_end(bytes);
        if bytes.len() < MIN_SECRET {
            return Err(format!(
                "{} bytes is too short for a secret (at least {MIN_SECRET}); make one with: \
                 openssl rand -hex 32 > FILE",
                bytes.len()
            ));
        }
        Ok(Secret(bytes.into()))
    }

    /// Reads the secret in `path`, refusing a file others may read (see the module notes).
    pub(crate) fn load(path: &Path) -> Result<Secret, String> {
        use std::os::unix::fs::PermissionsExt as _;
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{shown}: {e}; make one (the same file on every side): \
                 (umask 077 && openssl rand -hex 32 > {shown})"
            ),
            _ => format!("{shown}: {e}"),
        })?;
        if !meta.is_file() {
            return Err(format!("{shown} is not a regular file"));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{shown} is readable by group or others (mode {mode:03o}); make it private: \
                 chmod 600 {shown}"
            ));
        }
        if meta.len() > MAX_SECRET {
            return Err(format!(
                "{shown} is {} bytes, more than a secret needs ({MAX_SECRET} at most)",
                meta.len()
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
        if trim_line_end(&bytes).is_empty() {
            return Err(format!(
                "{shown} is empty; put a secret in it: openssl rand -hex 32 > {shown}"
            ));
        }
        Secret::from_bytes(&bytes).map_err(|e| format!("{shown}: {e}"))
    }

    /// The secret's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A clap value parser: `--beacon-key FILE` and its kin load and check the file at once, so a
/// bad one stops the program before anything is bound or sent.
pub fn parse_secret_file(s: &str) -> Result<Secret, String> {
    Secret::load(Path::new(s))
}

/// `bytes` without one trailing `\n` or `\r\n`.
fn trim_line_end(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths. Give it digests
/// of the same size, and it leaks neither content nor length.
pub(crate) fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    // Fold every difference into one byte; the branch comes only at the end.
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_private_file_of_sixteen_bytes_is_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "k", b"0123456789abcdef\n", 0o600);
        let secret = Secret::load(&path).unwrap();
        assert_eq!(secret.bytes(), b"0123456789abcdef");
        assert_eq!(format!("{secret:?}"), "Secret(<16 bytes>)");
    }

    #[test]
    fn short_empty_missing_and_shared_files_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let short = write(dir.path(), "short", b"0123456789abcde\n", 0o600);
        assert!(Secret::load(&short).unwrap_err().contains("too short"));
        let empty = write(dir.path(), "empty", b"\n", 0o600);
        assert!(Secret::load(&empty).unwrap_err().contains("is empty"));
        let shared = write(dir.path(), "shared", b"0123456789abcdef", 0o640);
        let err = Secret::load(&shared).unwrap_err();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(
            !err.contains("0123456789abcdef"),
            "the key is never shown: {err}"
        );
        let err = Secret::load(&dir.path().join("missing")).unwrap_err();
        assert!(err.contains("No such file"), "{err}");
        assert!(Secret::load(dir.path()).is_err(), "a directory");
    }

    #[test]
    fn equal_digests_compare_equal_and_any_bit_differs() {
        let a = [7u8; 32];
        assert!(same(&a, &a));
        for i in 0..32 {
            let mut b = a;
            b[i] ^= 1;
            assert!(!same(&a, &b));
        }
    }
}
