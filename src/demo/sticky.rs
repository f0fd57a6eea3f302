//! Lesson: TCP "sticky packets". A stream has no message boundaries.
//!
//! A sender calls `write` twice, with `"hello"` and then `"world"`; TCP only promises that the
//! ten bytes arrive in order. How many `read`s they take depends on when the reader reads:
//! whatever sits in the receive buffer at that moment comes out together. Under load the
//! reader is always a little late, so the experiment makes it late on purpose (it waits until
//! both messages are in its receive buffer) and the glue is then certain, not a matter of luck.
//!
//! The fixes, against evserve's real services:
//!
//! 1. A length header (`--framed`, [`Framing::Length`](evserve::protocol::framed::Framing)): the
//!    receiver reads 4 bytes of length, then exactly that many.
//! 2. A delimiter (`--framed` with lines): the receiver cuts at each `\n`.
//! 3. `sleep()` between sends: not a fix. It works only while the reader reads during the
//!    pause; a reader that comes late finds both messages glued again.
//!
//! The echo service returns the stream as it came; the framed service decodes every whole
//! frame in whatever it read ([`evserve::protocol::frame`]) and answers each as one frame.

use std::fmt;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Shown, loopback, read_once, start, wait_buffered};
use evserve::config::Limits;
use evserve::protocol::frame::{Decoder, Encoder, Frame, FrameError, LengthCodec, LineCodec};
use evserve::protocol::framed::FramedConfig;
use evserve::server::ServiceSpec;

/// The two messages every trial sends.
pub const MESSAGES: [&str; 2] = ["hello", "world"];

/// The pause of the "sleep between sends" trials.
pub const PAUSE: Duration = Duration::from_millis(100);

/// One trial: what was sent, the size of each `read`, and the messages the reader made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    /// The bytes each `write` call sent (framing included).
    pub writes: Vec<Vec<u8>>,
    /// The number of bytes each `read` returned.
    pub reads: Vec<usize>,
    /// The messages the reader recovered.
    pub messages: Vec<String>,
}

/// What the sticky-packet lesson observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickyReport {
    /// Two writes to the echo service, read late with no framing.
    pub unframed: Trial,
    /// Two length-prefixed frames to the framed service, read late, decoded.
    pub length: Trial,
    /// Two `\n`-terminated lines to the line-framed service, read late, decoded.
    pub delimiter: Trial,
    /// Two writes with [`PAUSE`] between, a reader waiting in `read` the whole time.
    pub sleep_eager_reader: Trial,
    /// The same writes and pause, read by a reader that reads after both arrived.
    pub sleep_late_reader: Trial,
}

/// Runs the lesson against evserve's echo and framed services.
pub fn run() -> io::Result<StickyReport> {
    let echo = start(ServiceSpec::Echo(loopback()), Limits::default())?;
    let length = start(
        ServiceSpec::Framed(loopback(), FramedConfig::length()),
        Limits::default(),
    )?;
    let line = start(
        ServiceSpec::Framed(loopback(), FramedConfig::line()),
        Limits::default(),
    )?;

    let plain: Vec<Vec<u8>> = MESSAGES.iter().map(|m| m.as_bytes().to_vec()).collect();

    let unframed = late_reader(echo.addrs[0], &plain, None, |bytes| {
        vec![String::from_utf8_lossy(bytes).into_owned()]
    })?;

    let codec = LengthCodec::default();
    let mut framed = Vec::new();
    for m in MESSAGES {
        let mut frame = Vec::new();
        codec
            .encode(m.as_bytes(), &mut frame)
            .map_err(io::Error::other)?;
        framed.push(frame);
    }
    let length = late_reader(length.addrs[0], &framed, None, |bytes| {
        let mut codec = LengthCodec::default();
        decode_all(bytes, |b| codec.decode(b))
    })?;

    let lines: Vec<Vec<u8>> = MESSAGES.iter().map(|m| format!("{m}\n").into()).collect();
    let delimiter = late_reader(line.addrs[0], &lines, None, |bytes| {
        let mut codec = LineCodec::default();
        decode_all(bytes, |b| codec.decode(b))
    })?;

    let sleep_eager_reader = eager_reader(echo.addrs[0], &plain)?;
    let sleep_late_reader = late_reader(echo.addrs[0], &plain, Some(PAUSE), |bytes| {
        vec![String::from_utf8_lossy(bytes).into_owned()]
    })?;

    Ok(StickyReport {
        unframed,
        length,
        delimiter,
        sleep_eager_reader,
        sleep_late_reader,
    })
}

/// What a decoder makes of the bytes it is offered: a frame, "not yet", or an error.
type Decoded<'a> = Result<Option<Frame<'a>>, FrameError>;

