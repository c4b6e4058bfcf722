//! The `otel` feature: rivulet's GenAI spans and metrics to an
//! OpenTelemetry collector, over OTLP (HTTP, protobuf).
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Spans and metrics to a collector on this machine.
//! let otel = rivulet::telemetry::otel::Otel::otlp(Some("http://127.0.0.1:4318"))?;
//! let subscriber = tracing_subscriber::registry().with(otel.layer());
//! tracing::subscriber::set_global_default(subscriber)?;
//! // … streams …
//! otel.shutdown(); // flushes what is still buffered
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::{
    Aggregation, Instrument, PeriodicReader, SdkMeterProvider, Stream,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::TARGET;

/// The bucket boundaries the conventions give for
/// `gen_ai.client.token.usage`.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// The bucket boundaries the conventions give for
/// `gen_ai.client.operation.duration` (seconds).
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// A view for an SDK meter provider (`with_view(view)`): the GenAI
/// metrics' units, descriptions and bucket boundaries as the conventions
/// give them (`tracing-opentelemetry` creates the instruments with names
/// only). Other instruments are left alone.
pub fn view(instrument: &Instrument) -> Option<Stream> {
    let (unit, description, buckets): (&str, &str, &[f64]) = match instrument.name() {
        "gen_ai.client.token.usage" => (
            "{token}",
            "Number of input and output tokens used.",
            &TOKEN_BUCKETS,
        ),
        "gen_ai.client.operation.duration" => ("s", "GenAI operation duration.", &DURATION_BUCKETS),
        _ => return None,
    };
    Stream::builder()
        .with_unit(unit)
        .with_description(description)
        .with_aggregation(Aggregation::ExplicitBucketHistogram {
            boundaries: buckets.to_vec(),
            record_min_max: true,
        })
        .build()
        .ok()
}

/// Tracer and meter providers exporting rivulet's GenAI telemetry.
pub struct Otel {
    tracers: SdkTracerProvider,
    meters: SdkMeterProvider,
}

impl Otel {
    /// Providers exporting over OTLP/HTTP to `endpoint` (a collector's
    /// base URL: `/v1/traces` and `/v1/metrics` are added), or when
    /// `None` to what the `OTEL_EXPORTER_OTLP_*` environment variables
    /// say. Spans are exported in batches, metrics every 60 s, and both
    /// on [`Otel::shutdown`].
    pub fn otlp(endpoint: Option<&str>) -> Result<Otel, String> {
        let base = endpoint.map(|e| e.trim_end_matches('/').to_string());
        let mut spans = opentelemetry_otlp::SpanExporter::builder().with_http();
        let mut metrics = opentelemetry_otlp::MetricExporter::builder().with_http();
        if let Some(base) = &base {
            spans = spans.with_endpoint(format!("{base}/v1/traces"));
            metrics = metrics.with_endpoint(format!("{base}/v1/metrics"));
        }
        let spans = spans.build().map_err(|e| e.to_string())?;
        let metrics = metrics.build().map_err(|e| e.to_string())?;
        Ok(Otel::with_providers(
            SdkTracerProvider::builder()
                .with_batch_exporter(spans)
                .build(),
            SdkMeterProvider::builder()
                .with_reader(
                    PeriodicReader::builder(metrics)
                        .with_interval(Duration::from_secs(60))
                        .build(),
                )
                .with_view(view)
                .build(),
        ))
    }

    /// Providers of your own (any exporter; give the meter provider
    /// [`view`] for the conventions' units and buckets).
    pub fn with_providers(tracers: SdkTracerProvider, meters: SdkMeterProvider) -> Otel {
        Otel { tracers, meters }
    }

    /// A `tracing` layer sending rivulet's GenAI spans (`chat {model}`,
    /// `execute_tool {name}`) and metric events (target [`TARGET`]) to
    /// these providers. Add it to your subscriber.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let only_gen_ai = || Targets::new().with_target(TARGET, tracing::Level::INFO);
        tracing_opentelemetry::layer()
            .with_tracer(self.tracers.tracer("rivulet"))
            .with_filter(only_gen_ai())
            .and_then(
                tracing_opentelemetry::MetricsLayer::new(self.meters.clone())
                    .with_filter(only_gen_ai()),
            )
    }

    /// Exports what is buffered now.
    pub fn flush(&self) {
        let _ = self.tracers.force_flush();
        let _ = self.meters.force_flush();
    }

    /// Exports what is buffered and stops the exporters.
    pub fn shutdown(self) {
        let _ = self.tracers.shutdown();
        let _ = self.meters.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_testkit::{Replay, Server};
    use tracing_subscriber::layer::SubscriberExt;

    /// The view gives the conventions' units and buckets to the GenAI
    /// metrics only.
    #[test]
    fn the_view() {
        let exporter = opentelemetry_sdk::metrics::InMemoryMetricExporter::default();
        let meters = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .with_view(view)
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::MetricsLayer::new(meters.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(histogram.gen_ai.client.token.usage = 100_u64, x = 1);
            tracing::info!(histogram.other = 1.5);
        });
        meters.force_flush().unwrap();
        let metrics = exporter.get_finished_metrics().unwrap();
        let all: Vec<_> = metrics
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|sm| sm.metrics())
            .map(|m| (m.name().to_string(), m.unit().to_string()))
            .collect();
        assert!(all.contains(&("gen_ai.client.token.usage".into(), "{token}".into())));
        assert!(all.contains(&("other".into(), String::new())));
    }

    /// Over OTLP/HTTP to a loopback collector: a replayed stream's
    /// `chat gpt-4o` span and a tool's span arrive as protobuf at
    /// `/v1/traces`, the metrics at `/v1/metrics`, without the key.
    #[test]
    fn telemetry_reaches_an_otlp_collector() {
        let collector = Server::start_blocking(vec![Replay::new(200, "")]);
        let otel = Otel::otlp(Some(&collector.url())).unwrap();
        let llm = Server::start_blocking(vec![Replay::sse(rivulet_testkit::wire(
            "openai-chat/text_include_usage.sse",
        ))]);
        // Global: the stream runs on the runtime's own threads. The only
        // subscriber this test binary installs.
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel.layer()))
            .unwrap();
        let response = crate::Model::new("openai/gpt-4o")
            .base_url(format!("{}/v1", llm.url()))
            .api_key("sk-otlp-secret")
            .call_blocking("q")
            .unwrap();
        assert_eq!(response.usage.input_tokens, Some(16));
        drop(crate::telemetry::execute_tool_span(
            &rivulet_core::ToolCall {
                id: "call_1".into(),
                name: "sqrt_tool".into(),
                args: "{}".into(),
                signature: None,
            },
            None,
        ));
        // The stream's span closes as its provider actor stops, a moment
        // after the response is complete.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            otel.flush();
            if collector
                .requests()
                .iter()
                .any(|r| r.path == "/v1/traces" && r.body_text().contains("chat gpt-4o"))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        otel.shutdown();
        let requests = collector.requests();
        let sent = |path: &str| -> String {
            requests
                .iter()
                .filter(|r| r.path == path)
                .map(|r| {
                    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
                    r.body_text()
                })
                .collect()
        };
        let traces = sent("/v1/traces");
        assert!(traces.contains("chat gpt-4o"), "{traces:?}");
        assert!(traces.contains("gen_ai.response.model"));
        assert!(traces.contains("gpt-4o-2024-08-06"));
        assert!(traces.contains("execute_tool sqrt_tool"));
        let metrics = sent("/v1/metrics");
        assert!(metrics.contains("gen_ai.client.token.usage"), "{metrics:?}");
        assert!(metrics.contains("{token}"));
        assert!(metrics.contains("gen_ai.client.operation.duration"));
        for body in [&traces, &metrics] {
            assert!(!body.contains("sk-otlp-secret"));
        }
    }
}
