//! The OpenTelemetry GenAI spans and metrics, as an OpenTelemetry SDK
//! receives them: `tracing-opentelemetry`'s layers into the SDK's
//! in-memory exporters, for recorded transcripts replayed by a loopback
//! server. One test function: content capture is process-wide, so the
//! default (off) and the opt-in are checked one after the other.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, HistogramDataPoint, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rivulet::{ErrorKind, Model, ParsedToolCall, Tool, ToolCall, Toolkit};
use rivulet_testkit::{wire, Replay, Server, Split};
use tracing_subscriber::layer::SubscriberExt;

const KEY: &str = "sk-secret-test-key-4242";
const PROMPT: &str = "What is 4200 + 42?";
const ANSWER: &str = "4200 + 42 equals 4242.";

struct Otel {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    meters: SdkMeterProvider,
    _tracers: SdkTracerProvider,
}

/// The process's subscriber: the streams run on the runtime's own
/// threads, so it must be the global one.
fn otel() -> &'static Otel {
    static OTEL: OnceLock<Otel> = OnceLock::new();
    OTEL.get_or_init(|| {
        let spans = InMemorySpanExporter::default();
        let tracers = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meters = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracers.tracer("test")))
            .with(tracing_opentelemetry::MetricsLayer::new(meters.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        Otel {
            spans,
            metrics,
            meters,
            _tracers: tracers,
        }
    })
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    attr(attributes, key).map(|v| v.as_str().into_owned())
}

