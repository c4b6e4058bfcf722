//! Shared helpers for the provider tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use futures::StreamExt;
use rivulet_core::{
    ApiKey, Chunk, ContentPart, Error, Media, Message, Provider, Request, Response,
};
use rivulet_providers::{build, ProviderConfig};
use rivulet_testkit::{RecordedRequest, Replay, Server};
use serde_json::{json, Value};

/// The key every test provider is built with.
pub const KEY: &str = "sk-test-4f9a1c2e7b3d";

/// A provider `id` pointed at `base_url` with [`KEY`].
pub fn provider(id: &str, base_url: &str) -> Arc<dyn Provider> {
    build(
        id,
        ProviderConfig {
            base_url: Some(base_url.to_string()),
            api_key: Some(ApiKey::new(KEY)),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("cannot build {id}: {e}"))
}

/// Like [`provider`], with Vertex built for project `p` in `global` (its
/// key as a bearer token).
pub fn provider_or_vertex(id: &str, base_url: &str) -> Arc<dyn Provider> {
    if id != "vertex" {
        return provider(id, base_url);
    }
    let config = ProviderConfig {
        base_url: Some(base_url.to_string()),
        api_key: Some(ApiKey::new(KEY)),
        ..Default::default()
    };
    let options = rivulet_providers::google::VertexOptions {
        project: Some("p".into()),
        location: Some("global".into()),
        service_account: None,
    };
    Arc::new(rivulet_providers::google::Google::vertex_with(config, options).unwrap())
}

/// The base URL a provider needs for a testkit server: the server root
/// plus `/v1`, except for Azure whose endpoint is the root.
pub fn base_url(id: &str, server_url: &str) -> String {
    if id == "azure" {
        server_url.to_string()
    } else {
        format!("{server_url}/v1")
    }
}

/// Base64 in either alphabet (google-genai sends the URL-safe one, every
/// other client the standard one; the APIs take both).
pub fn base64_any(text: &str) -> Vec<u8> {
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .unwrap_or_else(|e| panic!("not base64: {e}"))
}

/// The same bytes in standard base64.
pub fn standard_base64(text: &str) -> String {
    STANDARD.encode(base64_any(text))
}

/// A recorded URL as the core media it stands for: a `data:` URL is its
/// bytes with their media type, any other URL is itself.
pub fn media_from_url(url: &str) -> Media {
    match url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    {
        Some((media_type, data)) => Media::data(media_type, base64_any(data)),
        None => Media::url(url),
    }
}

/// A simple request.
pub fn request(model: &str) -> Request {
    Request {
        model: model.to_string(),
        messages: vec![Message::user("hi")],
        ..Default::default()
    }
}

/// One transcript over HTTP: `replay` served once by a loopback server,
/// the provider `make` builds from the server's URL asked for `model`. The
/// differences from `want` ([`compare`]), plus one if the server did not
/// get exactly one request, or got it at another path than `path`; the
/// outcome and the request come along for more checks.
pub async fn over_http(
    replay: Replay,
    make: impl FnOnce(&str) -> Arc<dyn Provider>,
    model: &str,
    want: &Value,
    path: &str,
) -> (Outcome, Option<RecordedRequest>, Vec<String>) {
    let server = Server::start(vec![replay]).await;
    let p = make(&server.url());
    let outcome = run(p.as_ref(), &request(model)).await;
    let mut diffs = compare(&outcome, want);
    let mut reqs = server.requests();
    if reqs.len() != 1 {
        diffs.push(format!("{} requests", reqs.len()));
        return (outcome, None, diffs);
    }
    let req = reqs.remove(0);
    if req.path != path {
        diffs.push(format!("path {}", req.path));
    }
    (outcome, Some(req), diffs)
}

/// Everything a stream produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub chunks: Vec<Chunk>,
    pub response: Response,
    pub error: Option<Error>,
    /// Items after the first error (must be none).
    pub after_error: usize,
}

