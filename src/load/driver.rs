//! What a load client sends and how it judges replies, per protocol, without sockets.
//!
//! A [`Driver`] hands out the bytes of one request and takes complete replies off the front of
//! what a connection has received. A reply that is complete but wrong is an error, never
//! throughput; the connection is then out of step and the caller reconnects.

use super::Framing;

/// What became of the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `n` complete, correct replies were taken (possibly 0: need more bytes).
    Replies(usize),
    /// The next reply is complete and wrong.
    Wrong,
}

/// One protocol's request and reply check.
#[derive(Debug, Clone)]
pub struct Driver {
    request: Vec<u8>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// The reply is the request, byte for byte (echo, framed echo).
    Mirror,
    /// An HTTP/1.1 response with a 2xx status and a Content-Length body.
    Http,
}

/// A payload of `size` printable bytes, never containing a line feed.
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

impl Driver {
    /// Echo: `size` bytes, echoed back.
    pub fn echo(size: usize) -> Driver {
        Driver {
            request: payload(size),
            kind: Kind::Mirror,
        }
    }

    /// Framed echo: one frame of `size` payload bytes, echoed back as the same frame.
    pub fn framed(framing: Framing, size: usize) -> Driver {
        let body = payload(size);
        let request = match framing {
            Framing::Length => {
                let mut r = (size as u32).to_be_bytes().to_vec();
                r.extend_from_slice(&body);
                r
            }
            Framing::Line => {
                let mut r = body;
                r.push(b'\n');
                r
            }
        };
        Driver {
            request,
            kind: Kind::Mirror,
        }
    }

    /// HTTP/1.1: `method path` with a Host header, keep-alive.
    pub fn http(method: &str, path: &str, host: &str) -> Driver {
        Driver {
            request: format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(),
            kind: Kind::Http,
        }
    }

    /// The bytes of one request.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Takes every complete reply off the front of `received`.
    pub fn take(&self, received: &mut Vec<u8>) -> Verdict {
        let mut replies = 0;
        loop {
            let step = match self.kind {
                Kind::Mirror => self.take_mirror(received),
                Kind::Http => take_http(received),
            };
            match step {
                Step::One(used) => {
                    received.drain(..used);
                    replies += 1;
                }
                Step::Incomplete => return Verdict::Replies(replies),
                Step::Wrong => return Verdict::Wrong,
            }
        }
    }

    fn take_mirror(&self, received: &[u8]) -> Step {
        let want = self.request.len();
        match received.get(..want) {
            None => {
                // Even a partial reply can already be known wrong.
                if self.request.starts_with(received) {
                    Step::Incomplete
                } else {
                    Step::Wrong
                }
            }
            Some(reply) if reply == self.request => Step::One(want),
            Some(_) => Step::Wrong,
        }
    }
}

enum Step {
    One(usize),
    Incomplete,
    Wrong,
}

fn take_http(received: &[u8]) -> Step {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(received) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Step::Incomplete,
        Err(_) => return Step::Wrong,
    };
    let ok = response.code.is_some_and(|c| (200..300).contains(&c));
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let no_body = matches!(response.code, Some(204 | 304));
    match (ok, length, no_body) {
        (false, _, _) => Step::Wrong,
        (true, _, true) => Step::One(head),
        // A 2xx without a length cannot be delimited on a kept-alive connection.
        (true, None, false) => Step::Wrong,
        (true, Some(len), false) if received.len() >= head + len => Step::One(head + len),
        (true, Some(_), false) => Step::Incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_replies_split_and_stuck_together() {
        let d = Driver::echo(4);
        let mut rx = b"abcdab".to_vec();
        assert_eq!(d.take(&mut rx), Verdict::Replies(1));
        assert_eq!(rx, b"ab");
        rx.extend_from_slice(b"cd");
        assert_eq!(d.take(&mut rx), Verdict::Replies(1));
        assert!(rx.is_empty());
        let mut wrong = b"abX".to_vec();
        assert_eq!(
            d.take(&mut wrong),
            Verdict::Wrong,
            "known wrong before complete"
        );
    }

    #[test]
    fn framed_requests_are_well_formed() {
        let d = Driver::framed(Framing::Length, 3);
        assert_eq!(d.request(), b"\0\0\0\x03abc");
        let d = Driver::framed(Framing::Line, 3);
        assert_eq!(d.request(), b"abc\n");
    }

    #[test]
    fn http_responses_need_2xx_and_their_whole_body() {
        let d = Driver::http("GET", "/plain", "h");
        assert!(
            d.request()
                .starts_with(b"GET /plain HTTP/1.1\r\nHost: h\r\n")
        );
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let mut rx = ok[..ok.len() - 1].to_vec();
        assert_eq!(d.take(&mut rx), Verdict::Replies(0));
        rx.extend_from_slice(b"i");
        rx.extend_from_slice(ok);
        assert_eq!(d.take(&mut rx), Verdict::Replies(2));
        let mut bad = b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec();
        assert_eq!(d.take(&mut bad), Verdict::Wrong);
        let mut garbage = b"NOT HTTP\r\n\r\n".to_vec();
        assert_eq!(d.take(&mut garbage), Verdict::Wrong);
    }
}
