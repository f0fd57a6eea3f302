//! File upload over length-prefixed frames: a header, the data, one reply.
//!
//! ```text
//!   client                                         server
//!   FILE <size> <sha256-hex> <name>   ──frame──►   check name, size, existence; create part file
//!   <data>  <data>  ...               ──frames─►   append, hash, count
//!                                     ◄──frame──   OK <size> <sha256-hex>   or   ERR <reason>
//! ```
//!
//! With a token (`--files-token FILE`) the server is closed: the first frame must be
//! `AUTH <token>`, compared as SHA-256 digests in constant time (no content or length leaks),
//! else `ERR unauthorized` and a close, counted (`files_unauthorized`) and logged at most once
//! a second. With a quota (`--files-quota BYTES`, [`Quota`]) a file that would take the store
//! past it is refused on its header, before any data is received.
//!
//! The whole protocol, with byte-level examples, is in `docs/protocols.md`. In short: every
//! message is a [`LengthCodec`] frame; after `OK` the connection may carry another file; after
//! `ERR` the server closes, because data frames already in flight could not be told apart from
//! a next header.
//!
//! What this module guarantees about the target directory:
//!
//! * A file appears under its final name only whole, checked (size and SHA-256) and flushed to
//!   disk (`sync_all`). Until then the data lives in a hidden part file,
//!   `.<name>.<pid>-<n>.part`, which is then renamed (or hard-linked) into place.
//! * An upload that fails for any reason (bad checksum, too much data, end of stream, timeout,
//!   disk error, lost connection) leaves nothing behind: the part file is removed when the
//!   upload is dropped, whatever the path that dropped it.
//! * Names are plain file names: no separator, no `.`/`..`, nothing hidden, no control
//!   characters, so nothing can be written outside the directory.
//! * An existing file is never replaced unless [`FilesConfig::overwrite`] is set: checked before
//!   any data is accepted, and again, atomically, when the file is put in place: a hard link,
//!   unlike a rename, fails if its name has been taken meanwhile.
//!
//! File IO here is blocking `std::fs` on the reactor thread, an accepted compromise: writes to a
//! local disk complete in micro- to milliseconds (the page cache absorbs them) whereas a socket
//! can block forever, which is why only sockets must never be waited on. The one slow call,
//! `sync_all`, happens once per file.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use super::quota::Quota;
use crate::log_limit::LogLimit;

use crate::protocol::frame::{Encoder, FrameError, Frames, LengthCodec};
use crate::protocol::number;
use crate::protocol::sniff;
use crate::protocol::store::{self, CommitError, Place, TempFile};
use crate::session::{Ctx, Flow, Service, Session, Step};

/// What the files port speaks, for a client that sent another protocol (see `sniff.rs`).
const FILES_SPEAKS: &str = "the evserve files protocol (use: evserve send FILE --to HOST:PORT)";

/// The default largest file accepted: 1 GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1 << 30;

/// The default largest frame accepted: 1 MiB, room for the client's 64 KiB data frames and
/// then some, while keeping each connection's input buffer small.
pub(crate) const DEFAULT_MAX_DATA_FRAME: usize = 1 << 20;

pub use store::check_name;

/// The first word of a header frame.
const FILE_VERB: &[u8] = b"FILE ";
/// The first word of the frame that presents the token.
pub const AUTH_VERB: &[u8] = b"AUTH ";

/// The file service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesConfig {
    /// Where received files are stored.
    pub dir: PathBuf,
    /// Replace a file that already exists under the same name (otherwise: `ERR exists`).
    pub overwrite: bool,
    /// The largest file accepted.
    pub max_file_size: u64,
    /// The largest frame accepted, header or data.
    pub max_frame: usize,
    /// The SHA-256 of the token a client must present first (`--files-token`); open if none.
    pub token: Option<[u8; 32]>,
    /// The store's size limit, shared by every worker (`--files-quota`); unlimited if none.
    pub quota: Option<Arc<Quota>>,
}

impl FilesConfig {
    /// Stores into `dir`, never overwriting, with the default limits.
    pub fn new(dir: impl Into<PathBuf>) -> FilesConfig {
        FilesConfig {
            dir: dir.into(),
            overwrite: false,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_frame: DEFAULT_MAX_DATA_FRAME,
            token: None,
            quota: None,
        }
    }

    /// Requires `token` (its bytes) before any file.
    pub fn with_token(mut self, token: &[u8]) -> FilesConfig {
        self.token = Some(Sha256::digest(token).into());
        self
    }
}

/// The file upload service.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    config: Rc<FilesConfig>,
    auth_log: Rc<RefCell<LogLimit>>,
}

impl Files {
    /// A service storing files as `config` says.
    pub(crate) fn new(config: FilesConfig) -> Files {
        super::stale::sweep_and_log(&config.dir, store::is_temp_name, "files");
        if let Some(quota) = &config.quota {
            quota.count_once(&config.dir);
        }
        Files {
            config: Rc::new(config),
            auth_log: Rc::default(),
        }
    }
}

