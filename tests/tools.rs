//! Tools end to end: the agent loop over a scripted two-turn provider, tool
//! errors and panics as outputs, eager execution while the model streams,
//! and the recorded OpenAI tool-call transcripts over loopback HTTP
//! (parallel calls, the index-0 shape, truncated calls that never run).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivulet::{
    Chunk, ContentPart, FinishReason, Message, Model, Role, Thought, Tool, ToolCall, ToolCallState,
    ToolOutput, Toolkit,
};
use rivulet_core::{ChunkStream, OpenFuture, Provider, Request};
use rivulet_testkit::{wire, After, Replay, Server, Split};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

const SQRT_4242: &str = "65.13063795173512";

#[derive(Clone)]
enum Step {
    Chunk(Chunk),
    /// Waits for a permit: the provider stalls here.
    Gate(Arc<tokio::sync::Semaphore>),
}

/// A provider that plays one script per turn and records the requests.
struct Scripted {
    turns: Vec<Vec<Step>>,
    requests: Mutex<Vec<Request>>,
}

impl Scripted {
    fn new(turns: Vec<Vec<Step>>) -> Arc<Self> {
        Arc::new(Scripted {
            turns,
            requests: Mutex::new(Vec::new()),
        })
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Provider for Scripted {
    fn id(&self) -> &str {
        "scripted"
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let mut requests = self.requests.lock().unwrap();
        let n = requests.len().min(self.turns.len() - 1);
        requests.push(request.clone());
        let steps: VecDeque<Step> = self.turns[n].clone().into();
        let stream = futures::stream::unfold(steps, |mut steps| async move {
            loop {
                match steps.pop_front()? {
                    Step::Chunk(c) => return Some((Ok(c), steps)),
                    Step::Gate(g) => g.acquire().await.unwrap().forget(),
                }
            }
        });
        let stream: ChunkStream = Box::pin(stream);
        Box::pin(async move { Ok(stream) })
    }
}

fn c(chunk: Chunk) -> Step {
    Step::Chunk(chunk)
}

fn call_steps(part: usize, id: &str, name: &str, deltas: &[&str]) -> Vec<Step> {
    let mut v = vec![c(Chunk::ToolCallStart {
        part,
        id: id.into(),
        name: name.into(),
    })];
    for d in deltas {
        v.push(c(Chunk::ToolCall {
            part,
            id: id.into(),
            delta: (*d).into(),
        }));
    }
    v.push(c(Chunk::tool_call_end(part, id)));
    v
}

fn finish(reason: FinishReason, raw: &str) -> Step {
    c(Chunk::FinishReason {
        reason,
        raw: raw.into(),
    })
}

fn text_turn(text: &str) -> Vec<Step> {
    vec![
        c(Chunk::text_start(0)),
        c(Chunk::text(0, text)),
        c(Chunk::text_end(0)),
        finish(FinishReason::Stop, "stop"),
    ]
}

#[derive(Deserialize, JsonSchema)]
struct SqrtArgs {
    /// The number to take the square root of.
    number: f64,
}

fn sqrt_tool() -> Tool {
    Tool::new(
        "sqrt_tool",
        "Computes the square root of a number",
        |args: SqrtArgs| Ok::<_, String>(args.number.sqrt()),
    )
}

fn output(id: &str, name: &str, result: &str, is_error: bool) -> ToolOutput {
    ToolOutput {
        id: id.into(),
        name: name.into(),
        result: result.into(),
        is_error,
        attachments: Vec::new(),
    }
}

#[test]
fn the_agent_loop_over_a_scripted_two_turn_provider() {
    let mut turn1 = vec![
        c(Chunk::ThoughtStart { part: 0 }),
        c(Chunk::Thought {
            part: 0,
            delta: "I should use the tool.".into(),
        }),
        c(Chunk::ThoughtEnd {
            part: 0,
            signature: Some("sig-1".into()),
            redacted: None,
        }),
    ];
    turn1.extend(call_steps(
        1,
        "call_1",
        "sqrt_tool",
        &["{\"num", "ber\": 42", "42}"],
    ));
    turn1.push(finish(FinishReason::ToolCalls, "tool_calls"));
    let provider = Scripted::new(vec![turn1, text_turn("It is about 65.13.")]);
    let toolkit = Toolkit::new().with(sqrt_tool());
    let model = Model::new("scripted/m")
        .with_provider(provider.clone())
        .tools(&toolkit);

    // The seeds' loop: stream text and thoughts, tool calls complete
    // silently; run them and resume until the model answers.
    let mut response = model.stream("What's the square root of 4242?");
    let mut printed = String::new();
    let mut turns = 0;
    loop {
        turns += 1;
        for stream in response.blocking().streams() {
            let stream = stream.unwrap();
            match stream.content_type() {
                rivulet::ContentType::Text => {
                    for d in stream {
                        printed.push_str(&d.unwrap());
                    }
                }
                rivulet::ContentType::Thought => {
                    printed.push_str("Thinking: ");
                    for d in stream {
                        printed.push_str(&d.unwrap());
                    }
                    printed.push('\n');
                }
                rivulet::ContentType::ToolCall => {}
            }
        }
        if response.blocking().tool_calls().is_empty() {
            break;
        }
        let outputs = response.blocking().execute_tools(&toolkit);
        assert_eq!(
            outputs,
            vec![output("call_1", "sqrt_tool", SQRT_4242, false)]
        );
        response = response.resume(outputs);
    }
    assert_eq!(turns, 2);
    assert_eq!(
        printed,
        "Thinking: I should use the tool.\nIt is about 65.13."
    );

    let requests = provider.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].tools, toolkit.definitions());
    assert_eq!(
        requests[1].messages,
        vec![
            Message::user("What's the square root of 4242?"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentPart::Thought(Thought {
                        thought: "I should use the tool.".into(),
                        signature: Some("sig-1".into()),
                        redacted: None,
                    }),
                    ContentPart::ToolCall(ToolCall {
                        id: "call_1".into(),
                        name: "sqrt_tool".into(),
                        args: "{\"number\": 4242}".into(),
                        signature: None,
                    }),
                ],
            },
            Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolOutput(output(
                    "call_1",
                    "sqrt_tool",
                    SQRT_4242,
                    false
                ))],
            },
        ]
    );
    // The final response's history is the whole conversation.
    let done = response.blocking().finish().unwrap();
    assert_eq!(done.messages().len(), 4);
    assert_eq!(done.messages()[3].text(), "It is about 65.13.");
}

