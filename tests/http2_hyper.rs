//! HTTP/2 from a Rust client: hyper's (its `h2` crate underneath, which shares no code with
//! evserve) speaking h2c by prior knowledge to a spawned server, on one connection: a file, a
//! 404, an upload, and many requests at once, a large download among them.

mod util;

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper::{Method, Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};

use util::{Server, pattern};

/// A server on a fresh document root holding `small.txt` and a 2 MB `big.bin`, uploads
/// allowed.
fn serve() -> (Server, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("small.txt"), b"small file\n").unwrap();
    std::fs::write(root.path().join("big.bin"), pattern(2_000_000, 7)).unwrap();
    let dir = root.path().to_str().unwrap().to_owned();
    let args = [
        "--http",
        "127.0.0.1:0",
        "--root",
        &dir,
        "--writable",
        "--writable-without-auth",
    ];
    (Server::start(&args, 1), root)
}

/// Sends one request on the connection; returns its status and whole body.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: Method,
    url: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

async fn exchanges(addr: SocketAddr) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let driver = tokio::spawn(connection);
    let base = format!("http://{addr}");

    let (status, body) = send(
        &mut sender,
        Method::GET,
        &format!("{base}/small.txt"),
        vec![],
    )
    .await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, &b"small file\n"[..])
    );
    let (status, body) = send(&mut sender, Method::GET, &format!("{base}/nope"), vec![]).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::NOT_FOUND, &b"404 Not Found\n"[..])
    );

    let upload = pattern(300_000, 3);
    let url = format!("{base}/files/up.bin");
    let (status, _) = send(&mut sender, Method::PUT, &url, upload.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(&mut sender, Method::GET, &url, vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == upload, "the upload read back: {} bytes", body.len());

    // Twenty streams at once on the same connection, a 2 MB download among them: each
    // gets its own answer, whole.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let mut sender = sender.clone();
        let path = match i % 4 {
            0 => "/big.bin",
            1 => "/small.txt",
            2 => "/plain",
            _ => "/nope",
        };
        let url = format!("{base}{path}");
        tasks.push(tokio::spawn(async move {
            (i, send(&mut sender, Method::GET, &url, vec![]).await)
        }));
    }
    let big = pattern(2_000_000, 7);
    for task in tasks {
        let (i, (status, body)) = task.await.unwrap();
        match i % 4 {
            0 => assert!(
                status == StatusCode::OK && body == big,
                "stream {i}: {status}"
            ),
            1 => assert_eq!(
                (status, body.as_slice()),
                (StatusCode::OK, &b"small file\n"[..])
            ),
            2 => assert_eq!(
                (status, body.as_slice()),
                (StatusCode::OK, &b"Hello, World!"[..])
            ),
            _ => assert_eq!(status, StatusCode::NOT_FOUND),
        }
    }

    // All of it on this one connection.
    let (status, body) = send(&mut sender, Method::GET, &format!("{base}/stats"), vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let stats: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stats["http2_connections"], 1, "{stats}");
    assert!(stats["http2_streams"].as_u64() >= Some(25), "{stats}");
    drop(sender);
    driver.await.unwrap().unwrap();
}

#[test]
fn hyper_over_h2c_gets_a_file_a_404_an_upload_and_twenty_streams_on_one_connection() {
    let (server, _root) = serve();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), exchanges(server.tcp("http")))
            .await
            .expect("the exchanges took over 60 s");
    });
}
