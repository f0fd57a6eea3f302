//! How a `mio::Token` names what became ready.
//!
//! The token space is split in two. Low numbers are *endpoints* — TCP listeners and UDP
//! sockets, fixed for the reactor's life, indexed into a `Vec`. From [`FIRST_CONN`] up, a token
//! is a connection: `token - FIRST_CONN` is its key in the connection slab, so dispatch is an
//! index, never a hash lookup. Two tokens at the very top are the signal pipe and the waker.

use mio::Token;

/// The most endpoints (listeners plus UDP sockets) one reactor can have.
pub const MAX_ENDPOINTS: usize = 1024;

/// The first connection token.
pub const FIRST_CONN: usize = MAX_ENDPOINTS;

/// SIGINT / SIGTERM arrived.
pub const SIGNALS: Token = Token(usize::MAX - 1);

/// Another thread asked the reactor to stop.
pub const WAKER: Token = Token(usize::MAX - 2);

/// What a token refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A listener or UDP socket, by index.
    Endpoint(usize),
    /// A connection, by slab key.
    Conn(usize),
    /// The signal pipe.
    Signals,
    /// The cross-thread waker.
    Waker,
}

/// The token of endpoint number `index`.
pub fn endpoint(index: usize) -> Token {
    debug_assert!(index < MAX_ENDPOINTS);
    Token(index)
}

/// The token of the connection with slab key `key`.
pub fn conn(key: usize) -> Token {
    Token(FIRST_CONN + key)
}

/// Decodes a token.
pub fn target(token: Token) -> Target {
    match token {
        SIGNALS => Target::Signals,
        WAKER => Target::Waker,
        Token(n) if n < FIRST_CONN => Target::Endpoint(n),
        Token(n) => Target::Conn(n - FIRST_CONN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        assert_eq!(target(endpoint(3)), Target::Endpoint(3));
        assert_eq!(target(conn(0)), Target::Conn(0));
        assert_eq!(target(conn(12345)), Target::Conn(12345));
        assert_eq!(target(SIGNALS), Target::Signals);
        assert_eq!(target(WAKER), Target::Waker);
    }
}