/// Folds results as a consumer would.
pub fn fold(results: impl IntoIterator<Item = Result<Chunk, Error>>) -> Outcome {
    let mut out = Outcome::default();
    for r in results {
        if out.error.is_some() {
            out.after_error += 1;
            continue;
        }
        match r {
            Ok(c) => {
                out.response.apply(&c);
                out.chunks.push(c);
            }
            Err(e) => out.error = Some(e),
        }
    }
    out
}

/// Opens `request` on `provider` and drains the stream.
pub async fn run(provider: &dyn Provider, request: &Request) -> Outcome {
    match provider.open(request).await {
        Ok(stream) => fold(stream.collect::<Vec<_>>().await),
        Err(e) => Outcome {
            error: Some(e),
            ..Default::default()
        },
    }
}

/// The response's content in the expectation file's shape.
pub fn content_json(r: &Response) -> Value {
    Value::Array(
        r.content
            .iter()
            .map(|p| match p {
                ContentPart::Text(t) => json!({"type": "text", "text": t.text}),
                ContentPart::Thought(t) => {
                    let mut v = json!({"type": "thought", "thought": t.thought});
                    if let Some(s) = &t.signature {
                        v["signature"] = json!(s);
                    }
                    if let Some(r) = &t.redacted {
                        v["redacted"] = json!(r);
                    }
                    v
                }
                ContentPart::ToolCall(c) => {
                    let mut v = json!({
                        "type": "tool_call",
                        "id": c.id,
                        "name": c.name,
                        "args_text": c.args,
                        "args": c.args_json().unwrap_or(Value::String("<invalid JSON>".into())),
                    });
                    if let Some(s) = &c.signature {
                        v["signature"] = json!(s);
                    }
                    v
                }
                ContentPart::Provider(p) => json!({
                    "type": "provider", "provider": p.provider, "kind": p.kind, "json": p.json,
                }),
                ContentPart::Audio(a) => json!({
                    "type": "audio", "id": a.id, "data": a.data, "transcript": a.transcript,
                }),
                ContentPart::ToolOutput(_) => json!({"type": "tool_output"}),
                // Input only: no decoder makes one.
                ContentPart::Image(_) | ContentPart::File(_) => json!({"type": "media"}),
            })
            .collect(),
    )
}

