//! The yardstick for benches/run.sh: a bare axum server answering a small HTML page, with nothing
//! of Learnwell in the way. Pages are measured as a share of what this serves in the same run, so
//! the figures compare across machines.
//!
//!     cargo run --release --example bare_axum -- 127.0.0.1:3918

use axum::Router;
use axum::response::Html;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3918".to_owned());
    let app = Router::new().route(
        "/",
        get(|| async { Html("<!doctype html><html lang=\"en\"><title>Hello</title><h1>Hello, world!</h1></html>") }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