impl Service for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
        let mut session = FilesSession::new(Rc::clone(&self.config));
        session.auth_log = Rc::clone(&self.auth_log);
        Box::new(session)
    }

    /// A whole frame must fit: each is handled only once complete.
    fn input_limit(&self) -> usize {
        self.config.max_frame.saturating_add(LengthCodec::OVERHEAD)
    }
}

/// One uploading connection.
#[derive(Debug)]
pub struct FilesSession {
    config: Rc<FilesConfig>,
    codec: LengthCodec,
    state: State,
    /// Shared by the service's sessions: wrong tokens are logged at most once a second.
    auth_log: Rc<RefCell<LogLimit>>,
}

/// Where a connection is in the protocol.
#[derive(Debug)]
enum State {
    /// A token is required: waiting for `AUTH <token>`.
    Locked,
    /// Waiting for a `FILE` header.
    Ready,
    /// Receiving the data of one file (boxed: a hash state and two paths, once per file).
    Receiving(Box<Upload>),
    /// `ERR` was sent: the stream is out of step, input is ignored until the close.
    Closing,
}

impl FilesSession {
    /// A session storing files as `config` says.
    pub fn new(config: Rc<FilesConfig>) -> FilesSession {
        let codec = LengthCodec::new(config.max_frame);
        let state = if config.token.is_some() {
            State::Locked
        } else {
            State::Ready
        };
        FilesSession {
            config,
            codec,
            state,
            auth_log: Rc::default(),
        }
    }

    /// The state after `payload`, the next frame, has been handled in `state`.
    fn next(&self, state: State, payload: &[u8], cx: &mut Ctx<'_>) -> Result<State, Refusal> {
        let upload = match state {
            State::Locked => return self.unlock(payload),
            // A token sent to an open server, or sent again, changes nothing.
            State::Ready if payload.starts_with(AUTH_VERB) => return Ok(State::Ready),
            State::Ready => Box::new(Upload::begin(&self.config, Header::parse(payload)?)?),
            State::Receiving(mut upload) => {
                upload.write(payload)?;
                upload
            }
            State::Closing => return Ok(State::Closing),
        };
        if upload.received < upload.size {
            return Ok(State::Receiving(upload));
        }
        let name = upload.name.clone();
        let (size, sha256) = upload.finish(&self.config)?;
        log::info!("{}: received {name:?} ({size} bytes)", cx.peer());
        reply(&Reply::Ok { size, sha256 }, cx);
        Ok(State::Ready)
    }

    /// The first frame of a locked connection: the right token opens it. Both sides are
    /// compared as SHA-256 digests, so the comparison takes the same time whatever the token
    /// sent, its length included.
    fn unlock(&self, payload: &[u8]) -> Result<State, Refusal> {
        let (Some(expected), Some(token)) = (&self.config.token, payload.strip_prefix(AUTH_VERB))
        else {
            return Err(Refusal::NoToken);
        };
        let presented: [u8; 32] = Sha256::digest(token).into();
        if crate::secret::same(&presented, expected) {
            Ok(State::Ready)
        } else {
            Err(Refusal::BadToken)
        }
    }

    /// Answers `ERR <why>` and stops reading. The caller drops the upload, if any, and its
    /// part file with it.
    fn refuse(&mut self, why: Refusal, cx: &mut Ctx<'_>) {
        match &why {
            Refusal::Disk(err) => log::warn!("{}: disk error: {err}", cx.peer()),
            Refusal::NoToken | Refusal::BadToken => {
                cx.stats().files_unauthorized.incr();
                if let Some(left_out) = self.auth_log.borrow_mut().allow(cx.now()) {
                    log::warn!(
                        "{}: refused: {why} ({left_out} more refused since the last line)",
                        cx.peer()
                    );
                }
            }
            Refusal::Quota { .. } => {
                cx.stats().files_over_quota.incr();
                log::info!("{}: refused: {why}", cx.peer());
            }
            _ => log::info!("{}: refused: {why}", cx.peer()),
        }
        reply(&Reply::Err(&why.to_string()), cx);
        self.state = State::Closing;
    }
}

/// Appends one reply frame. Replies are a few dozen bytes, far under any frame limit, and
/// exempt from the configured one, which bounds what the peer may send.
fn reply(reply: &Reply<'_>, cx: &mut Ctx<'_>) {
    let text = reply.to_string();
    if let Err(err) = LengthCodec::default().encode(text.as_bytes(), &mut cx.out()) {
        log::error!("{}: reply not sent: {err}", cx.peer());
    }
}