/// The exported span named `name` (spans end a moment after the stream
/// does: the provider actor closes its span as it stops).
async fn span_named(name: &str) -> SpanData {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let spans = otel().spans.get_finished_spans().unwrap();
        if let Some(s) = spans.into_iter().find(|s| s.name == name) {
            return s;
        }
        assert!(Instant::now() < deadline, "no span {name:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every string in every span and span event: where a secret would show.
fn all_text() -> String {
    let mut text = String::new();
    for s in otel().spans.get_finished_spans().unwrap() {
        text.push_str(&s.name);
        for kv in s
            .attributes
            .iter()
            .chain(s.events.iter().flat_map(|e| &e.attributes))
        {
            text.push_str(&format!(" {}={}", kv.key, kv.value));
        }
        for e in s.events.iter() {
            text.push_str(&e.name);
        }
    }
    text
}

/// The histogram data points of `metric` whose `gen_ai.request.model` is
/// `model`.
fn histogram<T: Copy>(
    metric: &str,
    model: &str,
    pick: impl Fn(&MetricData<T>) -> Option<Vec<HistogramDataPoint<T>>>,
    data: impl Fn(&AggregatedMetrics) -> Option<&MetricData<T>>,
) -> Vec<HistogramDataPoint<T>> {
    // One export holds everything (cumulative): keep only the newest.
    otel().metrics.reset();
    otel().meters.force_flush().unwrap();
    let mut points = Vec::new();
    for rm in otel().metrics.get_finished_metrics().unwrap() {
        for sm in rm.scope_metrics() {
            for m in sm.metrics().filter(|m| m.name() == metric) {
                if let Some(d) = data(m.data()).and_then(&pick) {
                    points.extend(d.into_iter().filter(|p| {
                        string(
                            &p.attributes().cloned().collect::<Vec<_>>(),
                            "gen_ai.request.model",
                        )
                        .as_deref()
                            == Some(model)
                    }));
                }
            }
        }
    }
    points
}

fn histogram_points<T: Copy>(d: &MetricData<T>) -> Option<Vec<HistogramDataPoint<T>>> {
    match d {
        MetricData::Histogram(h) => Some(h.data_points().cloned().collect()),
        _ => None,
    }
}

fn token_usage(model: &str) -> Vec<HistogramDataPoint<u64>> {
    histogram(
        "gen_ai.client.token.usage",
        model,
        histogram_points,
        |d| match d {
            AggregatedMetrics::U64(d) => Some(d),
            _ => None,
        },
    )
}

fn durations(model: &str) -> Vec<HistogramDataPoint<f64>> {
    histogram(
        "gen_ai.client.operation.duration",
        model,
        histogram_points,
        |d| match d {
            AggregatedMetrics::F64(d) => Some(d),
            _ => None,
        },
    )
}

fn point_attr<T>(p: &HistogramDataPoint<T>, key: &str) -> Option<String> {
    string(&p.attributes().cloned().collect::<Vec<_>>(), key)
}

async fn replay(name: &str, transcript: &str) -> (Server, Model) {
    let server = Server::start(vec![Replay::sse(wire(transcript)).split(Split::Lines)]).await;
    let model = Model::new(&format!("openai/{name}"))
        .base_url(format!("{}/v1", server.url()))
        .api_key(KEY)
        .retries(0);
    (server, model)
}

fn sqrt_toolkit() -> Toolkit {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Args {
        number: f64,
    }
    Toolkit::new().with(Tool::new("sqrt_tool", "Square root", |a: Args| {
        Ok::<_, String>(a.number.sqrt())
    }))
}

fn call(id: &str, args: &str) -> ParsedToolCall {
    ParsedToolCall {
        call: ToolCall {
            id: id.into(),
            name: "sqrt_tool".into(),
            args: args.into(),
            signature: None,
        },
        args: serde_json::from_str(args).map_err(|e| e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn genai_spans_and_metrics() {
    otel();

    // 1. A replayed OpenAI stream, content capture off (the default).
    let (server, model) = replay("gpt-4o", "openai-chat/text_include_usage.sse").await;
    let model = model.temperature(0.5).max_tokens(64).seed(7).stop(["\n\n"]);
    let done = model.call(PROMPT).await.unwrap();
    assert_eq!(done.text(), ANSWER);
    let span = span_named("chat gpt-4o").await;
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.status, Status::Unset);
    let a = &span.attributes;
    assert_eq!(string(a, "gen_ai.operation.name").as_deref(), Some("chat"));
    assert_eq!(string(a, "gen_ai.provider.name").as_deref(), Some("openai"));
    assert_eq!(string(a, "gen_ai.request.model").as_deref(), Some("gpt-4o"));
    assert_eq!(
        attr(a, "gen_ai.request.temperature"),
        Some(&Value::F64(0.5))
    );
    assert_eq!(attr(a, "gen_ai.request.max_tokens"), Some(&Value::I64(64)));
    assert_eq!(attr(a, "gen_ai.request.seed"), Some(&Value::I64(7)));
    assert_eq!(
        string(a, "gen_ai.request.stop_sequences").as_deref(),
        Some(r#"["\n\n"]"#)
    );
    assert_eq!(attr(a, "gen_ai.request.stream"), Some(&Value::Bool(true)));
    assert_eq!(
        string(a, "gen_ai.response.model").as_deref(),
        Some("gpt-4o-2024-08-06")
    );
    assert_eq!(
        string(a, "gen_ai.response.id"),
        done.id.clone(),
        "the response id"
    );
    assert!(done.id.as_deref().unwrap().starts_with("chatcmpl-"));
    assert_eq!(
        string(a, "gen_ai.response.finish_reasons").as_deref(),
        Some(r#"["stop"]"#)
    );
    assert_eq!(attr(a, "gen_ai.usage.input_tokens"), Some(&Value::I64(16)));
    assert_eq!(attr(a, "gen_ai.usage.output_tokens"), Some(&Value::I64(10)));
    assert_eq!(
        attr(a, "gen_ai.usage.cache_read.input_tokens"),
        Some(&Value::I64(0))
    );
    match attr(a, "gen_ai.response.time_to_first_chunk") {
        Some(Value::F64(t)) => assert!(*t > 0.0 && *t < 10.0, "{t}"),
        other => panic!("time to first chunk: {other:?}"),
    }
    assert_eq!(attr(a, "error.type"), None);
    assert_eq!(attr(a, "gen_ai.input.messages"), None);
    assert_eq!(attr(a, "gen_ai.output.messages"), None);

    let usage = token_usage("gpt-4o");
    let by_type = |t: &str| {
        usage
            .iter()
            .find(|p| point_attr(p, "gen_ai.token.type").as_deref() == Some(t))
            .unwrap_or_else(|| panic!("no {t} tokens: {usage:?}"))
    };
    assert_eq!((by_type("input").count(), by_type("input").sum()), (1, 16));
    assert_eq!(
        (by_type("output").count(), by_type("output").sum()),
        (1, 10)
    );
    for p in &usage {
        assert_eq!(
            point_attr(p, "gen_ai.provider.name").as_deref(),
            Some("openai")
        );
        assert_eq!(
            point_attr(p, "gen_ai.operation.name").as_deref(),
            Some("chat")
        );
        assert_eq!(
            point_attr(p, "gen_ai.response.model").as_deref(),
            Some("gpt-4o-2024-08-06")
        );
    }
    let duration = durations("gpt-4o");
    assert_eq!(duration.len(), 1);
    assert_eq!(duration[0].count(), 1);
    assert!(duration[0].sum() > 0.0 && duration[0].sum() < 10.0);
    assert_eq!(point_attr(&duration[0], "error.type"), None);

    // A tool run: its span, no arguments or result by default.
    let output = sqrt_toolkit()
        .execute(&call("call_7", r#"{"number": 16}"#))
        .await;
    assert_eq!(output.result, "4.0");
    let tool = span_named("execute_tool sqrt_tool").await;
    assert_eq!(tool.span_kind, SpanKind::Internal);
    let t = &tool.attributes;
    assert_eq!(
        string(t, "gen_ai.operation.name").as_deref(),
        Some("execute_tool")
    );
    assert_eq!(string(t, "gen_ai.tool.name").as_deref(), Some("sqrt_tool"));
    assert_eq!(string(t, "gen_ai.tool.call.id").as_deref(), Some("call_7"));
    assert_eq!(string(t, "gen_ai.tool.type").as_deref(), Some("function"));
    assert_eq!(
        string(t, "gen_ai.tool.description").as_deref(),
        Some("Square root")
    );
    assert_eq!(attr(t, "gen_ai.tool.call.arguments"), None);
    assert_eq!(attr(t, "gen_ai.tool.call.result"), None);

    // Neither the key nor the prompt reached any span or event.
    let text = all_text();
    assert!(!text.contains(KEY), "the key leaked");
    assert!(!text.contains("sk-secret"), "the key leaked");
    assert!(!text.contains(PROMPT), "the prompt was recorded: {text}");
    drop(server);

    // 2. A failed stream: error.type and an error status, on the span and
    // the duration.
    let server = Server::start(vec![Replay::new(429, "")]).await;
    let err = Model::new("openai/gpt-4o-limited")
        .base_url(format!("{}/v1", server.url()))
        .api_key(KEY)
        .retries(0)
        .call(PROMPT)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimit);
    let span = span_named("chat gpt-4o-limited").await;
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert_eq!(
        string(&span.attributes, "error.type").as_deref(),
        Some("rate_limit")
    );
    let duration = durations("gpt-4o-limited");
    assert_eq!(
        point_attr(&duration[0], "error.type").as_deref(),
        Some("rate_limit")
    );
    assert!(
        token_usage("gpt-4o-limited").is_empty(),
        "no usage reported"
    );

    // 3. Content capture on: the prompt, the answer, tool arguments and
    // results are recorded, in the conventions' message shape.
    rivulet::telemetry::set_capture_content(true);
    let (_server, model) = replay("gpt-4o-mini", "openai-chat/text_include_usage.sse").await;
    model.call(PROMPT).await.unwrap();
    let span = span_named("chat gpt-4o-mini").await;
    let input: serde_json::Value =
        serde_json::from_str(&string(&span.attributes, "gen_ai.input.messages").unwrap()).unwrap();
    assert_eq!(
        input,
        serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}])
    );
    let output: serde_json::Value =
        serde_json::from_str(&string(&span.attributes, "gen_ai.output.messages").unwrap()).unwrap();
    assert_eq!(
        output,
        serde_json::json!([{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}],
            "finish_reason": "stop"}])
    );
    let failed = sqrt_toolkit()
        .execute(&call("call_8", r#"{"number": "x"}"#))
        .await;
    assert!(failed.is_error);
    let tool = span_named("execute_tool sqrt_tool").await;
    let tool = if string(&tool.attributes, "gen_ai.tool.call.id").as_deref() == Some("call_8") {
        tool
    } else {
        otel()
            .spans
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .find(|s| string(&s.attributes, "gen_ai.tool.call.id").as_deref() == Some("call_8"))
            .expect("the second tool span")
    };
    let t = &tool.attributes;
    assert_eq!(
        string(t, "gen_ai.tool.call.arguments").as_deref(),
        Some(r#"{"number": "x"}"#)
    );
    assert_eq!(string(t, "gen_ai.tool.call.result"), Some(failed.result));
    assert_eq!(string(t, "error.type").as_deref(), Some("tool_error"));
    assert!(matches!(tool.status, Status::Error { .. }));
    // Still never the key.
    assert!(!all_text().contains(KEY));
    rivulet::telemetry::set_capture_content(false);
}
