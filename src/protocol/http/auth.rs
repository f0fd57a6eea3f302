//! HTTP Basic credentials: who may write (`PUT`, `DELETE`) and see other clients
//! (`/connections`), where the credentials come from, and what a wrong guess costs.
//!
//! **Sources.** [`Users`] is built once, at start, from one of: `--auth-file FILE`, an
//! htpasswd file of `user:hash` lines with bcrypt hashes (`htpasswd -B`: `$2y$`, `$2b$`,
//! `$2a$`); the environment variable `EVSERVE_AUTH=user:password`; or `--auth user:password`,
//! which still works but is visible to every local user in `ps` and `/proc/PID/cmdline`, so the
//! CLI warns. An empty password (in the file: a hash that `""` verifies against) is refused at
//! start.
//!
//! **Comparing.** A plain password is never compared as it is: both sides are hashed with
//! SHA-256 first and the two 32-byte digests compared without an early exit, so neither the
//! content nor the length of the secret shows in the time taken. A bcrypt hash is verified by
//! the `bcrypt` crate (constant-time itself). An unknown user is verified against another
//! user's hash, so a wrong name costs what a wrong password costs.
//!
//! **Keeping the loop fair.** bcrypt is slow on purpose (cost 10 is tens of milliseconds) and
//! it runs on the event loop, so it is fenced three ways (`Gate`, one per worker):
//! 1. A credential that verified is remembered, keyed by the SHA-256 of what the client sent,
//!    for `VERIFIED_FOR` (`MAX_VERIFIED` entries at most): a valid client pays once.
//! 2. Each address may fail `--auth-max-failures` times per `FAILURE_WINDOW`; past that it
//!    gets 429 with `Retry-After`, without any verification, until the window ends. The table
//!    of addresses holds at most `MAX_TRACKED`; past that, new addresses share one slot.
//! 3. At most `SLOW_CHECKS_PER_SECOND` hash verifications run per second per worker,
//!    whoever asks; past that, 429 with `Retry-After: 1`. This bounds the loop's time spent
//!    hashing (a few hundred milliseconds a second at cost 10, at worst) however many
//!    addresses an attacker has.
//!
//! Failures are logged with the peer's address, at most twice per address per window (the
//! first failure, and the moment it is slowed down).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// How long a verified credential is trusted without hashing again.
pub(crate) const VERIFIED_FOR: Duration = Duration::from_secs(600);
/// The most verified credentials remembered per worker.
pub(crate) const MAX_VERIFIED: usize = 256;
/// The window over which an address's failures are counted.
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Failures an address may have per window before it gets 429 (`--auth-max-failures`).
pub const DEFAULT_MAX_FAILURES: u32 = 10;
/// The most addresses whose failures are counted one by one.
pub(crate) const MAX_TRACKED: usize = 1024;
/// Hash verifications (bcrypt) allowed per second per worker, cached ones not counted.
pub(crate) const SLOW_CHECKS_PER_SECOND: u32 = 4;
/// The largest `--auth-file` read.
pub(crate) const MAX_FILE: u64 = 1 << 20;

/// A user's secret as kept in memory.
#[derive(Clone, PartialEq, Eq)]
enum Secret {
    /// SHA-256 of the password (from `--auth` or `EVSERVE_AUTH`).
    Plain([u8; 32]),
    /// A bcrypt hash (from `--auth-file`).
    Bcrypt(String),
}

/// The users who may authenticate, and their secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Users {
    users: Vec<(String, Secret)>,
}

impl fmt::Debug for Users {
    /// Names only: secrets never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.users.iter().map(|(user, _)| user))
            .finish()
    }
}

/// Whether a check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The credentials are right (or none are required).
    Allowed,
    /// No credentials, or wrong ones: 401.
    Denied,
    /// Too many failures lately, or too many hash checks this second: 429, try again after
    /// this many seconds.
    Throttled(u64),
}

impl Users {
    /// One user with a plain password (`--auth`, `EVSERVE_AUTH`). Refuses an empty name or
    /// password.
    pub fn plain(user: &str, password: &str) -> Result<Users, String> {
        if user.is_empty() || password.is_empty() {
            return Err("an empty user name or password would let anyone in".into());
        }
        let secret = Secret::Plain(Sha256::digest(password.as_bytes()).into());
        Ok(Users {
            users: vec![(user.to_string(), secret)],
        })
    }

