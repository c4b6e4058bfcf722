//! The bench program's Rust peers, as client processes:
//! `bench-peers __client async-openai|genai URL STREAMS SUBS N_CHUNKS`.
//!
//! `bench/src/main.rs` builds and runs it, as it runs its own clients: the
//! same arguments, the same streams at once, the same figures printed at
//! the end. Each stream's text is checked against what the server sent.
//! A program of its own so that these crates' features never reach
//! rivulet's build (see `Cargo.toml`).

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use rivulet_testkit::bench::{all_streams, client_runtime, print_figures, raise_fd_limit, Seen};
use rivulet_testkit::{Framing, Generated};

/// One async-openai stream: `chat().create_stream`, the text of each
/// chunk's first choice.
async fn async_openai_stream(
    client: &async_openai::Client<async_openai::config::OpenAIConfig>,
) -> Seen {
    use async_openai::types::chat::{
        ChatCompletionRequestUserMessage, ChatCompletionStreamOptions,
        CreateChatCompletionRequestArgs,
    };
    let request = CreateChatCompletionRequestArgs::default()
        .model("bench")
        .messages([ChatCompletionRequestUserMessage::from("go").into()])
        .stream_options(ChatCompletionStreamOptions {
            include_usage: Some(true),
            ..Default::default()
        })
        .build()
        .expect("async-openai request");
    let mut chunks = client
        .chat()
        .create_stream(request)
        .await
        .expect("async-openai stream");
    let mut seen = Seen::default();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.expect("async-openai chunk");
        if let Some(text) = chunk
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.delta.content)
        {
            seen.delta(&text);
        }
    }
    seen
}

/// One genai stream: `exec_chat_stream`, the text of its `Chunk` events.
async fn genai_stream(client: &genai::Client) -> Seen {
    use genai::chat::{ChatMessage, ChatOptions, ChatRequest, ChatStreamEvent};
    let request = ChatRequest::new(vec![ChatMessage::user("go")]);
    let options = ChatOptions::default().with_capture_usage(true);
    let mut events = client
        .exec_chat_stream("bench", request, Some(&options))
        .await
        .expect("genai stream")
        .stream;
    let mut seen = Seen::default();
    while let Some(event) = events.next().await {
        if let ChatStreamEvent::Chunk(c) = event.expect("genai event") {
            seen.delta(&c.content);
        }
    }
    seen
}

/// A genai client whose every model is the loopback server's, through
/// genai's OpenAI adapter.
fn genai_client(url: &str) -> genai::Client {
    use genai::adapter::AdapterKind;
    use genai::resolver::{AuthData, Endpoint, ServiceTargetResolver};
    use genai::{ModelIden, ServiceTarget};
    // genai joins `chat/completions` to the base: it needs the final slash.
    let base: Arc<str> = format!("{url}/v1/").into();
    let resolver = ServiceTargetResolver::from_resolver_fn(
        move |target: ServiceTarget| -> Result<ServiceTarget, genai::resolver::Error> {
            Ok(ServiceTarget {
                endpoint: Endpoint::from_owned(base.clone()),
                auth: AuthData::from_single("bench"),
                model: ModelIden::new(AdapterKind::OpenAI, target.model.model_name),
            })
        },
    );
    genai::Client::builder()
        .with_service_target_resolver(resolver)
        .build()
        .expect("genai client")
}

/// One peer's client, shared by its streams (each holds its connection
/// pool).
#[derive(Clone)]
enum Peer {
    AsyncOpenAi(async_openai::Client<async_openai::config::OpenAIConfig>),
    Genai(genai::Client),
}

impl Peer {
    fn new(name: &str, url: &str) -> Peer {
        match name {
            "async-openai" => Peer::AsyncOpenAi(async_openai::Client::with_config(
                async_openai::config::OpenAIConfig::new()
                    .with_api_base(format!("{url}/v1"))
                    .with_api_key("bench"),
            )),
            "genai" => Peer::Genai(genai_client(url)),
            other => panic!("no peer {other:?}"),
        }
    }

    async fn stream(&self) -> Seen {
        match self {
            Peer::AsyncOpenAi(c) => async_openai_stream(c).await,
            Peer::Genai(c) => genai_stream(c).await,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert!(
        args.len() >= 6 && args[0] == "__client",
        "usage: bench-peers __client async-openai|genai URL STREAMS SUBS N_CHUNKS"
    );
    let (name, url) = (args[1].clone(), args[2].clone());
    let streams: usize = args[3].parse().expect("streams");
    let n_chunks: usize = args[5].parse().expect("chunks");
    raise_fd_limit();
    let started = Instant::now();
    let deltas = client_runtime().block_on(async move {
        let peer = Peer::new(&name, &url);
        let sent = Generated::openai(n_chunks, Framing::Events);
        all_streams(&name, streams, &sent, move || {
            let peer = peer.clone();
            async move { peer.stream().await }
        })
        .await
    });
    print_figures(deltas, started.elapsed());
}