#[derive(Deserialize, JsonSchema)]
struct Empty {}

#[tokio::test]
async fn tool_failures_are_outputs_and_the_loop_goes_on() {
    let mut turn1 = Vec::new();
    turn1.extend(call_steps(0, "c0", "explode", &["{}"]));
    turn1.extend(call_steps(1, "c1", "sqrt_tool", &["{\"number\": 16}"]));
    turn1.extend(call_steps(2, "c2", "missing_tool", &["{}"]));
    turn1.extend(call_steps(3, "c3", "sqrt_tool", &["{\"numbr\": 16}"]));
    turn1.extend(call_steps(4, "c4", "sqrt_tool", &["{\"number\": \"16\"}"]));
    turn1.extend(call_steps(5, "c5", "refuse", &[]));
    turn1.extend(call_steps(6, "c6", "sqrt_tool", &["{\"number\": 16"]));
    turn1.extend(call_steps(7, "c7", "slow_double", &["{\"number\": 21}"]));
    turn1.push(finish(FinishReason::ToolCalls, "tool_calls"));
    let provider = Scripted::new(vec![turn1, text_turn("ok")]);
    let toolkit = Toolkit::new()
        .with(sqrt_tool())
        .with(Tool::new(
            "explode",
            "Panics",
            |_: Empty| -> Result<u8, String> { panic!("boom") },
        ))
        .with(Tool::new("refuse", "Errors", |_: ()| {
            Err::<(), _>("not today")
        }))
        .with(Tool::new_async(
            "slow_double",
            "Doubles, slowly",
            |a: SqrtArgs| async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, String>(a.number * 2.0)
            },
        ));
    let model = Model::new("scripted/m")
        .with_provider(provider.clone())
        .tools(&toolkit);
    let response = model.stream("go");
    let outputs = response.execute_tools(&toolkit).await;
    assert_eq!(
        outputs,
        vec![
            output("c0", "explode", "explode panicked: boom", true),
            output("c1", "sqrt_tool", "4.0", false),
            output("c2", "missing_tool", "unknown tool: missing_tool", true),
            output(
                "c3",
                "sqrt_tool",
                "invalid arguments for sqrt_tool: missing field `number`",
                true
            ),
            output(
                "c4",
                "sqrt_tool",
                "invalid arguments for sqrt_tool: invalid type: string \"16\", expected f64",
                true
            ),
            output("c5", "refuse", "not today", true),
            output(
                "c6",
                "sqrt_tool",
                "invalid arguments for sqrt_tool: invalid JSON arguments: EOF while parsing an object at byte 13",
                true
            ),
            output("c7", "slow_double", "42.0", false),
        ]
    );
    // The loop goes on: the model sees every output.
    let next = response.resume(outputs.clone());
    assert_eq!(next.finish().await.unwrap().text(), "ok");
    let sent = &provider.requests()[1].messages;
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[2].content,
        outputs
            .into_iter()
            .map(ContentPart::ToolOutput)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn eager_execution_runs_a_tool_before_the_stream_ends() {
    // The provider stalls right after the call's end chunk until the tool
    // has run: the stream can only finish if the tool ran while it streamed.
    let ran = Arc::new(tokio::sync::Semaphore::new(0));
    let mut turn = call_steps(0, "call_1", "sqrt_tool", &["{\"number\": 4242}"]);
    turn.push(Step::Gate(ran.clone()));
    turn.extend(call_steps(1, "call_2", "sqrt_tool", &["{\"number\": 16}"]));
    turn.push(finish(FinishReason::ToolCalls, "tool_calls"));
    let provider = Scripted::new(vec![turn]);
    let signal = ran.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let toolkit = Toolkit::new().with(Tool::new(
        "sqrt_tool",
        "Computes the square root of a number",
        move |a: SqrtArgs| {
            counted.fetch_add(1, Ordering::SeqCst);
            signal.add_permits(1);
            Ok::<_, String>(a.number.sqrt())
        },
    ));
    let model = Model::new("scripted/m")
        .with_provider(provider)
        .tools(&toolkit);
    let response = model.stream("go");
    let eager = response.execute_tools_eagerly(&toolkit);
    let outputs = tokio::time::timeout(Duration::from_secs(10), eager)
        .await
        .expect("the tool ran while the provider stalled");
    assert_eq!(
        outputs,
        vec![
            output("call_1", "sqrt_tool", SQRT_4242, false),
            output("call_2", "sqrt_tool", "4.0", false),
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        response.finish().await.unwrap().finish_reason,
        Some(FinishReason::ToolCalls)
    );
}

#[test]
fn resume_with_user_content_and_before_the_end() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let turn1 = vec![
        c(Chunk::text_start(0)),
        c(Chunk::text(0, "Hel")),
        Step::Gate(gate.clone()),
        c(Chunk::text(0, "lo")),
        c(Chunk::text_end(0)),
    ];
    let provider = Scripted::new(vec![turn1, text_turn("Bye")]);
    let model = Model::new("scripted/m").with_provider(provider.clone());
    let first = model.stream("Hi");
    // Resumed while the first turn still streams: the next request waits.
    let second = first.resume("And goodbye?");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(provider.requests().len(), 1);
    gate.add_permits(1);
    assert_eq!(second.blocking().finish().unwrap().text(), "Bye");
    assert_eq!(
        provider.requests()[1].messages,
        vec![
            Message::user("Hi"),
            Message::assistant("Hello"),
            Message::user("And goodbye?")
        ]
    );
    assert_eq!(second.blocking().snapshot().messages().len(), 4);
}