    /// `user:password`, as `EVSERVE_AUTH` holds it.
    pub fn from_pair(pair: &str) -> Result<Users, String> {
        match pair.split_once(':') {
            Some((user, password)) => Users::plain(user, password),
            None => Err("expected USER:PASSWORD".into()),
        }
    }

    /// Reads an htpasswd file (`htpasswd -B`), at most `MAX_FILE` bytes.
    pub fn load(path: &Path) -> Result<Users, String> {
        let text = match std::fs::metadata(path) {
            Ok(meta) if meta.len() > MAX_FILE => {
                return Err(format!("larger than {MAX_FILE} bytes"));
            }
            Ok(_) => std::fs::read_to_string(path).map_err(|e| e.to_string())?,
            Err(e) => return Err(e.to_string()),
        };
        Users::from_htpasswd(&text)
    }

    /// Parses htpasswd text: `user:hash` lines, blank lines and `#` comments ignored. Every
    /// hash must be bcrypt, and none may verify the empty password.
    pub(crate) fn from_htpasswd(text: &str) -> Result<Users, String> {
        let mut users = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("line {}", n + 1);
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("{}: expected user:hash", at()));
            };
            if user.is_empty() {
                return Err(format!("{}: empty user name", at()));
            }
            if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
                return Err(format!(
                    "{}: user {user}: not a bcrypt hash (MD5, SHA-1, crypt and plain text are \
                     refused); make one with `htpasswd -B FILE {user}`",
                    at()
                ));
            }
            match bcrypt::verify("", hash) {
                Ok(false) => {}
                Ok(true) => {
                    return Err(format!(
                        "{}: user {user} has an empty password, which would let anyone in",
                        at()
                    ));
                }
                Err(e) => return Err(format!("{}: user {user}: {e}", at())),
            }
            users.push((user.to_string(), Secret::Bcrypt(hash.to_string())));
        }
        if users.is_empty() {
            return Err("no user in it".into());
        }
        Ok(Users { users })
    }

    /// Nobody: what a configuration whose file could not be read falls back to.
    pub fn nobody() -> Users {
        Users { users: Vec::new() }
    }

    /// Whether checking `user`'s password is slow (a hash).
    fn slow(&self, user: &[u8]) -> bool {
        // An unknown user is checked against a hash too (see `verify`).
        !matches!(self.find(user), Some(Secret::Plain(_)))
            && self
                .users
                .iter()
                .any(|(_, s)| matches!(s, Secret::Bcrypt(_)))
    }

    fn find(&self, user: &[u8]) -> Option<&Secret> {
        self.users
            .iter()
            .find(|(name, _)| name.as_bytes() == user)
            .map(|(_, secret)| secret)
    }

    /// Whether `password` is `user`'s. Slow for a bcrypt hash.
    fn verify(&self, user: &[u8], password: &[u8]) -> bool {
        match self.find(user) {
            Some(Secret::Plain(digest)) => {
                let given: [u8; 32] = Sha256::digest(password).into();
                constant_time_eq(&given, digest)
            }
            Some(Secret::Bcrypt(hash)) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                // As long as a known user's wrong password takes, so names cannot be probed.
                if let Some((_, Secret::Bcrypt(hash))) = self
                    .users
                    .iter()
                    .find(|(_, s)| matches!(s, Secret::Bcrypt(_)))
                {
                    let _ = bcrypt::verify(password, hash);
                }
                false
            }
        }
    }
}

/// Compares two digests without an early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An address's recent failures.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

impl Failures {
    fn new(now: Instant) -> Failures {
        Failures {
            count: 0,
            since: now,
        }
    }

    /// Starts a new window if the last one is over.
    fn current(&mut self, now: Instant) -> &mut Failures {
        if now.saturating_duration_since(self.since) >= FAILURE_WINDOW {
            *self = Failures::new(now);
        }
        self
    }

    fn retry_after(&self, now: Instant) -> u64 {
        let left = FAILURE_WINDOW.saturating_sub(now.saturating_duration_since(self.since));
        left.as_secs().max(1)
    }
}

/// One worker's memory of verified credentials and of failures (see the module docs).
#[derive(Debug)]
pub(crate) struct Gate {
    max_failures: u32,
    verified: HashMap<[u8; 32], Instant>,
    failures: HashMap<IpAddr, Failures>,
    /// Shared by the addresses that found the table full.
    overflow: Failures,
    /// Hash checks run in the current second, and when it began.
    slow_checks: (u32, Instant),
}

