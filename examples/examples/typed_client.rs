//! Lists the nodes of a running admin API with the typed client.
//! Run: `cargo run -p gonka-examples --example typed_client [http://127.0.0.1:9200]`.

#[tokio::main]
async fn main() -> Result<(), gonka_admin::ClientError> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:9200".into());
    let admin = gonka_admin::Client::new(base);
    for record in admin.list().await? {
        let (node, state) = (record.node, record.state);
        println!(
            "{} #{} {}:{} enabled={}",
            node.id, node.node_num, node.host, node.inference_port, state.admin_state.enabled
        );
    }
    Ok(())
}
