//! `rivulet serve` in-process on a loopback port, every model pointed at a
//! replay server. Shared by the server's tests (`#[path]`-included).

use std::sync::Arc;

use rivulet::Model;
use rivulet_server::{serve, ServeConfig};
use rivulet_testkit::Server;

/// The server's default model in these tests.
pub const MODEL: &str = "openai/gpt-4o";

/// The server with `config` on a loopback port, its default model
/// [`MODEL`] and every model pointed at `upstream`; its base URL. It runs
/// until the test's runtime ends.
pub async fn start_with(upstream: &Server, config: ServeConfig) -> String {
    let url = upstream.url();
    let config = ServeConfig {
        default_model: MODEL.into(),
        prepare: Some(Arc::new(move |m: Model| {
            m.base_url(format!("{url}/v1"))
                .api_key("sk-test")
                .retries(0)
        })),
        ..config
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, config, std::future::pending()));
    base
}