/// Every whole frame in `bytes`, as the framed service's session loops over its input: decode,
/// consume the frame's bytes, decode again until the decoder says "not yet".
fn decode_all<'a>(
    mut bytes: &'a [u8],
    mut decode: impl FnMut(&'a [u8]) -> Decoded<'a>,
) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Some(frame)) = decode(bytes) {
        out.push(String::from_utf8_lossy(frame.payload).into_owned());
        bytes = &bytes[frame.consumed..];
    }
    out
}

/// Sends `writes` (with `pause` between them, if any), waits until every answer byte is in
/// the receive buffer, then reads once.
fn late_reader(
    addr: std::net::SocketAddr,
    writes: &[Vec<u8>],
    pause: Option<Duration>,
    interpret: impl Fn(&[u8]) -> Vec<String>,
) -> io::Result<Trial> {
    let mut stream = TcpStream::connect(addr)?;
    for (i, w) in writes.iter().enumerate() {
        if i > 0
            && let Some(p) = pause
        {
            std::thread::sleep(p);
        }
        stream.write_all(w)?;
    }
    let total: usize = writes.iter().map(Vec::len).sum();
    wait_buffered(&stream, total)?;
    let got = read_once(&mut stream, 4096)?;
    Ok(Trial {
        writes: writes.to_vec(),
        reads: vec![got.len()],
        messages: interpret(&got),
    })
}

/// Sends `writes` with [`PAUSE`] between them while another thread sits in `read`, reading
/// each chunk the moment it arrives, until every byte came back.
fn eager_reader(addr: std::net::SocketAddr, writes: &[Vec<u8>]) -> io::Result<Trial> {
    let mut stream = TcpStream::connect(addr)?;
    let mut reader = stream.try_clone()?;
    let total: usize = writes.iter().map(Vec::len).sum();
    let reading = std::thread::spawn(move || -> io::Result<Vec<Vec<u8>>> {
        let mut chunks = Vec::new();
        let mut got = 0;
        while got < total {
            let chunk = read_once(&mut reader, 4096)?;
            if chunk.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            got += chunk.len();
            chunks.push(chunk);
        }
        Ok(chunks)
    });
    for (i, w) in writes.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(PAUSE);
        }
        stream.write_all(w)?;
    }
    let chunks = reading
        .join()
        .map_err(|_| io::Error::other("reader thread panicked"))??;
    Ok(Trial {
        writes: writes.to_vec(),
        reads: chunks.iter().map(Vec::len).collect(),
        messages: chunks
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect(),
    })
}

impl fmt::Display for Trial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let writes: Vec<String> = self.writes.iter().map(|w| Shown(w).to_string()).collect();
        let reads: Vec<String> = self.reads.iter().map(|n| n.to_string()).collect();
        let messages: Vec<String> = self
            .messages
            .iter()
            .map(|m| Shown(m.as_bytes()).to_string())
            .collect();
        writeln!(
            f,
            "    sent     {} write(s): {}",
            self.writes.len(),
            writes.join(", ")
        )?;
        writeln!(
            f,
            "    received {} read(s) of {} bytes",
            self.reads.len(),
            reads.join(" + ")
        )?;
        writeln!(
            f,
            "    messages {}: {}",
            self.messages.len(),
            messages.join(", ")
        )
    }
}

impl fmt::Display for StickyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== sticky: a TCP stream has no message boundaries ==")?;
        writeln!(
            f,
            "1. No framing (echo service). The reader reads late, as it does under load:"
        )?;
        write!(f, "{}", self.unframed)?;
        writeln!(
            f,
            "   Two writes, one read: the kernel hands over whatever is queued, and the two\n   \
             messages are glued together. Nothing in the bytes says where one ends."
        )?;
        writeln!(
            f,
            "2. Fix: a 4-byte length header before each message (framed service):"
        )?;
        write!(f, "{}", self.length)?;
        writeln!(
            f,
            "   Still one read, but the reader knows each length, so it cuts them apart again."
        )?;
        writeln!(
            f,
            "3. Fix: a delimiter after each message (framed service, lines):"
        )?;
        write!(f, "{}", self.delimiter)?;
        writeln!(
            f,
            "   One read; cutting at each \\n recovers both (the message must not contain \\n)."
        )?;
        writeln!(
            f,
            "4. \"Fix\": sleep {PAUSE:?} between the sends, reader waiting in read():"
        )?;
        write!(f, "{}", self.sleep_eager_reader)?;
        if self.sleep_eager_reader.reads.len() > 1 {
            writeln!(
                f,
                "   Two reads this time, as usual: the first message came back while the sender slept."
            )?;
        } else {
            writeln!(
                f,
                "   One read even so: the reader was slower than the sleep this time. See 5."
            )?;
        }
        writeln!(f, "5. The same sleep, but the reader reads late:")?;
        write!(f, "{}", self.sleep_late_reader)?;
        writeln!(
            f,
            "   Glued again. sleep() only hides the problem, and slows every sender down;\n   \
             the receiver must find the boundaries itself (2 or 3)."
        )
    }
}
