//! Serves your own route (`/hello`) and the gonka admin API from one axum app, on an in-memory
//! registry. Run: `cargo run -p gonka-examples --example embed_admin`, then
//! `curl localhost:9200/hello` and `curl localhost:9200/admin/v1/nodes`.

use std::sync::Arc;

use gonka_core::MemoryRegistry;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = gonka_examples::embed_admin::app(Arc::new(MemoryRegistry::new()));
    let addr = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:9200".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
