//! may_minihttp (long the fastest Rust entry of TechEmpower's plaintext test) serving
//! `/plain` and `/json` as evserve does, on one worker thread: `may_plain ADDR`.

use std::io;

use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};

#[derive(Clone)]
struct Plain;

impl HttpService for Plain {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        match req.path() {
            "/plain" => {
                rsp.header("Content-Type: text/plain").body("Hello, World!");
            }
            "/json" => {
                rsp.header("Content-Type: application/json")
                    .body(r#"{"message":"Hello, World!"}"#);
            }
            _ => {
                rsp.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

struct Factory;

impl HttpServiceFactory for Factory {
    type Service = Plain;

    fn new_service(&self, _: usize) -> Plain {
        Plain
    }
}

fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    may::config().set_workers(1);
    let server = Factory.start(addr).expect("bind");
    server.wait();
}
