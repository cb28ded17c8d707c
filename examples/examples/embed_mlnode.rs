//! Runs the ML node agent with a custom engine (`EchoBackend`): management API on
//! `127.0.0.1:8080`, inference proxy on `127.0.0.1:5000`. Run:
//! `cargo run -p gonka-examples --example embed_mlnode`, then
//! `curl -X POST localhost:8080/api/v1/inference/up -d '{"model":"echo-model"}'`,
//! `curl localhost:8080/api/v1/state` and
//! `curl localhost:5000/v1/chat/completions -d '{"model":"echo-model","messages":[{"role":"user","content":"hi"}]}'`.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mgmt = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    let inference = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
    println!(
        "management http://{}, inference http://{}",
        mgmt.local_addr()?,
        inference.local_addr()?
    );
    let agent = gonka_examples::embed_mlnode::agent(gonka_mlnode::MlNodeConfig::default());
    gonka_mlnode::run_agent(agent, mgmt, inference, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
