//! The hyper peer for HTTP comparisons: hyper 1.x on a tokio `current_thread` runtime (one
//! thread, like one evserve reactor), answering every request with a fixed 13-byte
//! `Hello, World!` — the counterpart of evserve's `GET /plain` — or, on `/json`, TechEmpower's
//! JSON document.
//!
//! Run: `cargo run --release --example hyper_plain -- 127.0.0.1:8081`. Dev-only: the server
//! itself never depends on an async runtime.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn plain(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // `/json` is TechEmpower's JSON test, as evserve's `GET /json`; any other path is `/plain`.
    let (body, content_type): (&'static [u8], &str) = if req.uri().path() == "/json" {
        (br#"{"message":"Hello, World!"}"#, "application/json")
    } else {
        (b"Hello, World!", "text/plain")
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(body)));
    resp.headers_mut()
        .insert("content-type", content_type.parse().expect("static header"));
    Ok(resp)
}

/// Binds a listener with the same backlog as evserve and nginx in `benches/compare.sh` (std's
/// `TcpListener::bind` asks for 128, which drops SYNs when 1000 connections open at once).
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Serves on `listener` forever, on a new `current_thread` runtime on this thread.
pub fn serve(listener: std::net::TcpListener) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::task::spawn(async move {
                let _ = http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service_fn(plain))
                    .await;
            });
        }
    })
}

/// Starts the peer on a 127.0.0.1 port of its own, on its own thread; returns the address.
#[allow(dead_code)] // used by benches, not by the example binary
pub fn spawn() -> SocketAddr {
    let listener = listen(([127, 0, 0, 1], 0).into()).expect("bind hyper peer");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || serve(listener));
    addr
}

#[allow(dead_code)] // the entry point when built as the example, not when a bench includes it
fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".into())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = listen(addr)?;
    eprintln!("hyper peer listening on {}", listener.local_addr()?);
    serve(listener)
}