impl Session for FilesSession {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let mut frames = Frames::new(input);
        while !matches!(self.state, State::Closing) {
            let payload = match frames.next(&mut self.codec) {
                Ok(Some(payload)) => payload,
                Ok(None) => {
                    // Between frames of a file the peer still owes the rest of it: the
                    // reactor's minimum rate applies, as it does to a partial frame.
                    cx.set_receiving(matches!(self.state, State::Receiving(_)));
                    return Step::consumed(frames.used());
                }
                Err(err) => {
                    if !sniff::refuse_foreign(frames.rest(), FILES_SPEAKS, cx) {
                        self.refuse(Refusal::Frame(err), cx);
                    }
                    self.state = State::Closing;
                    break;
                }
            };
            let state = std::mem::replace(&mut self.state, State::Closing);
            match self.next(state, payload, cx) {
                Ok(state) => self.state = state,
                Err(why) => self.refuse(why, cx),
            }
        }
        Step::close(frames.used())
    }

    /// Whole frames still buffered are handled; then an upload still open is truncated.
    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        let step = self.on_input(input, cx);
        let left = input.len().saturating_sub(step.consumed);
        match std::mem::replace(&mut self.state, State::Closing) {
            State::Receiving(upload) => self.refuse(Refusal::truncated(&upload), cx),
            State::Ready | State::Locked if left > 0 => {
                log::info!("{}: truncated frame, {left} bytes discarded", cx.peer());
            }
            State::Ready | State::Locked | State::Closing => {}
        }
        Flow::Close
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if let State::Receiving(upload) = std::mem::replace(&mut self.state, State::Closing) {
            self.refuse(Refusal::Timeout(upload.received, upload.size), cx);
        }
        Flow::Close
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        if let State::Receiving(upload) = std::mem::replace(&mut self.state, State::Closing) {
            log::info!("{}: {}", cx.peer(), Refusal::truncated(&upload));
        }
    }
}

/// Why an upload was refused or abandoned: the text after `ERR ` in the reply.
#[derive(Debug)]
enum Refusal {
    /// A frame over the limit.
    Frame(FrameError),
    /// The first frame is not `FILE <size> <sha256-hex> <name>`.
    BadHeader,
    /// The name is not a plain file name.
    BadName(&'static str),
    /// The announced size is over the limit.
    TooLarge { size: u64, max: u64 },
    /// A file of that name exists and overwriting is off.
    Exists,
    /// Data beyond the announced size: `(bytes so far, announced)`.
    ExtraData(u64, u64),
    /// The data's SHA-256 is not the announced one.
    Checksum([u8; 32]),
    /// The stream ended mid-file: `(received, announced)`.
    Truncated(u64, u64),
    /// No data for too long: `(received, announced)`.
    Timeout(u64, u64),
    /// The file system failed us.
    Disk(io::Error),
    /// A token is required and the first frame is not `AUTH <token>`.
    NoToken,
    /// The token presented is not the server's.
    BadToken,
    /// Storing the file would take the store past `--files-quota`.
    Quota { size: u64, free: u64, limit: u64 },
}

impl Refusal {
    fn truncated(upload: &Upload) -> Refusal {
        Refusal::Truncated(upload.received, upload.size)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Frame(err) => write!(f, "{err}"),
            Refusal::BadHeader => f.write_str("bad header: expected FILE <size> <sha256> <name>"),
            Refusal::BadName(why) => write!(f, "bad name: {why}"),
            Refusal::TooLarge { size, max } => write!(f, "file too large: {size} > {max}"),
            Refusal::Exists => f.write_str("exists"),
            Refusal::ExtraData(n, size) => write!(f, "more data than announced: {n} > {size}"),
            Refusal::Checksum(got) => write!(f, "checksum mismatch: got {}", to_hex(got)),
            Refusal::Truncated(n, size) => write!(f, "truncated: got {n} of {size} bytes"),
            Refusal::Timeout(n, size) => write!(f, "timeout: got {n} of {size} bytes"),
            Refusal::Disk(err) => write!(f, "disk: {err}"),
            Refusal::NoToken => f.write_str(
                "unauthorized: this server needs a token first (evserve send --token-file FILE)",
            ),
            Refusal::BadToken => f.write_str("unauthorized: wrong token"),
            Refusal::Quota { size, free, limit } => write!(
                f,
                "quota exceeded: {size} bytes do not fit, {free} of {limit} bytes are free"
            ),
        }
    }
}

impl From<io::Error> for Refusal {
    fn from(err: io::Error) -> Refusal {
        Refusal::Disk(err)
    }
}

/// The header frame announcing a file: `FILE <size> <sha256-hex> <name>` (its `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The file's exact size in bytes.
    pub size: u64,
    /// The SHA-256 of the file's content.
    pub sha256: [u8; 32],
    /// The name to store it under: see [`check_name`].
    pub name: &'a str,
}

impl fmt::Display for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FILE {} {} {}",
            self.size,
            to_hex(&self.sha256),
            self.name
        )
    }
}

/// The server's answer to a file: `OK <size> <sha256-hex>` or `ERR <reason>` (its `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// The file is stored, with this size and checksum.
    Ok {
        /// Bytes stored.
        size: u64,
        /// SHA-256 of the bytes stored.
        sha256: [u8; 32],
    },
    /// The file was refused, for this reason; the server closes the connection.
    Err(&'a str),
}