// ---- Over loopback HTTP, the recorded OpenAI transcripts ----

fn http_model(server: &Server) -> Model {
    Model::new("openai/gpt-4o")
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
        .retries(0)
}

#[derive(Deserialize, JsonSchema)]
struct SecretArgs {
    password: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_calls_run_and_resume_over_http() {
    let server = Server::start(vec![
        Replay::sse(wire("openai-chat/parallel_tool_calls_2.sse")).split(Split::Bytes),
        Replay::sse(wire("openai-chat/text_include_usage.sse")),
    ])
    .await;
    let toolkit = Toolkit::new().with(Tool::new(
        "secret_retrieval_tool",
        "A tool that requires a password to retrieve a secret.",
        |a: SecretArgs| Ok::<_, String>(format!("secret for {}", a.password)),
    ));
    let model = http_model(&server).tools(&toolkit);
    let response = model.stream("Please retrieve the secrets.");
    let outputs = response.execute_tools(&toolkit).await;
    assert_eq!(
        outputs,
        vec![
            output(
                "call_M26z19sncd7b4LBgzKRRbaUE",
                "secret_retrieval_tool",
                "secret for mellon",
                false
            ),
            output(
                "call_KPXe5NX7IcKkaBUhc6dto2QV",
                "secret_retrieval_tool",
                "secret for radiance",
                false
            ),
        ]
    );
    let next = response.resume(outputs);
    assert_eq!(
        next.finish().await.unwrap().text(),
        "4200 + 42 equals 4242."
    );

    let requests = server.requests();
    let first = requests[0].json();
    assert_eq!(
        first["tools"],
        json!([{"type": "function", "function": {
            "name": "secret_retrieval_tool",
            "description": "A tool that requires a password to retrieve a secret.",
            "parameters": {
                "type": "object",
                "properties": {"password": {"type": "string"}},
                "required": ["password"]
            }
        }}])
    );
    let second = requests[1].json();
    assert_eq!(
        second["messages"],
        json!([
            {"role": "user", "content": "Please retrieve the secrets."},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_M26z19sncd7b4LBgzKRRbaUE", "type": "function",
                 "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\": \"mellon\"}"}},
                {"id": "call_KPXe5NX7IcKkaBUhc6dto2QV", "type": "function",
                 "function": {"name": "secret_retrieval_tool", "arguments": "{\"password\": \"radiance\"}"}}
            ]},
            {"role": "tool", "content": "secret for mellon", "tool_call_id": "call_M26z19sncd7b4LBgzKRRbaUE"},
            {"role": "tool", "content": "secret for radiance", "tool_call_id": "call_KPXe5NX7IcKkaBUhc6dto2QV"}
        ])
    );
}

