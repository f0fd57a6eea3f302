//! HTTP/1.1, as a sans-IO origin server.
//!
//! The wire layer, from the bytes up:
//!
//! ```text
//!  request.rs   find the end of a head (incrementally), parse it with httparse, decide framing
//!  body.rs      unframe a body: Content-Length or chunked, incrementally, strictly
//!  status.rs    the status codes we send
//!  response.rs  write response heads into the output buffer; the Date cache
//! ```

pub mod body;
pub mod request;
pub mod response;
pub mod status;
