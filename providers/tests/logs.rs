//! Logs never carry the key. A test binary of its own: tracing caches
//! per-callsite interest process-wide, so a scoped subscriber is only
//! reliable when no other test runs beside it.

mod common;

use std::sync::{Arc, Mutex};

use common::{provider, request, run, KEY};
use rivulet_testkit::{wire, Replay, Server};

/// A subscriber that writes every event and span field it sees to a string.
struct Capture(Arc<Mutex<String>>);

impl tracing::field::Visit for Capture {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .lock()
            .unwrap()
            .push_str(&format!("{}={:?} ", field.name(), value));
    }
}

struct Subscriber(Arc<Mutex<String>>);

impl tracing::Subscriber for Subscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Capture(self.0.clone()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Capture(self.0.clone()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut Capture(self.0.clone()));
        self.0.lock().unwrap().push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn logs_never_carry_the_key() {
    let log = Arc::new(Mutex::new(String::new()));
    let _guard = tracing::subscriber::set_default(Subscriber(log.clone()));
    let server = Server::start(vec![
        Replay::json(
            400,
            r#"{"error":{"message":"stream_options not supported"}}"#,
        ),
        Replay::sse(wire("openai-chat/text_include_usage.sse")),
    ])
    .await;
    let p = provider("openai", &format!("{}/v1", server.url()));
    assert!(run(p.as_ref(), &request("m")).await.error.is_none());
    let text = log.lock().unwrap().clone();
    assert!(
        text.contains("stream_options"),
        "the fallback is logged: {text}"
    );
    assert!(text.contains("built provider"), "{text}");
    assert!(!text.contains(KEY), "{text}");

    // The Anthropic and Google protocols too, Vertex with a token.
    for (id, file) in [
        ("anthropic", "anthropic/text.sse"),
        ("google", "gemini/text.sse"),
        ("vertex", "gemini/vertex_text.sse"),
    ] {
        let server = Server::start(vec![Replay::sse(wire(file))]).await;
        let config = rivulet_providers::ProviderConfig {
            base_url: Some(server.url()),
            api_key: Some(rivulet_core::ApiKey::new(KEY)),
            ..Default::default()
        };
        let p: Arc<dyn rivulet_core::Provider> = if id == "vertex" {
            let options = rivulet_providers::google::VertexOptions {
                project: Some("p".into()),
                ..Default::default()
            };
            Arc::new(rivulet_providers::Google::vertex_with(config, options).unwrap())
        } else {
            rivulet_providers::build(id, config).unwrap()
        };
        let out = run(p.as_ref(), &request("m")).await;
        assert!(out.error.is_none(), "{id}: {:?}", out.error);
    }
    let text = log.lock().unwrap().clone();
    assert!(
        text.contains("Anthropic") && text.contains("Google"),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
}