#[derive(Deserialize, JsonSchema)]
struct HtmlArgs {
    input: String,
}

/// A custom (freeform) tool call of the Responses API, recorded: its free
/// text reaches the tool as `input`, the tool runs, and the resumed request
/// sends the call and its output back as custom items.
#[tokio::test(flavor = "multi_thread")]
async fn a_custom_tool_call_runs_and_resumes_over_http() {
    let server = Server::start(vec![
        Replay::sse(wire("openai-responses/custom_tool_call_text.sse")).split(Split::Bytes),
        Replay::sse(wire("openai-responses/text.sse")),
    ])
    .await;
    let toolkit = Toolkit::new().with(Tool::new(
        "setHtml",
        "Return the requested HTML verbatim as freeform text.",
        |a: HtmlArgs| Ok::<_, String>(format!("rendered {} bytes", a.input.len())),
    ));
    let model = Model::new("openai-responses/gpt-5.2-codex")
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
        .retries(0);
    let response = model.stream("Render HTML.");
    let outputs = response.execute_tools(&toolkit).await;
    let html =
        "<main><h1>Streaming custom tool input</h1><p>This must arrive progressively.</p></main>";
    assert_eq!(
        outputs,
        vec![output(
            "call_g8yRNFvYwhYY5Eb3rGIAxf8l",
            "setHtml",
            &format!("rendered {} bytes", html.len()),
            false
        )]
    );
    let next = response.resume(outputs);
    assert_eq!(
        next.finish().await.unwrap().text(),
        "4200 + 42 equals 4242."
    );
    let second = server.requests()[1].json();
    assert_eq!(
        second["input"],
        json!([
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Render HTML."}]},
            {"type": "custom_tool_call", "call_id": "call_g8yRNFvYwhYY5Eb3rGIAxf8l",
             "name": "setHtml", "input": html},
            {"type": "custom_tool_call_output", "call_id": "call_g8yRNFvYwhYY5Eb3rGIAxf8l",
             "output": "rendered 87 bytes"}
        ])
    );
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct WeatherArgs {
    city: String,
    country: String,
    units: String,
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct StockArgs {
    ticker: String,
    exchange: String,
}

/// The weather and stock tools of `parallel_tool_calls.sse`, counting runs.
fn weather_and_stock(runs: &Arc<AtomicUsize>) -> Toolkit {
    let (r1, r2) = (runs.clone(), runs.clone());
    Toolkit::new()
        .with(Tool::new(
            "GetWeatherArgs",
            "Weather",
            move |a: WeatherArgs| {
                r1.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(json!({"city": a.city, "temp": 11}))
            },
        ))
        .with(Tool::new(
            "get_stock_price",
            "Stock",
            move |a: StockArgs| {
                r2.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(format!("{} 187.5", a.ticker))
            },
        ))
}

/// `parallel_tool_calls.sse` with both calls on `tool_calls[].index` 0, as
/// some compatible servers send them: the decoder must start a new call when
/// a new id arrives on an index in use.
fn index_zero_variant() -> Vec<u8> {
    let text = String::from_utf8(wire("openai-chat/parallel_tool_calls.sse")).unwrap();
    let out = text.replace(
        "\"tool_calls\":[{\"index\":1",
        "\"tool_calls\":[{\"index\":0",
    );
    assert_ne!(out, text);
    assert!(!out.contains("\"index\":1"));
    out.into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_and_index_zero_calls_end_to_end() {
    for body in [
        wire("openai-chat/parallel_tool_calls.sse"),
        index_zero_variant(),
    ] {
        let server = Server::start(vec![Replay::sse(body).split(Split::Bytes)]).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let toolkit = weather_and_stock(&runs);
        let response = http_model(&server)
            .tools(&toolkit)
            .stream("weather and stock?");
        let eager = response.execute_tools_eagerly(&toolkit).await;
        let outputs = response.execute_tools(&toolkit).await;
        let expected = vec![
            output(
                "call_JMW1whyEaYG438VE1OIflxA2",
                "GetWeatherArgs",
                r#"{"city":"Edinburgh","temp":11}"#,
                false,
            ),
            output(
                "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                "get_stock_price",
                "AAPL 187.5",
                false,
            ),
        ];
        assert_eq!(outputs, expected);
        assert_eq!(eager, expected);
        assert_eq!(runs.load(Ordering::SeqCst), 4);
        let partial = response.partial_tool_calls().await;
        assert_eq!(
            partial.iter().map(|p| p.args.clone()).collect::<Vec<_>>(),
            vec![
                Some(json!({"city": "Edinburgh", "country": "GB", "units": "c"})),
                Some(json!({"ticker": "AAPL", "exchange": "NASDAQ"})),
            ]
        );
    }
}

/// `body` cut in the middle of the second call's arguments (after
/// `"{\"ticker\": \"AAP"`).
fn cut_mid_arguments(body: Vec<u8>) -> String {
    let text = String::from_utf8(body).unwrap();
    let marker = "\"arguments\":\": \\\"AAP\"";
    let at = text.find(marker).expect("marker");
    let end = at + text[at..].find("\n\n").unwrap() + 2;
    text[..end].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_cut_by_a_dropped_connection_never_runs() {
    // The index-0 shape: the first call ends when the second starts (with
    // OpenAI's own indexes every call stays open until the finish, so a drop
    // cuts them all: see the last assertion).
    let body = cut_mid_arguments(index_zero_variant());
    // A content-length longer than the body: the cut is a certain truncation.
    let len = body.len() + 100;
    let server = Server::start(vec![Replay::sse(body)
        .header("content-length", len.to_string())
        .then(After::Abort)])
    .await;
    let runs = Arc::new(AtomicUsize::new(0));
    let toolkit = weather_and_stock(&runs);
    let response = http_model(&server).tools(&toolkit).stream("q");
    let outputs = response.execute_tools(&toolkit).await;
    assert!(response.finish().await.is_err());
    assert_eq!(
        outputs,
        vec![output(
            "call_JMW1whyEaYG438VE1OIflxA2",
            "GetWeatherArgs",
            r#"{"city":"Edinburgh","temp":11}"#,
            false
        )]
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let partial = response.partial_tool_calls().await;
    assert_eq!(partial[1].call.args, "{\"ticker\": \"AAP");
    assert_eq!(partial[1].args, Some(json!({"ticker": "AAP"})));
    assert!(
        matches!(&partial[1].state, ToolCallState::Invalid(m) if m.starts_with("cut off: the stream ended before the call did")),
        "{:?}",
        partial[1].state
    );

    // OpenAI's own shape, cut the same way: neither call has ended, none runs.
    let body = cut_mid_arguments(wire("openai-chat/parallel_tool_calls.sse"));
    let len = body.len() + 100;
    let server = Server::start(vec![Replay::sse(body)
        .header("content-length", len.to_string())
        .then(After::Abort)])
    .await;
    let response = http_model(&server).tools(&toolkit).stream("q");
    assert!(response.execute_tools(&toolkit).await.is_empty());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let partial = response.partial_tool_calls().await;
    assert_eq!(
        partial[0].args,
        Some(json!({"city": "Edinburgh", "country": "GB", "units": "c"}))
    );
    assert!(matches!(partial[0].state, ToolCallState::Invalid(_)));
    assert!(response.snapshot().await.tool_calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_cut_by_max_tokens_never_runs() {
    // The same cut, then the `length` finish and the end, as OpenAI sends
    // them when max_tokens is reached (the finish chunk's shape is
    // finish_length.sse's).
    let mut body = cut_mid_arguments(wire("openai-chat/parallel_tool_calls.sse"));
    body.push_str(
        "data: {\"id\":\"chatcmpl-ABfwAwrNePHUgBBezonVC6MX3zd63\",\"object\":\"chat.completion.chunk\",\"created\":1727346178,\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_5050236cbd\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n",
    );
    let server = Server::start(vec![Replay::sse(body).split(Split::Lines)]).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let toolkit = weather_and_stock(&runs);
    let response = http_model(&server).tools(&toolkit).stream("q");
    let eager = response.execute_tools_eagerly(&toolkit).await;
    let outputs = response.execute_tools(&toolkit).await;
    let done = response.finish().await.unwrap();
    assert_eq!(done.finish_reason, Some(FinishReason::MaxTokens));
    let expected = vec![
        output(
            "call_JMW1whyEaYG438VE1OIflxA2",
            "GetWeatherArgs",
            r#"{"city":"Edinburgh","temp":11}"#,
            false,
        ),
        output(
            "call_DNYTawLBoN8fj3KN6qU9N1Ou",
            "get_stock_price",
            "invalid arguments for get_stock_price: cut off by max_tokens: invalid JSON arguments: EOF while parsing a string at byte 15",
            true,
        ),
    ];
    assert_eq!(outputs, expected);
    assert_eq!(eager, expected);
    // Only the weather call ran, once per execution.
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let calls = response.tool_calls().await;
    assert_eq!(calls[1].call.args, "{\"ticker\": \"AAP");
    assert!(calls[1].args.is_err());
}

#[test]
fn tool_schemas_are_provider_friendly() {
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Point {
        x: f64,
        y: i32,
    }
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        /// Where to start.
        from: Point,
        to: Option<Point>,
        tags: Vec<String>,
    }
    let d = Tool::new("route", "Routes", |_: Args| Ok::<_, String>(1)).definition();
    let params: Value = d.parameters;
    assert_eq!(
        params,
        json!({
            "type": "object",
            "properties": {
                "from": {
                    "description": "Where to start.",
                    "type": "object",
                    "properties": {"x": {"type": "number"}, "y": {"type": "integer"}},
                    "required": ["x", "y"]
                },
                "to": {
                    "type": ["object", "null"],
                    "properties": {"x": {"type": "number"}, "y": {"type": "integer"}},
                    "required": ["x", "y"]
                },
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["from", "tags"]
        })
    );
    let unit = Tool::new("now", "The time", |_: ()| Ok::<_, String>("noon")).definition();
    assert_eq!(unit.parameters, json!({"type": "object", "properties": {}}));
}
