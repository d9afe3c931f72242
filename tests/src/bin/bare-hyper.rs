//! Benchmark-only: the floor of the stack tokenauth-stub is built on. A bare hyper 1.x HTTP/1.1
//! server on the same tokio runtime flavour that answers every request with one fixed status,
//! header set and body (those `scripts/bench-load.sh` captured from the stub's own
//! `serverInfo`), so the stub's anonymous request can be held against it in one run: what the
//! middleware, routing, extractors and JSON cost on top of the sockets and the HTTP parser.
//!
//!   bare-hyper --bind 127.0.0.1:0 --body-file body.json --header 'content-type: application/json'
//!
//! Prints `bare-hyper listening on http://ADDR` on its first line, like the stub.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark tool: fail loudly

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The stub's allocator (its `main.rs`): the floor is the stack, not the allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut body = Bytes::new();
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    while let Some(a) = args.next() {
        let value = args.next().expect("every option takes a value");
        match a.as_str() {
            "--bind" => bind = value.parse().expect("--bind ADDR:PORT"),
            "--body-file" => body = std::fs::read(&value).expect("--body-file FILE").into(),
            "--header" => {
                let (n, v) = value.split_once(':').expect("--header 'name: value'");
                headers.push((
                    HeaderName::from_bytes(n.trim().as_bytes()).expect("header name"),
                    HeaderValue::from_str(v.trim()).expect("header value"),
                ));
            }
            other => panic!("unknown option {other}"),
        }
    }
    // The stub's runtime: tokio's multi-threaded one with its defaults (one worker per core the
    // process may run on).
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(serve(bind, body, headers));
}

async fn serve(bind: SocketAddr, body: Bytes, headers: Vec<(HeaderName, HeaderValue)>) {
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    println!(
        "bare-hyper listening on http://{}",
        listener.local_addr().unwrap()
    );
    let headers = std::sync::Arc::new(headers);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (body, headers) = (body.clone(), headers.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let mut res = Response::new(Full::new(body.clone()));
                    for (n, v) in headers.iter() {
                        res.headers_mut().append(n.clone(), v.clone());
                    }
                    async move { Ok::<_, Infallible>(res) }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