impl<'a> Reply<'a> {
    /// Parses a reply frame, or `None` if it is neither form.
    pub fn parse(frame: &'a [u8]) -> Option<Reply<'a>> {
        let text = std::str::from_utf8(frame).ok()?;
        if let Some(reason) = text.strip_prefix("ERR ") {
            return Some(Reply::Err(reason));
        }
        let (size, sha256) = text.strip_prefix("OK ")?.split_once(' ')?;
        Some(Reply::Ok {
            size: number::decimal(size.as_bytes())?,
            sha256: parse_hex(sha256.as_bytes())?,
        })
    }
}

impl fmt::Display for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Ok { size, sha256 } => write!(f, "OK {size} {}", to_hex(sha256)),
            Reply::Err(reason) => write!(f, "ERR {reason}"),
        }
    }
}

impl<'a> Header<'a> {
    /// Parses `FILE <size> <sha256-hex> <name>`. The name comes last so it may hold spaces.
    fn parse(frame: &'a [u8]) -> Result<Header<'a>, Refusal> {
        let rest = frame.strip_prefix(FILE_VERB).ok_or(Refusal::BadHeader)?;
        let mut fields = rest.splitn(3, |&b| b == b' ');
        let (Some(size), Some(sha256), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(Refusal::BadHeader);
        };
        let name = std::str::from_utf8(name).map_err(|_| Refusal::BadName("not UTF-8"))?;
        check_name(name).map_err(Refusal::BadName)?;
        Ok(Header {
            size: number::decimal(size).ok_or(Refusal::BadHeader)?,
            sha256: parse_hex(sha256).ok_or(Refusal::BadHeader)?,
            name,
        })
    }
}

/// 64 hexadecimal digits, either case.
pub(crate) fn parse_hex(hex: &[u8]) -> Option<[u8; 32]> {
    number::hex_bytes(hex)
}

/// A digest as 64 lowercase hexadecimal digits.
pub fn to_hex(digest: &[u8; 32]) -> String {
    let mut hex = String::with_capacity(64);
    for b in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// One file being received.
#[derive(Debug)]
struct Upload {
    name: String,
    size: u64,
    sha256: [u8; 32],
    received: u64,
    hasher: Sha256,
    part: TempFile,
    target: PathBuf,
    /// Space held in the quota for this file, if there is a quota.
    reserved: Option<Reservation>,
}

/// Bytes reserved in the quota for one upload: given back when dropped, unless the file was
/// stored ([`Reservation::keep`]).
#[derive(Debug)]
struct Reservation {
    quota: Arc<Quota>,
    size: u64,
}

impl Reservation {
    /// The file is stored: its bytes stay counted, and a file it replaced (`replaced` bytes)
    /// is no longer there.
    fn keep(mut self, replaced: u64) {
        self.quota.release(replaced);
        self.size = 0;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.quota.release(self.size);
    }
}

/// The size of the regular file at `path`, 0 if there is none (or it is something else).
fn file_size(path: &std::path::Path) -> u64 {
    std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map_or(0, |m| m.len())
}

impl Upload {
    /// Accepts `header`: everything that can be refused before data arrives is refused here.
    fn begin(config: &FilesConfig, header: Header<'_>) -> Result<Upload, Refusal> {
        if header.size > config.max_file_size {
            return Err(Refusal::TooLarge {
                size: header.size,
                max: config.max_file_size,
            });
        }
        let target = config.dir.join(header.name);
        if !config.overwrite && store::exists(&target)? {
            return Err(Refusal::Exists);
        }
        let reserved = match &config.quota {
            None => None,
            Some(quota) => {
                let replaced = if config.overwrite {
                    file_size(&target)
                } else {
                    0
                };
                quota
                    .reserve(header.size, replaced)
                    .map_err(|free| Refusal::Quota {
                        size: header.size,
                        free,
                        limit: quota.limit(),
                    })?;
                Some(Reservation {
                    quota: Arc::clone(quota),
                    size: header.size,
                })
            }
        };
        Ok(Upload {
            name: header.name.to_owned(),
            size: header.size,
            sha256: header.sha256,
            received: 0,
            hasher: Sha256::new(),
            part: TempFile::create(&config.dir, header.name)?,
            target,
            reserved,
        })
    }

    /// Appends a data frame, refusing any byte past the announced size.
    fn write(&mut self, data: &[u8]) -> Result<(), Refusal> {
        let total = self.received.saturating_add(data.len() as u64);
        if total > self.size {
            return Err(Refusal::ExtraData(total, self.size));
        }
        self.part.write(data)?;
        self.hasher.update(data);
        self.received = total;
        Ok(())
    }

    /// All data is in: checks it, makes it durable, and gives it its name.
    fn finish(self, config: &FilesConfig) -> Result<(u64, [u8; 32]), Refusal> {
        let got: [u8; 32] = self.hasher.finalize().into();
        if got != self.sha256 {
            return Err(Refusal::Checksum(got));
        }
        let mut part = self.part;
        part.sync()?;
        let place = if config.overwrite {
            Place::Replace
        } else {
            Place::NoClobber
        };
        // What the new file replaces is measured just before it does.
        let replaced = match place {
            Place::Replace if self.reserved.is_some() => file_size(&self.target),
            _ => 0,
        };
        part.commit(&self.target, place).map_err(|e| match e {
            CommitError::Exists => Refusal::Exists,
            CommitError::Io(e) => Refusal::Disk(e),
        })?;
        if let Some(reserved) = self.reserved {
            reserved.keep(replaced);
        }
        Ok((self.size, got))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::Decoder;
    use crate::protocol::store::MAX_NAME_LEN;
    use crate::testing::Harness;
    use std::fs;
    use tempfile::TempDir;

    fn sha256(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    fn session(config: FilesConfig) -> Harness<FilesSession> {
        Harness::new(FilesSession::new(Rc::new(config)))
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        LengthCodec::default().encode(payload, &mut out).unwrap();
        out
    }

    /// The frames uploading `data` as `name`, in data frames of `chunk` bytes.
    fn upload(name: &str, data: &[u8], chunk: usize) -> Vec<u8> {
        let (size, sha256) = (data.len() as u64, sha256(data));
        let mut out = frame(Header { size, sha256, name }.to_string().as_bytes());
        data.chunks(chunk).for_each(|c| out.extend(frame(c)));
        out
    }

    /// Every reply frame written so far, as text.
    fn replies(h: &mut Harness<FilesSession>) -> Vec<String> {
        let out = h.take_output();
        let (mut codec, mut rest, mut texts) = (LengthCodec::default(), &out[..], Vec::new());
        while let Some(f) = codec.decode(rest).unwrap() {
            texts.push(String::from_utf8(f.payload.to_vec()).unwrap());
            rest = &rest[f.consumed..];
        }
        assert!(rest.is_empty(), "a partial reply frame");
        texts
    }

    fn listing(dir: &TempDir) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn ok(data: &[u8]) -> String {
        Reply::Ok {
            size: data.len() as u64,
            sha256: sha256(data),
        }
        .to_string()
    }

    #[test]
    fn stores_empty_one_byte_and_multi_frame_files_on_one_connection() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut stream = upload("empty", b"", 1000);
        stream.extend(upload("one", b"x", 1000));
        stream.extend(upload("big file.bin", &big, 1000));
        // Split mid-frame to show that partial frames wait for the rest.
        let (a, b) = stream.split_at(5000);
        assert_eq!(h.input(a).flow, Flow::Continue);
        assert_eq!(h.input(b).flow, Flow::Continue);
        assert!(h.pending_input().is_empty());
        assert_eq!(replies(&mut h), [ok(b""), ok(b"x"), ok(&big)]);
        assert_eq!(listing(&dir), ["big file.bin", "empty", "one"]);
        assert_eq!(fs::read(dir.path().join("big file.bin")).unwrap(), big);
        assert_eq!(fs::read(dir.path().join("one")).unwrap(), b"x");
        assert_eq!(h.eof(b""), Flow::Close);
    }

    #[test]
    fn data_arrives_in_a_hidden_part_file() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        let stream = upload("f", b"hello", 2);
        h.input(&stream[..stream.len() - 3]);
        let names = listing(&dir);
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with(".f.") && names[0].ends_with(".part"));
        assert!(
            h.receiving(),
            "mid-file, the reactor's minimum rate applies"
        );
        h.input(&stream[stream.len() - 3..]);
        assert_eq!(replies(&mut h), [ok(b"hello")]);
        assert_eq!(listing(&dir), ["f"]);
        assert!(!h.receiving());
    }

    #[test]
    fn refuses_names_outside_plain_file_names() {
        let names: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b".", "hidden or relative"),
            (b"..", "hidden or relative"),
            (b".hidden", "hidden or relative"),
            (b"../escape", "hidden or relative"),
            (b"a/b", "path separator"),
            (b"/etc/passwd", "path separator"),
            (b"a\\b", "path separator"),
            (b"nul\0byte", "control or bidirectional character"),
            (b"esc\x1b", "control or bidirectional character"),
            (
                "csi\u{9b}2J".as_bytes(),
                "control or bidirectional character",
            ),
            (
                "\u{202e}txt.exe".as_bytes(),
                "control or bidirectional character",
            ),
            (b"bad\xffutf8", "not UTF-8"),
            (&[b'n'; MAX_NAME_LEN + 1], "too long"),
        ];
        for (name, why) in names {
            let dir = TempDir::new().unwrap();
            let mut h = session(FilesConfig::new(dir.path()));
            let mut head = format!("FILE 1 {} ", to_hex(&sha256(b"x"))).into_bytes();
            head.extend_from_slice(name);
            let mut stream = frame(&head);
            stream.extend(frame(b"x"));
            assert_eq!(h.input(&stream).flow, Flow::Close, "{name:?}");
            assert_eq!(replies(&mut h), [format!("ERR bad name: {why}")]);
            assert!(listing(&dir).is_empty());
        }
    }

    #[test]
    fn refuses_malformed_headers() {
        let hex = to_hex(&sha256(b""));
        let headers = [
            "PUT 0 x".to_string(),
            "FILE 0".to_string(),
            format!("FILE +0 {hex} f"),
            format!("FILE -1 {hex} f"),
            format!("FILE 0 {} f", &hex[1..]),
            format!("FILE 0 {}g f", &hex[1..]),
            format!("FILE 0 +{} f", &hex[1..]),
        ];
        for head in headers {
            let dir = TempDir::new().unwrap();
            let mut h = session(FilesConfig::new(dir.path()));
            assert_eq!(h.input(&frame(head.as_bytes())).flow, Flow::Close, "{head}");
            let want = "ERR bad header: expected FILE <size> <sha256> <name>";
            assert_eq!(replies(&mut h), [want]);
        }
        // Too many digits for a u64 is too large, as any size over the limit is.
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        let head = format!("FILE 99999999999999999999 {hex} f");
        assert_eq!(h.input(&frame(head.as_bytes())).flow, Flow::Close);
        let reply = &replies(&mut h)[0];
        assert!(reply.starts_with("ERR file too large: 18446744073709551615 > "));
    }

    #[test]
    fn refuses_an_oversized_file_before_storing_anything() {
        let dir = TempDir::new().unwrap();
        let mut config = FilesConfig::new(dir.path());
        config.max_file_size = 10;
        let mut h = session(config);
        assert_eq!(h.input(&upload("f", &[0; 10], 4)).flow, Flow::Continue);
        assert_eq!(h.input(&upload("g", &[0; 11], 4)).flow, Flow::Close);
        assert_eq!(
            replies(&mut h),
            [ok(&[0; 10]), "ERR file too large: 11 > 10".into()]
        );
        assert_eq!(listing(&dir), ["f"]);
    }

    #[test]
    fn refuses_an_oversized_frame_and_cleans_up() {
        let dir = TempDir::new().unwrap();
        let mut config = FilesConfig::new(dir.path());
        config.max_frame = 200;
        let mut h = session(config);
        assert_eq!(h.input(&upload("f", &[1; 500], 201)).flow, Flow::Close);
        assert_eq!(replies(&mut h), ["ERR frame too large: 201 > 200"]);
        assert!(listing(&dir).is_empty());
    }

    #[test]
    fn wrong_checksum_leaves_nothing() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        let name = "f";
        let head = Header {
            size: 3,
            sha256: sha256(b"abc"),
            name,
        };
        let mut stream = frame(head.to_string().as_bytes());
        stream.extend(frame(b"abd"));
        assert_eq!(h.input(&stream).flow, Flow::Close);
        let got = to_hex(&sha256(b"abd"));
        assert_eq!(
            replies(&mut h),
            [format!("ERR checksum mismatch: got {got}")]
        );
        assert!(listing(&dir).is_empty());
    }

    #[test]
    fn more_data_than_announced_leaves_nothing() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        let head = Header {
            size: 3,
            sha256: sha256(b"abc"),
            name: "f",
        };
        let mut stream = frame(head.to_string().as_bytes());
        stream.extend(frame(b"ab"));
        stream.extend(frame(b"cd"));
        assert_eq!(h.input(&stream).flow, Flow::Close);
        assert_eq!(replies(&mut h), ["ERR more data than announced: 4 > 3"]);
        assert!(listing(&dir).is_empty());
    }

    #[test]
    fn an_existing_file_is_kept_unless_overwrite_is_set() {
        let dir = TempDir::new().unwrap();
        fs::write(dir.path().join("f"), b"old").unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        assert_eq!(h.input(&upload("f", b"new", 10)).flow, Flow::Close);
        assert_eq!(replies(&mut h), ["ERR exists"]);
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"old");

        let mut config = FilesConfig::new(dir.path());
        config.overwrite = true;
        let mut h = session(config);
        assert_eq!(h.input(&upload("f", b"new", 10)).flow, Flow::Continue);
        assert_eq!(replies(&mut h), [ok(b"new")]);
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"new");
        assert_eq!(listing(&dir), ["f"]);
    }

    #[test]
    fn a_file_created_during_the_upload_is_not_clobbered() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        let stream = upload("f", b"mine", 2);
        h.input(&stream[..stream.len() - 6]);
        fs::write(dir.path().join("f"), b"theirs").unwrap();
        assert_eq!(h.input(&stream[stream.len() - 6..]).flow, Flow::Close);
        assert_eq!(replies(&mut h), ["ERR exists"]);
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"theirs");
        assert_eq!(listing(&dir), ["f"]);
    }

    #[test]
    fn a_cut_off_transfer_leaves_no_file_and_no_part_file() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        h.input(&upload("f", &[7; 100], 30)[..80]);
        assert_eq!(listing(&dir).len(), 1, "the part file");
        h.close();
        assert!(listing(&dir).is_empty());
    }

    #[test]
    fn eof_mid_transfer_is_reported_and_cleaned_up() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        let stream = upload("f", &[7; 100], 30);
        // Frames: header, 3 × (4 + 30 bytes), 4 + 10 bytes. Cut inside the fourth data frame.
        assert_eq!(h.eof(&stream[..stream.len() - 15]), Flow::Close);
        assert_eq!(replies(&mut h), ["ERR truncated: got 60 of 100 bytes"]);
        assert!(listing(&dir).is_empty());
    }

    #[test]
    fn a_timeout_mid_transfer_is_reported_and_cleaned_up() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        // The 79-byte header frame, one 34-byte data frame, part of the next.
        h.input(&upload("f", &[7; 100], 30)[..120]);
        assert_eq!(h.timeout(), Flow::Close);
        assert_eq!(replies(&mut h), ["ERR timeout: got 30 of 100 bytes"]);
        assert!(listing(&dir).is_empty());
    }

    #[test]
    fn a_disk_error_is_a_reply_not_a_panic() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path().join("missing")));
        assert_eq!(h.input(&upload("f", b"x", 1)).flow, Flow::Close);
        let replies = replies(&mut h);
        assert!(replies[0].starts_with("ERR disk: "), "{replies:?}");
    }

    #[test]
    fn replies_parse_back() {
        let sha256 = sha256(b"x");
        let text = Reply::Ok { size: 1, sha256 }.to_string();
        assert_eq!(
            Reply::parse(text.as_bytes()),
            Some(Reply::Ok { size: 1, sha256 })
        );
        assert_eq!(Reply::parse(b"ERR exists"), Some(Reply::Err("exists")));
        assert_eq!(Reply::parse(b"OK 1"), None);
        assert_eq!(Reply::parse(b"HELLO"), None);
    }

    /// Feeds `stream` in pieces of the given sizes, then ends the input as the peer would,
    /// unless the session closed first.
    fn feed_in_pieces(h: &mut Harness<FilesSession>, stream: &[u8], pieces: &[usize]) {
        if h.input_in_pieces(stream, pieces) == Flow::Continue {
            h.eof(b"");
        }
    }

    proptest::proptest! {
        /// However the stream is cut, every file is stored whole, answered `OK`, and no part
        /// file is left behind.
        #[test]
        fn files_arrive_whole_however_the_stream_is_cut(
            files in proptest::collection::vec(
                (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000), 1usize..700),
                1..4,
            ),
            pieces in proptest::collection::vec(1usize..900, 1..8),
        ) {
            let dir = TempDir::new().unwrap();
            let mut h = session(FilesConfig::new(dir.path()));
            let mut stream = Vec::new();
            for (i, (data, chunk)) in files.iter().enumerate() {
                stream.extend(upload(&format!("f{i}"), data, *chunk));
            }
            feed_in_pieces(&mut h, &stream, &pieces);
            let want: Vec<String> = files.iter().map(|(data, _)| ok(data)).collect();
            proptest::prop_assert_eq!(replies(&mut h), want);
            let names: Vec<String> = (0..files.len()).map(|i| format!("f{i}")).collect();
            proptest::prop_assert_eq!(listing(&dir), names);
            for (i, (data, _)) in files.iter().enumerate() {
                proptest::prop_assert_eq!(&fs::read(dir.path().join(format!("f{i}"))).unwrap(), data);
            }
        }

        /// Bytes flipped anywhere and the stream cut anywhere: no panic, no part file left,
        /// and whatever is stored is exactly one of the files sent. (Damage to a header's name
        /// can store a file under another name; only its size and SHA-256 guard the content.)
        #[test]
        fn damage_never_stores_a_wrong_file(
            files in proptest::collection::vec(
                (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000), 1usize..700),
                1..3,
            ),
            damage in proptest::collection::vec(proptest::prelude::any::<(usize, u8)>(), 1..4),
            cut in proptest::prelude::any::<usize>(),
            pieces in proptest::collection::vec(1usize..900, 1..8),
        ) {
            let dir = TempDir::new().unwrap();
            let mut h = session(FilesConfig::new(dir.path()));
            let mut stream = Vec::new();
            for (i, (data, chunk)) in files.iter().enumerate() {
                stream.extend(upload(&format!("f{i}"), data, *chunk));
            }
            let stream = crate::testing::damaged(stream, &damage, cut);
            feed_in_pieces(&mut h, &stream, &pieces);
            drop(h); // a session still holding a part file removes it when dropped
            for name in listing(&dir) {
                proptest::prop_assert!(!name.ends_with(".part"), "left behind: {}", name);
                let stored = fs::read(dir.path().join(&name)).unwrap();
                proptest::prop_assert!(
                    files.iter().any(|(data, _)| *data == stored),
                    "{} holds {} bytes that were never sent as one file",
                    name,
                    stored.len()
                );
            }
        }
    }

    const TOKEN: &[u8] = b"0123456789abcdef-the-token";

    fn auth(token: &[u8]) -> Vec<u8> {
        frame(&[AUTH_VERB, token].concat())
    }

    #[test]
    fn with_a_token_the_right_one_opens_the_connection_for_files() {
        let dir = TempDir::new().unwrap();
        let config = FilesConfig::new(dir.path()).with_token(TOKEN);
        let mut stream = auth(TOKEN);
        stream.extend(upload("a", b"one", 2));
        stream.extend(upload("b", b"two", 2));
        // Whole, and byte by byte: the token frame may arrive in pieces like any other.
        let mut h = session(config.clone());
        assert_eq!(h.input(&stream).flow, Flow::Continue);
        assert_eq!(replies(&mut h), [ok(b"one"), ok(b"two")]);
        fs::remove_file(dir.path().join("a")).unwrap();
        fs::remove_file(dir.path().join("b")).unwrap();
        let mut h = session(config);
        assert_eq!(h.input_bytewise(&stream), Flow::Continue);
        assert_eq!(replies(&mut h), [ok(b"one"), ok(b"two")]);
        assert_eq!(h.stats().files_unauthorized.get(), 0);
    }

    #[test]
    fn with_a_token_a_wrong_or_missing_one_is_refused_and_counted() {
        let dir = TempDir::new().unwrap();
        let config = FilesConfig::new(dir.path()).with_token(TOKEN);
        let wrong_ones: [&[u8]; 4] = [
            b"0123456789abcdef-the-toke",
            b"0123456789abcdef-the-token!",
            b"",
            b"0123456789abcdef-the-tokeN",
        ];
        for wrong in wrong_ones {
            let mut h = session(config.clone());
            let mut stream = auth(wrong);
            stream.extend(upload("a", b"x", 1));
            assert_eq!(h.input(&stream).flow, Flow::Close);
            assert_eq!(replies(&mut h), ["ERR unauthorized: wrong token"]);
            assert_eq!(h.stats().files_unauthorized.get(), 1);
        }
        let mut h = session(config);
        assert_eq!(h.input(&upload("a", b"x", 1)).flow, Flow::Close);
        let replies = replies(&mut h);
        assert!(replies[0].starts_with("ERR unauthorized: this server needs a token"));
        assert!(listing(&dir).is_empty(), "nothing stored");
    }

    #[test]
    fn a_token_sent_to_an_open_server_changes_nothing() {
        let dir = TempDir::new().unwrap();
        let mut h = session(FilesConfig::new(dir.path()));
        let mut stream = auth(TOKEN);
        stream.extend(upload("a", b"x", 1));
        h.input(&stream);
        assert_eq!(replies(&mut h), [ok(b"x")]);
    }

    fn quota_config(dir: &TempDir, limit: u64, overwrite: bool) -> FilesConfig {
        let quota = Quota::new(limit);
        quota.count_once(dir.path());
        FilesConfig {
            overwrite,
            quota: Some(quota),
            ..FilesConfig::new(dir.path())
        }
    }

    #[test]
    fn the_quota_fills_to_the_byte_and_refuses_one_past_it_before_any_data() {
        let dir = TempDir::new().unwrap();
        fs::write(dir.path().join("old"), [1u8; 40]).unwrap();
        let config = quota_config(&dir, 100, false);
        let mut h = session(config.clone());
        h.input(&upload("fits", &[2u8; 60], 7));
        assert_eq!(replies(&mut h), [ok(&[2u8; 60])]);
        // The header alone is refused: no data frame needed, no part file made.
        let mut h = session(config.clone());
        let one = upload("one-more", b"x", 1);
        let header_len = one.len() - frame(b"x").len();
        assert_eq!(h.input(&one[..header_len]).flow, Flow::Close);
        assert_eq!(
            replies(&mut h),
            ["ERR quota exceeded: 1 bytes do not fit, 0 of 100 bytes are free"]
        );
        assert_eq!(h.stats().files_over_quota.get(), 1);
        assert_eq!(listing(&dir), ["fits", "old"]);
        // A failed upload gives its reservation back.
        let quota = config.quota.clone().unwrap();
        fs::remove_file(dir.path().join("fits")).unwrap();
        quota.release(60); // removed behind the server's back: the test says so itself
        let mut h = session(config.clone());
        let mut bad = upload("bad", &[3u8; 50], 10);
        bad.truncate(bad.len() - 5);
        h.input(&bad);
        h.eof(b"");
        assert_eq!(quota.used(), 40);
    }

    #[test]
    fn an_overwritten_file_gives_its_space_back() {
        let dir = TempDir::new().unwrap();
        fs::write(dir.path().join("f"), [1u8; 80]).unwrap();
        let config = quota_config(&dir, 100, true);
        let quota = config.quota.clone().unwrap();
        let mut h = session(config.clone());
        h.input(&upload("f", &[2u8; 90], 30));
        assert_eq!(replies(&mut h), [ok(&[2u8; 90])]);
        assert_eq!(quota.used(), 90);
        let mut h = session(config);
        h.input(&upload("g", &[2u8; 11], 30));
        assert!(replies(&mut h)[0].starts_with("ERR quota exceeded: 11 bytes"));
        assert_eq!(quota.used(), 90);
    }

    #[test]
    fn service_settings() {
        let svc = Files::new(FilesConfig::new("."));
        assert_eq!(svc.name(), "files");
        assert_eq!(svc.input_limit(), DEFAULT_MAX_DATA_FRAME + 4);
    }
}
