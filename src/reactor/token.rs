//! How a `mio::Token` names what became ready.
//!
//! The token space is split in two. Low numbers are *endpoints* — TCP listeners and UDP
//! sockets, fixed for the reactor's life, indexed into a `Vec`. From [`FIRST_CONN`] up, a token
//! is a connection: `token - FIRST_CONN` is its key in the connection slab, so dispatch is an
//! index, never a hash lookup. Two tokens at the very top are the signal pipe and the waker.

use mio::Token;

/// The most endpoints (listeners plus UDP sockets) one reactor can have.
pub(crate) const MAX_ENDPOINTS: usize = 1024;

/// The first connection token.
pub(crate) const FIRST_CONN: usize = MAX_ENDPOINTS;

/// SIGINT / SIGTERM arrived.
pub(crate) const SIGNALS: Token = Token(usize::MAX - 1);

/// Another thread asked the reactor to stop.
pub(crate) const WAKER: Token = Token(usize::MAX - 2);

/// What a token refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
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
pub(crate) fn endpoint(index: usize) -> Token {
    debug_assert!(index < MAX_ENDPOINTS);
    Token(index)
}

/// The token of the connection with slab key `key`.
pub(crate) fn conn(key: usize) -> Token {
    Token(FIRST_CONN + key)
}

/// Decodes a token.
pub(crate) fn target(token: Token) -> Target {
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
    use crate::reactor::token;

    #[test]
    fn tokens_round_trip() {
        assert_eq!(target(endpoint(3)), Target::Endpoint(3));
        assert_eq!(target(conn(0)), Target::Conn(0));
        assert_eq!(target(conn(12345)), Target::Conn(12345));
        assert_eq!(target(SIGNALS), Target::Signals);
        assert_eq!(target(WAKER), Target::Waker);
    }

    #[test]
    fn tokens_split_endpoints_connections_and_the_two_specials() {
        assert_eq!(FIRST_CONN, MAX_ENDPOINTS);
        assert_eq!(token::endpoint(0).0, 0);
        assert_eq!(
            token::target(token::endpoint(MAX_ENDPOINTS - 1)),
            Target::Endpoint(MAX_ENDPOINTS - 1)
        );
        assert_eq!(token::conn(0).0, FIRST_CONN);
        assert_eq!(token::target(mio::Token(FIRST_CONN)), Target::Conn(0));
        for key in [0, 1, 4095, 1 << 20] {
            assert_eq!(token::target(token::conn(key)), Target::Conn(key));
        }
        assert_eq!(token::target(token::SIGNALS), Target::Signals);
        assert_eq!(token::target(token::WAKER), Target::Waker);
        assert_ne!(token::SIGNALS, token::WAKER);
        // The specials sit far above any slab key a reactor could reach.
        assert!(token::WAKER.0.min(token::SIGNALS.0) > token::conn(1 << 40).0);
    }
}
