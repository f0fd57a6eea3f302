//! xitca-web serving `/plain` and `/json` as evserve does, on one worker thread:
//! `xitca_plain ADDR`.

use xitca_web::{App, handler::handler_service, http::header, route::get};

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    App::new()
        .at("/plain", get(handler_service(|| async { "Hello, World!" })))
        .at(
            "/json",
            get(handler_service(|| async {
                (
                    r#"{"message":"Hello, World!"}"#,
                    [(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"))],
                )
            })),
        )
        .serve()
        .worker_threads(1)
        .bind(addr)?
        .run()
        .wait()
}