impl Gate {
    /// A gate allowing `max_failures` failures per address per [`FAILURE_WINDOW`].
    pub(crate) fn new(max_failures: u32, now: Instant) -> Gate {
        Gate {
            max_failures,
            verified: HashMap::new(),
            failures: HashMap::new(),
            overflow: Failures::new(now),
            slow_checks: (0, now),
        }
    }

    /// Checks the `Authorization` field value `header` from `peer` against `users`.
    pub(crate) fn check(
        &mut self,
        users: &Users,
        header: Option<&[u8]>,
        peer: IpAddr,
        now: Instant,
    ) -> Verdict {
        let Some(given) = header.and_then(basic) else {
            return Verdict::Denied;
        };
        let key: [u8; 32] = Sha256::digest(&given).into();
        if self
            .verified
            .get(&key)
            .is_some_and(|at| now.saturating_duration_since(*at) < VERIFIED_FOR)
        {
            return Verdict::Allowed;
        }
        let (user, password) = match given.iter().position(|&b| b == b':') {
            Some(i) => (&given[..i], &given[i + 1..]),
            None => (&given[..], &b""[..]),
        };
        let max = self.max_failures;
        let slot = self.slot(peer, now);
        if slot.count >= max {
            return Verdict::Throttled(slot.retry_after(now));
        }
        if users.slow(user) {
            if now.saturating_duration_since(self.slow_checks.1) >= Duration::from_secs(1) {
                self.slow_checks = (0, now);
            }
            if self.slow_checks.0 >= SLOW_CHECKS_PER_SECOND {
                return Verdict::Throttled(1);
            }
            self.slow_checks.0 += 1;
        }
        if users.verify(user, password) {
            self.remember(key, now);
            self.failures.remove(&peer);
            return Verdict::Allowed;
        }
        let slot = self.slot(peer, now);
        slot.count += 1;
        let (count, retry) = (slot.count, slot.retry_after(now));
        let name = String::from_utf8_lossy(user);
        if count == 1 {
            log::warn!("http: wrong credentials for user {name:?} from {peer}");
        } else if count == max {
            log::warn!(
                "http: {count} wrong credentials from {peer} within {}s; its next attempts \
                 get 429 for {retry}s",
                FAILURE_WINDOW.as_secs()
            );
        }
        Verdict::Denied
    }

    /// The failure count for `peer`, in the current window.
    fn slot(&mut self, peer: IpAddr, now: Instant) -> &mut Failures {
        if !self.failures.contains_key(&peer) && self.failures.len() >= MAX_TRACKED {
            self.failures
                .retain(|_, f| now.saturating_duration_since(f.since) < FAILURE_WINDOW);
        }
        if self.failures.contains_key(&peer) || self.failures.len() < MAX_TRACKED {
            self.failures
                .entry(peer)
                .or_insert_with(|| Failures::new(now))
                .current(now)
        } else {
            self.overflow.current(now)
        }
    }

    fn remember(&mut self, key: [u8; 32], now: Instant) {
        if self.verified.len() >= MAX_VERIFIED {
            self.verified
                .retain(|_, at| now.saturating_duration_since(*at) < VERIFIED_FOR);
        }
        if self.verified.len() >= MAX_VERIFIED
            && let Some(oldest) = self
                .verified
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| *k)
        {
            self.verified.remove(&oldest);
        }
        self.verified.insert(key, now);
    }
}