/// Checks the chunk grammar every decoder must follow: parts numbered from
/// 0 in order of first appearance; each part opens with its start chunk (or
/// is audio, or is a provider part, which is one chunk that starts and ends
/// it), carries deltas of its own kind only, ends at most once and gets
/// nothing after its end; metadata and finish reason at most once.
pub fn check_grammar(chunks: &[Chunk]) -> Result<(), String> {
    #[derive(PartialEq, Clone, Copy, Debug)]
    enum K {
        Text,
        Thought,
        Tool,
        Audio,
        Provider,
    }
    let mut parts: BTreeMap<usize, (K, bool)> = BTreeMap::new();
    let mut metadata = 0;
    let mut finish = 0;
    for (i, c) in chunks.iter().enumerate() {
        let (part, kind, start, end) = match c {
            Chunk::TextStart { part } => (*part, K::Text, true, false),
            Chunk::Text { part, .. } => (*part, K::Text, false, false),
            Chunk::TextEnd { part } => (*part, K::Text, false, true),
            Chunk::ThoughtStart { part } => (*part, K::Thought, true, false),
            Chunk::Thought { part, .. } => (*part, K::Thought, false, false),
            Chunk::ThoughtEnd { part, .. } => (*part, K::Thought, false, true),
            Chunk::ToolCallStart { part, .. } => (*part, K::Tool, true, false),
            Chunk::ToolCall { part, .. } => (*part, K::Tool, false, false),
            Chunk::ToolCallEnd { part, .. } => (*part, K::Tool, false, true),
            Chunk::Audio { part, .. } => (*part, K::Audio, false, false),
            Chunk::ProviderPart { part, .. } => (*part, K::Provider, true, true),
            Chunk::Metadata { .. } => {
                metadata += 1;
                continue;
            }
            Chunk::FinishReason { .. } => {
                finish += 1;
                continue;
            }
            _ => continue,
        };
        match parts.get_mut(&part) {
            None => {
                if part != parts.len() {
                    return Err(format!("chunk {i}: part {part} out of order ({c:?})"));
                }
                if !start && kind != K::Audio {
                    return Err(format!(
                        "chunk {i}: part {part} starts without a start chunk ({c:?})"
                    ));
                }
                parts.insert(part, (kind, end));
            }
            Some((k, ended)) => {
                if *k != kind {
                    return Err(format!("chunk {i}: part {part} changes kind ({c:?})"));
                }
                if *ended {
                    return Err(format!(
                        "chunk {i}: part {part} continues after its end ({c:?})"
                    ));
                }
                if start {
                    return Err(format!("chunk {i}: part {part} starts twice ({c:?})"));
                }
                *ended = end;
            }
        }
    }
    if metadata > 1 || finish > 1 {
        return Err(format!("{metadata} metadata and {finish} finish chunks"));
    }
    // Tool-call chunks must carry their call's id.
    let mut ids: BTreeMap<usize, &str> = BTreeMap::new();
    for c in chunks {
        match c {
            Chunk::ToolCallStart { part, id, .. } => {
                ids.insert(*part, id);
            }
            Chunk::ToolCall { part, id, .. } | Chunk::ToolCallEnd { part, id, .. }
                if ids.get(part) != Some(&&**id) =>
            {
                return Err(format!("tool chunk {c:?} does not carry its call's id"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The expectations computed by `expected/generate.py`.
pub fn expectations() -> BTreeMap<String, Value> {
    serde_json::from_str(include_str!("../expected/transcripts.json")).expect("transcripts.json")
}

/// The expectations computed by `expected/generate_anthropic_google.py`.
pub fn anthropic_google_expectations() -> BTreeMap<String, Value> {
    serde_json::from_str(include_str!("../expected/anthropic_google.json"))
        .expect("anthropic_google.json")
}

/// Compares an outcome with its expectation; every difference is listed.
pub fn compare(outcome: &Outcome, expected: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut check = |what: &str, got: Value, want: &Value| {
        if &got != want {
            diffs.push(format!("{what}: got {got}, want {want}"));
        }
    };
    let r = &outcome.response;
    check("content", content_json(r), &expected["content"]);
    check(
        "incomplete_tool_calls",
        json!(r
            .incomplete_tool_calls()
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>()),
        &expected["incomplete_tool_calls"],
    );
    check(
        "usage",
        serde_json::to_value(r.usage).unwrap(),
        &expected["usage"],
    );
    check(
        "finish_reason",
        json!(r.finish_reason.map(|f| f.as_str())),
        &expected["finish_reason"],
    );
    check(
        "raw_finish_reason",
        json!(r.raw_finish_reason),
        &expected["raw_finish_reason"],
    );
    check("id", json!(r.id), &expected["id"]);
    let model = if r.model.is_empty() {
        Value::Null
    } else {
        json!(r.model)
    };
    check("model", model, &expected["model"]);
    match (&outcome.error, &expected["error"]) {
        (None, Value::Null) => {}
        (Some(e), Value::Null) => diffs.push(format!("unexpected error: {e}")),
        (None, want) => diffs.push(format!("no error, want {want}")),
        (Some(e), want) => {
            check("error.kind", json!(e.kind().as_str()), &want["kind"]);
            if !want["message"].is_null() {
                check("error.message", json!(e.message()), &want["message"]);
            }
            check("error.code", json!(e.code()), &want["code"]);
            check("error.status", json!(e.status()), &want["status"]);
            check("error.provider", json!(e.provider()), &expected["provider"]);
        }
    }
    if outcome.after_error > 0 {
        diffs.push(format!("{} items after the error", outcome.after_error));
    }
    if let Err(g) = check_grammar(&outcome.chunks) {
        diffs.push(format!("grammar: {g}"));
    }
    diffs
}