/// The decoded `user:password` of a `Basic` field value.
fn basic(value: &[u8]) -> Option<Vec<u8>> {
    let (scheme, token) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(token.trim_ascii())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn header(user_pass: &str) -> Vec<u8> {
        let token = base64::engine::general_purpose::STANDARD.encode(user_pass);
        format!("Basic {token}").into_bytes()
    }

    #[test]
    fn plain_passwords_are_compared_as_digests() {
        let users = Users::plain("alice", "s3cret").unwrap();
        let mut gate = Gate::new(100, Instant::now());
        let now = Instant::now();
        let check = |gate: &mut Gate, v: &str| gate.check(&users, Some(&header(v)), PEER, now);
        assert_eq!(check(&mut gate, "alice:s3cret"), Verdict::Allowed);
        for wrong in [
            "alice:s3cre",
            "alice:s3cret!",
            "alice:",
            "bob:s3cret",
            "alice",
        ] {
            assert_eq!(check(&mut gate, wrong), Verdict::Denied, "{wrong}");
        }
        assert_eq!(gate.check(&users, None, PEER, now), Verdict::Denied);
        assert_eq!(
            gate.check(&users, Some(b"Bearer x"), PEER, now),
            Verdict::Denied
        );
        assert!(Users::plain("alice", "").is_err());
        assert!(Users::plain("", "x").is_err());
        assert!(Users::from_pair("alice:pw").is_ok());
        assert!(Users::from_pair("alice").is_err());
    }

    #[test]
    fn htpasswd_files_hold_bcrypt_hashes_only() {
        // Cost 4, the least bcrypt allows: these tests check the rules, not the cost.
        let hash = bcrypt::hash("pw", 4).unwrap();
        let users = Users::from_htpasswd(&format!("# users\n\nalice:{hash}\n")).unwrap();
        assert_eq!(format!("{users:?}"), "[\"alice\"]", "no secret in Debug");
        let now = Instant::now();
        let mut gate = Gate::new(100, now);
        assert_eq!(
            gate.check(&users, Some(&header("alice:pw")), PEER, now),
            Verdict::Allowed
        );
        assert_eq!(
            gate.check(&users, Some(&header("alice:no")), PEER, now),
            Verdict::Denied
        );
        let empty = bcrypt::hash("", 4).unwrap();
        let e = Users::from_htpasswd(&format!("bob:{empty}\n")).unwrap_err();
        assert!(e.contains("empty password"), "{e}");
        for bad in [
            "alice:$apr1$abc$def",
            "alice:{SHA}abc",
            "alice:plain",
            "alice",
            "",
        ] {
            assert!(Users::from_htpasswd(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_address_is_throttled_one_past_its_failures_and_released_after_the_window() {
        let users = Users::plain("alice", "s3cret").unwrap();
        let t0 = Instant::now();
        let mut gate = Gate::new(3, t0);
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(
                gate.check(&users, Some(&header("alice:x")), PEER, t0),
                Verdict::Denied
            );
        }
        assert_eq!(
            gate.check(&users, Some(&header("alice:x")), PEER, t0),
            Verdict::Throttled(60)
        );
        // Not even the right password is checked from there now...
        assert_eq!(
            gate.check(&users, Some(&header("alice:s3cret")), PEER, t0),
            Verdict::Throttled(60)
        );
        // ... but another address is, and the window ends.
        assert_eq!(
            gate.check(&users, Some(&header("alice:s3cret")), other, t0),
            Verdict::Allowed
        );
        let later = t0 + FAILURE_WINDOW;
        assert_eq!(
            gate.check(&users, Some(&header("alice:s3cret")), PEER, later),
            Verdict::Allowed
        );
    }

    #[test]
    fn hash_checks_are_bounded_per_second_and_valid_ones_remembered() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let users = Users::from_htpasswd(&format!("alice:{hash}")).unwrap();
        let t0 = Instant::now();
        let mut gate = Gate::new(1000, t0);
        assert_eq!(
            gate.check(&users, Some(&header("alice:pw")), PEER, t0),
            Verdict::Allowed
        );
        for i in 1..SLOW_CHECKS_PER_SECOND {
            let peer = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, i as u8));
            assert_eq!(
                gate.check(&users, Some(&header("alice:no")), peer, t0),
                Verdict::Denied
            );
        }
        assert_eq!(
            gate.check(&users, Some(&header("nobody:no")), PEER, t0),
            Verdict::Throttled(1),
            "one past the budget"
        );
        // The verified credential is remembered: no hash, no budget.
        assert_eq!(
            gate.check(&users, Some(&header("alice:pw")), PEER, t0),
            Verdict::Allowed
        );
        let next = t0 + Duration::from_secs(1);
        assert_eq!(
            gate.check(&users, Some(&header("alice:no")), PEER, next),
            Verdict::Denied
        );
    }

    #[test]
    fn the_tables_stay_bounded() {
        let users = Users::plain("alice", "s3cret").unwrap();
        let t0 = Instant::now();
        let mut gate = Gate::new(1, t0);
        for i in 0..(MAX_TRACKED as u32 + 10) {
            let peer = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = gate.check(&users, Some(&header("alice:x")), peer, t0);
        }
        assert_eq!(gate.failures.len(), MAX_TRACKED);
        // The addresses past the table share one slot, already used up.
        let late = IpAddr::V4(std::net::Ipv4Addr::new(11, 0, 0, 1));
        assert!(matches!(
            gate.check(&users, Some(&header("alice:x")), late, t0),
            Verdict::Throttled(_)
        ));
        for i in 0..(MAX_VERIFIED + 10) {
            gate.remember([i as u8; 32], t0 + Duration::from_millis(i as u64));
        }
        assert!(gate.verified.len() <= MAX_VERIFIED);
    }
}
