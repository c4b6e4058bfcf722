//! `Model`: a provider, a model name and call parameters; the entry point.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rivulet_actors::{Runtime, StreamOptions};
use rivulet_core::{
    ApiKey, AudioOutput, CacheBreakpoints, Error, Format, Message, OpenFuture, Params, Provider,
    Request, Response, ThinkingLevel, ToolChoice, ToolDefinition,
};
use rivulet_providers::ProviderConfig;

use crate::{Input, StreamResponse, ToolDefinitions};

/// A model to call: `"provider/model"` plus call parameters, provider
/// settings and per-stream limits. Cheap to clone: clones share one
/// reference-counted spec (tools, schemas and all) until a builder method
/// changes one of them, which then copies it first, so a change never
/// reaches another clone. The provider (and its connection pool) is built
/// once, on first use, and shared by clones that do not change how it is
/// built.
///
/// ```
/// use std::time::Duration;
/// use rivulet::Model;
///
/// let model = Model::new("openai/gpt-4o-mini")
///     .temperature(0.0)
///     .max_tokens(256)
///     .seed(7)
///     .idle_timeout(Duration::from_secs(30));
/// assert_eq!(model.provider_id(), "openai");
/// assert_eq!(model.model_name(), "gpt-4o-mini");
///
/// // A clone per task is a reference count; changing it copies.
/// let creative = model.clone().temperature(1.0);
/// assert_eq!(model.request("q").params.temperature, Some(0.0));
/// assert_eq!(creative.request("q").params.temperature, Some(1.0));
/// ```
#[derive(Clone)]
pub struct Model {
    /// Shared by clones until a builder method changes one (copy on
    /// write): a clone per task or per request is a reference count, not
    /// a copy of the tools' schemas, the options and the strings.
    spec: Arc<Spec>,
}

/// What a [`Model`] is made of.
#[derive(Clone)]
struct Spec {
    provider_id: String,
    model: String,
    params: Params,
    tools: Vec<ToolDefinition>,
    format: Option<Format>,
    raw_events: bool,
    system: Option<String>,
    cache: Option<CacheBreakpoints>,
    audio: Option<AudioOutput>,
    extra_body: Option<serde_json::Value>,
    config: ProviderConfig,
    options: StreamOptions,
    runtime: Option<Runtime>,
    provider: Arc<OnceLock<Result<Arc<dyn Provider>, Error>>>,
    /// Models to try when this one cannot answer (see [`Model::fallback`]).
    fallbacks: Vec<FallbackModel>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // ProviderConfig's own Debug keeps the key hidden (ApiKey prints ***).
        f.debug_struct("Model")
            .field("provider", &self.spec.provider_id)
            .field("model", &self.spec.model)
            .field("params", &self.spec.params)
            .field("config", &self.spec.config)
            .field("options", &self.spec.options)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// A model by id: `"openai/gpt-4o-mini"`, `"groq/llama-3.3-70b-versatile"`,
    /// `"openrouter/anthropic/claude-3.5-sonnet"` (split at the first `/`),
    /// or `"local"`: SmolLM2 on a llama-server the runtime supervises (see
    /// [`crate::local`]).
    pub fn new(id: &str) -> Model {
        let (provider_id, model) = match id.split_once('/') {
            Some((p, m)) => (p.to_string(), m.to_string()),
            None => (id.to_string(), String::new()),
        };
        Model {
            spec: Arc::new(Spec {
                provider_id,
                model,
                params: Params::default(),
                tools: Vec::new(),
                format: None,
                raw_events: false,
                system: None,
                cache: None,
                audio: None,
                extra_body: None,
                config: ProviderConfig::default(),
                options: StreamOptions::default(),
                runtime: None,
                provider: Arc::new(OnceLock::new()),
                fallbacks: Vec::new(),
            }),
        }
    }

    /// The spec to change: this model's own (copied first if a clone
    /// shares it).
    fn spec_mut(&mut self) -> &mut Spec {
        Arc::make_mut(&mut self.spec)
    }

    /// The provider id (`"openai"`).
    pub fn provider_id(&self) -> &str {
        &self.spec.provider_id
    }

    /// The model name as the provider knows it (`"gpt-4o-mini"`).
    pub fn model_name(&self) -> &str {
        &self.spec.model
    }

    // Builder methods that change how the provider is built reset the cache.
    fn reset_provider(mut self) -> Self {
        self.spec_mut().provider = Arc::new(OnceLock::new());
        self
    }

    /// Sampling temperature: a finite number, 0 or more (the CLI and the
    /// server refuse others).
    pub fn temperature(mut self, t: f64) -> Self {
        self.spec_mut().params.temperature = Some(t);
        self
    }
    /// Maximum output tokens.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.spec_mut().params.max_tokens = Some(n);
        self
    }
    /// Nucleus sampling.
    pub fn top_p(mut self, p: f64) -> Self {
        self.spec_mut().params.top_p = Some(p);
        self
    }
    /// Sampling seed.
    pub fn seed(mut self, seed: i64) -> Self {
        self.spec_mut().params.seed = Some(seed);
        self
    }
    /// Stop sequences.
    pub fn stop(mut self, stop: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.spec_mut().params.stop = stop.into_iter().map(Into::into).collect();
        self
    }
    /// Reasoning effort for models that think.
    pub fn thinking(mut self, level: ThinkingLevel) -> Self {
        self.spec_mut().params.thinking = Some(level);
        self
    }
    /// Whether and which tool the model must call: [`ToolChoice::Auto`]
    /// (the default), `None`, `Required`, or `Tool(name)`, which must name
    /// one of the model's tools (else the stream fails with
    /// `BadRequest` before anything is sent). Each provider sends it in
    /// its own form; where the provider cannot name a tool (Cohere) the
    /// named tool is sent alone and required, and where it cannot forbid
    /// tools (Bedrock) `None` sends no tools. With a
    /// [`format`](Model::format) on Anthropic or Bedrock, whose answer is
    /// a tool call, the choice wins over the format's forced tool (the
    /// format is asked for in the system prompt) and `None` is refused.
    ///
    /// ```
    /// use rivulet::{Model, ToolChoice};
    /// let model = Model::new("openai/gpt-4o-mini").tool_choice(ToolChoice::Required);
    /// assert_eq!(model.request("q").params.tool_choice, Some(ToolChoice::Required));
    /// ```
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.spec_mut().params.tool_choice = Some(choice);
        self
    }
    /// `false`: at most one tool call per turn (OpenAI and Responses
    /// `parallel_tool_calls`, Anthropic `disable_parallel_tool_use`).
    /// Providers with no such switch (Gemini, Bedrock, Cohere) fail the
    /// stream with `Unsupported` for `false`; `true` is everyone's default.
    pub fn parallel_tool_calls(mut self, on: bool) -> Self {
        self.spec_mut().params.parallel_tool_calls = Some(on);
        self
    }
    /// How many choices to generate (OpenAI-compatible `n`, Gemini
    /// `candidateCount`). The response is the first choice (index 0): the
    /// others are generated and billed but not streamed, so this is only
    /// useful with a provider that caches or logs them. Providers without
    /// it fail the stream with `Unsupported` for more than one.
    pub fn n(mut self, n: u32) -> Self {
        self.spec_mut().params.n = Some(n);
        self
    }
    /// A system prompt sent first with every request of this model
    /// (unless the messages already start with the same one, as a resumed
    /// conversation's do).
    ///
    /// ```
    /// let model = rivulet::Model::new("openai/gpt-4o-mini").system("Be brief.");
    /// let request = model.request("Hi");
    /// assert_eq!(request.messages[0], rivulet::Message::system("Be brief."));
    /// assert_eq!(model.request(request.messages.clone()).messages.len(), 2);
    /// ```
    pub fn system(mut self, text: impl Into<String>) -> Self {
        self.spec_mut().system = Some(text.into());
        self
    }
    /// Prompt-cache breakpoints ([`CacheBreakpoints`]): Anthropic
    /// `cache_control`, Bedrock `cachePoint`; other providers cache on
    /// their own and ignore them.
    ///
    /// ```
    /// use rivulet::{CacheBreakpoints, Model};
    /// let model = Model::new("anthropic/claude-sonnet-4-5")
    ///     .cache(CacheBreakpoints { system: true, tools: true, ..Default::default() });
    /// assert!(model.request("q").cache.unwrap().system);
    /// ```
    pub fn cache(mut self, breakpoints: CacheBreakpoints) -> Self {
        self.spec_mut().cache = Some(breakpoints);
        self
    }
    /// Spoken output (OpenAI Chat Completions, Azure, LiteLLM):
    /// `modalities: ["text", "audio"]` with `voice` (`alloy`, …) and
    /// `format` (`wav`, `mp3`, `pcm16`, …). The audio streams as
    /// `audio_chunk`s into an [`Audio`](rivulet_core::Audio) part, whose
    /// [`bytes`](rivulet_core::Audio::bytes) are the decoded audio. Other
    /// providers fail the stream with `Unsupported`.
    pub fn audio(mut self, voice: impl Into<String>, format: impl Into<String>) -> Self {
        self.spec_mut().audio = Some(AudioOutput {
            voice: voice.into(),
            format: format.into(),
        });
        self
    }
    /// A JSON object merged into every request body last, as a JSON merge
    /// patch (RFC 7386: objects merge key by key, `null` removes a key,
    /// anything else replaces): for provider fields rivulet does not
    /// model. Anything but an object fails the stream with `BadRequest`.
    ///
    /// ```
    /// let model = rivulet::Model::new("openai/gpt-4o-mini")
    ///     .extra_body(serde_json::json!({"service_tier": "flex"}));
    /// assert_eq!(model.request("q").extra_body.unwrap()["service_tier"], "flex");
    /// ```
    pub fn extra_body(mut self, body: serde_json::Value) -> Self {
        self.spec_mut().extra_body = Some(body);
        self
    }
    /// An HTTP header sent with every request, beside the provider's own
    /// (an invalid name or value fails the stream with `BadRequest`).
    /// `Debug` prints header values as given: a secret belongs in
    /// [`api_key`](Model::api_key), which it hides.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec_mut()
            .config
            .headers
            .push((name.into(), value.into()));
        self.reset_provider()
    }
    /// All call parameters at once.
    pub fn params(mut self, params: Params) -> Self {
        self.spec_mut().params = params;
        self
    }
    /// Tools the model may call: a [`Toolkit`](crate::Toolkit) (`&toolkit`)
    /// or hand-written [`ToolDefinition`]s.
    ///
    /// ```
    /// use rivulet::{Model, Tool, Toolkit, ToolDefinition};
    /// # #[derive(serde::Deserialize, schemars::JsonSchema)] struct SqrtArgs { number: f64 }
    /// let toolkit = Toolkit::new().with(Tool::new("sqrt_tool", "Square root", |a: SqrtArgs| {
    ///     Ok::<_, String>(a.number.sqrt())
    /// }));
    /// let model = Model::new("openai/gpt-4o-mini").tools(&toolkit);
    /// assert_eq!(model.request("q").tools[0].name, "sqrt_tool");
    /// let by_hand = Model::new("openai/gpt-4o-mini").tools(vec![ToolDefinition {
    ///     name: "now".into(),
    ///     description: "The time".into(),
    ///     parameters: serde_json::json!({"type": "object", "properties": {}}),
    /// }]);
    /// assert_eq!(by_hand.request("q").tools[0].name, "now");
    /// ```
    pub fn tools(mut self, tools: impl Into<ToolDefinitions>) -> Self {
        self.spec_mut().tools = tools.into().0;
        self
    }
    /// Structured output: the response must be JSON of type `T`. Sets the
    /// request's format to `T`'s strict schema ([`crate::schema::format_of`]);
    /// the OpenAI family sends it as `response_format: json_schema`. Read it
    /// with `structured_stream::<T>()`, `parse::<T>()` or `parse_partial::<T>()`.
    ///
    /// ```
    /// # #[derive(serde::Deserialize, schemars::JsonSchema)] struct Book { title: String }
    /// let model = rivulet::Model::new("openai/gpt-4o-mini").format::<Book>();
    /// assert_eq!(model.request("q").format.unwrap().name, "Book");
    /// ```
    pub fn format<T: schemars::JsonSchema>(mut self) -> Self {
        self.spec_mut().format = Some(crate::schema::format_of::<T>());
        self
    }
    /// A structured-output format given as a JSON Schema (as the CLI's
    /// `--format` does).
    pub fn format_schema(mut self, format: Format) -> Self {
        self.spec_mut().format = Some(format);
        self
    }
    /// Also emit `raw_chunk`s carrying the provider's own events.
    pub fn raw_events(mut self, on: bool) -> Self {
        self.spec_mut().raw_events = on;
        self
    }
    /// Overrides the provider's base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.spec_mut().config.base_url = Some(url.into());
        self.reset_provider()
    }
    /// Overrides the API key from the environment.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.spec_mut().config.api_key = Some(ApiKey::new(key));
        self.reset_provider()
    }
    /// Connect timeout: the connection and the response head, waiting for
    /// a slot of a concurrency limit included. None by default (the CLI
    /// sets 10 s); without one, a call still fails after the transport's
    /// own limits: 30 s to connect, 10 minutes for the response head.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.spec_mut().options.connect_timeout = Some(d);
        self
    }
    /// Time allowed from the call's start until the first content chunk
    /// (text, thought, tool call, audio: pings and keep-alives do not
    /// count). None by default (the CLI sets 120 s): a provider may think
    /// for minutes before it streams.
    pub fn first_chunk_timeout(mut self, d: Duration) -> Self {
        self.spec_mut().options.first_chunk_timeout = Some(d);
        self
    }
    /// Time allowed between two content chunks (pings and keep-alives do
    /// not count). None by default (the CLI sets 120 s); a body that sends
    /// no byte at all for 10 to 20 minutes fails anyway, as an idle
    /// timeout.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.spec_mut().options.idle_timeout = Some(d);
        self
    }
    /// Time allowed for the whole stream.
    pub fn total_timeout(mut self, d: Duration) -> Self {
        self.spec_mut().options.total_timeout = Some(d);
        self
    }
    /// Retries of a retryable error (a connection error, a 429, a 5xx)
    /// before the first content chunk: 2 by default, the first after
    /// [`Model::backoff`] (500 ms).
    pub fn retries(mut self, n: u32) -> Self {
        self.spec_mut().options.retries = n;
        self
    }
    /// First retry backoff (doubled each time, up to
    /// [`Model::max_retry_wait`]; `Retry-After` wins when larger).
    pub fn backoff(mut self, d: Duration) -> Self {
        self.spec_mut().options.backoff = d;
        self
    }
    /// The longest wait before a retry: 60 s unless set here.
    ///
    /// A server that answers 429, 503 or 529 may say how long to wait
    /// (`Retry-After`, `retry-after-ms`); rivulet waits that long before
    /// retrying when it is at most this. When the server asks for more, the
    /// stream fails at once with the server's error (a
    /// [`Error::RateLimit`] for a 429) instead of sleeping, and
    /// [`Error::retry_after`] says how long the server asked for: the
    /// caller decides whether to come back later. Backoff delays never
    /// exceed it either.
    ///
    /// ```
    /// use std::time::Duration;
    /// let model = rivulet::Model::new("openai/gpt-4o-mini")
    ///     .retries(3)
    ///     .max_retry_wait(Duration::from_secs(5));
    /// # let _ = model;
    /// ```
    pub fn max_retry_wait(mut self, d: Duration) -> Self {
        self.spec_mut().options.max_retry_wait = d;
        self
    }
    /// Keep generating when every handle is dropped.
    pub fn run_to_completion(mut self, on: bool) -> Self {
        self.spec_mut().options.run_to_completion = on;
        self
    }
    /// Streams through `provider` instead of the one the id names (a
    /// provider of your own, or a scripted one in tests). The id's provider
    /// part still names it in responses and logs.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures::stream;
    /// use rivulet::{Chunk, Model};
    /// use rivulet_core::{ChunkStream, OpenFuture, Provider, Request};
    ///
    /// struct Echo;
    /// impl Provider for Echo {
    ///     fn id(&self) -> &str { "echo" }
    ///     fn open(&self, request: &Request) -> OpenFuture {
    ///         let text = request.messages.last().map(|m| m.text()).unwrap_or_default();
    ///         let chunks: ChunkStream = Box::pin(stream::iter(
    ///             [Chunk::text_start(0), Chunk::text(0, text), Chunk::text_end(0)].map(Ok),
    ///         ));
    ///         Box::pin(async move { Ok(chunks) })
    ///     }
    /// }
    ///
    /// let model = Model::new("echo/v1").with_provider(Arc::new(Echo));
    /// assert_eq!(model.call_blocking("hello").unwrap().text(), "hello");
    /// ```
    pub fn with_provider(mut self, provider: Arc<dyn Provider>) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(provider));
        self.spec_mut().provider = Arc::new(cell);
        self
    }
    /// Runs this model's streams on `runtime` instead of the global one
    /// (for `local`, the server is supervised by that runtime too).
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.spec_mut().runtime = Some(runtime);
        self.reset_provider()
    }

    fn runtime_ref(&self) -> &Runtime {
        match &self.spec.runtime {
            Some(r) => r,
            None => Runtime::global(),
        }
    }

    fn provider(&self) -> Arc<dyn Provider> {
        let built = self.spec.provider.get_or_init(|| {
            if self.spec.provider_id == crate::local::PROVIDER_ID {
                // `local` with a base URL is a llama-server someone else runs.
                return match self.spec.config.base_url {
                    None => Ok(crate::local::provider(self.runtime_ref().clone())),
                    Some(_) => rivulet_providers::build("llamacpp", self.spec.config.clone()),
                };
            }
            let known = rivulet_providers::PROVIDER_IDS.contains(&self.spec.provider_id.as_str());
            if known && self.spec.model.trim().is_empty() {
                // Sent as `"model": ""`, the provider's refusal would name
                // neither the cause nor the fix.
                let id = &self.spec.provider_id;
                return Err(Error::bad_request(format!(
                    "no model name in {id:?}: use \"{id}/MODEL\" (e.g. \"openai/gpt-4o-mini\")"
                ))
                .with_provider(id));
            }
            rivulet_providers::build(&self.spec.provider_id, self.spec.config.clone())
        });
        match built {
            Ok(p) => p.clone(),
            // Errors surface while iterating, as in the seeds: a provider that
            // cannot be built becomes one whose open fails.
            Err(e) => Arc::new(FailedProvider {
                id: self.spec.provider_id.clone(),
                error: e.clone(),
            }),
        }
    }

    /// The request `stream` would send for `input`.
    pub fn request(&self, input: impl Into<Input>) -> Request {
        let mut messages = input.into().into_messages();
        if let Some(system) = &self.spec.system {
            let system = Message::system(system.clone());
            if messages.first() != Some(&system) {
                messages.insert(0, system);
            }
        }
        Request {
            model: self.spec.model.clone(),
            messages,
            params: self.spec.params.clone(),
            tools: self.spec.tools.clone(),
            format: self.spec.format.clone(),
            raw_events: self.spec.raw_events,
            cache: self.spec.cache,
            audio: self.spec.audio.clone(),
            extra_body: self.spec.extra_body.clone(),
        }
    }

    /// Starts streaming and returns at once; nothing has been sent yet and
    /// errors surface while iterating.
    ///
    /// Called from a multi-threaded tokio runtime (`#[tokio::main]`'s),
    /// the response is read and decoded on that runtime's workers, next to
    /// your consumers; called from anywhere else, on the rivulet runtime's
    /// own thread ([`RuntimeConfig::placement`](crate::RuntimeConfig)). The
    /// stream runs whether or not it is read, until it ends or the last
    /// clone, iterator and subscription of it are dropped (see
    /// [`StreamResponse`], "Dropping"); if that tokio runtime shuts down
    /// first, the stream ends as cancelled.
    pub fn stream(&self, input: impl Into<Input>) -> StreamResponse {
        let input = input.into();
        let mut options = self.stream_options();
        options.fallbacks = self.fallback_options(Some(&input));
        self.start(self.request(input), options)
    }

    /// Streams a request built by hand (or by [`Model::request`]). A
    /// fallback model gets the same request under its own model name.
    pub fn stream_request(&self, request: Request) -> StreamResponse {
        self.start(request, self.stream_options())
    }

    fn start(&self, request: Request, options: StreamOptions) -> StreamResponse {
        StreamResponse::with_model(
            self.runtime_ref().start(self.provider(), request, options),
            self.clone(),
        )
    }

    /// The stream options: this model's limits, names and fallbacks (each
    /// sent this stream's request under its own name).
    fn stream_options(&self) -> StreamOptions {
        let mut options = self.spec.options.clone();
        options.provider_id = self.spec.provider_id.clone();
        options.model = self.spec.model.clone();
        options.fallbacks = self.fallback_options(None);
        options
    }

    /// Streams a request built later by `prepare` (the next turn, once the
    /// previous one has ended).
    pub(crate) fn stream_after(&self, prepare: rivulet_actors::DeferredRequest) -> StreamResponse {
        StreamResponse::with_model(
            self.runtime_ref()
                .start_deferred(self.provider(), prepare, self.stream_options()),
            self.clone(),
        )
    }

    /// A stream that fails at once with `error`.
    pub(crate) fn stream_failing(&self, error: Error) -> StreamResponse {
        let mut options = self.stream_options();
        options.fallbacks.clear();
        let provider = Arc::new(FailedProvider {
            id: self.spec.provider_id.clone(),
            error,
        });
        StreamResponse::new(self.runtime_ref().start(
            provider,
            self.request(Vec::<rivulet_core::Message>::new()),
            options,
        ))
    }

    /// The whole response: the same pipeline, drained.
    pub async fn call(&self, input: impl Into<Input>) -> Result<Response, Error> {
        self.stream(input).finish().await
    }

    /// [`Model::call`] for synchronous code.
    ///
    /// Called on a worker of a multi-threaded tokio runtime, it blocks that
    /// worker while another of the runtime's workers reads the response
    /// (see [`Model::stream`]): on a runtime whose every worker is blocked
    /// this way, no stream can end. Use [`Model::call`] there, or a runtime
    /// configured with [`Placement::Arbiter`](crate::Placement).
    pub fn call_blocking(&self, input: impl Into<Input>) -> Result<Response, Error> {
        self.stream(input).blocking().finish()
    }
}

/// A fallback of a [`Model`]: another model, and whether it takes the
/// first model's call parameters (one named by id) or has its own.
#[derive(Clone)]
struct FallbackModel {
    model: Model,
    /// Named by id ([`Model::fallback`]): it is sent the stream's request
    /// under its own name, with the first model's retries, and served by
    /// the first model's provider when the provider is the same.
    by_id: bool,
}

// Fallback models: kept in a block of their own.
impl Model {
    /// Models to try, in order, when this one cannot answer: on a
    /// retryable error (overloaded, 5xx, 429, a failed connection) before
    /// the first content chunk, once this model's own retries are spent,
    /// the stream moves on to the next model. A failure after content
    /// never falls back (what consumers have seen cannot be taken back),
    /// nor does one a retry cannot help (a bad key, a bad request).
    ///
    /// Each fallback is sent the same request (messages, parameters,
    /// tools, format) under its own model name, with this model's
    /// retries; one at this model's provider uses this model's provider
    /// settings (base URL, key) and connections, one at another provider
    /// that provider's settings from the environment. For a fallback with
    /// settings or parameters of its own, use [`Model::fallback_to`].
    ///
    /// Everything else behaves as for one model: every consumer sees the
    /// answering model's chunks only (nothing of a model that failed
    /// reaches the stream), the first-chunk and total timeouts cover all
    /// the models tried, and a cancel stops whichever is being tried.
    /// [`StreamResponse::routing`] says which model answered and why the
    /// others did not; the response's `provider` and `model` are the
    /// answering model's.
    ///
    /// ```
    /// let model = rivulet::Model::new("anthropic/claude-sonnet-4-5")
    ///     .retries(1)
    ///     .fallback(["anthropic/claude-haiku-4-5", "openai/gpt-5-mini"]);
    /// # let _ = model;
    /// ```
    pub fn fallback(mut self, ids: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        for id in ids {
            let mut model = Model::new(id.as_ref());
            model.spec_mut().runtime.clone_from(&self.spec.runtime);
            self.spec_mut()
                .fallbacks
                .push(FallbackModel { model, by_id: true });
        }
        self
    }

    /// Fallback models with settings of their own: each is sent its own
    /// request (its own parameters over the same messages; tools and
    /// format as it was built with) through its own provider settings,
    /// with its own retries. Otherwise as [`Model::fallback`]; the
    /// fallbacks of these models are not used.
    ///
    /// ```
    /// use rivulet::Model;
    /// let backup = Model::new("openai/gpt-5-mini").base_url("https://proxy.example/v1");
    /// let model = Model::new("anthropic/claude-sonnet-4-5").fallback_to([backup]);
    /// # let _ = model;
    /// ```
    pub fn fallback_to(mut self, models: impl IntoIterator<Item = Model>) -> Self {
        self.spec_mut()
            .fallbacks
            .extend(models.into_iter().map(|model| FallbackModel {
                model,
                by_id: false,
            }));
        self
    }

    /// The fallbacks as the runtime takes them; `input` builds the request
    /// of those with parameters of their own (without it they are sent the
    /// stream's request under their name).
    fn fallback_options(&self, input: Option<&Input>) -> Vec<rivulet_actors::Fallback> {
        self.spec
            .fallbacks
            .iter()
            .map(|f| {
                let m = &f.model;
                let (provider, request, retries, backoff) = if f.by_id {
                    let provider = if m.spec.provider_id == self.spec.provider_id {
                        self.provider()
                    } else {
                        m.provider()
                    };
                    (
                        provider,
                        None,
                        self.spec.options.retries,
                        self.spec.options.backoff,
                    )
                } else {
                    let request = input.map(|i| Box::new(m.request(i.clone())));
                    (
                        m.provider(),
                        request,
                        m.spec.options.retries,
                        m.spec.options.backoff,
                    )
                };
                rivulet_actors::Fallback {
                    provider,
                    provider_id: m.spec.provider_id.clone(),
                    model: m.spec.model.clone(),
                    request,
                    retries,
                    backoff,
                }
            })
            .collect()
    }
}

/// A provider that could not be built (missing key, unknown id): its open
/// fails with the build error, so the error reaches every consumer.
struct FailedProvider {
    id: String,
    error: Error,
}

impl Provider for FailedProvider {
    fn id(&self) -> &str {
        &self.id
    }
    fn open(&self, _: &Request) -> OpenFuture {
        let e = self.error.clone();
        Box::pin(async move { Err(e) })
    }
}

/// Whether `t` can be a sampling temperature: finite and 0 or more. The
/// one rule the CLI's `--temperature`, `POST /v1/streams` and
/// `/v1/chat/completions` check, each with its own message.
pub fn valid_temperature(t: f64) -> bool {
    t.is_finite() && t >= 0.0
}

/// Checks a `provider/model` id before anything is built: a known
/// provider, and a model name (the local model needs none). `name` is how
/// the caller names the setting (`"-m "`, a request's `"model "`): the
/// error starts with it and the id (`"-m gpt-4o: unknown provider …"`).
pub fn check_model_id(name: &str, id: &str) -> Result<(), String> {
    let (provider, model) = id.split_once('/').unwrap_or((id, ""));
    if provider == crate::local::PROVIDER_ID {
        Ok(())
    } else if !rivulet_providers::PROVIDER_IDS.contains(&provider) {
        Err(format!("{name}{id}: unknown provider {provider:?}"))
    } else if model.trim().is_empty() {
        Err(format!(
            "{name}{id}: no model name (use {name}{provider}/MODEL, e.g. {name}openai/gpt-4o-mini)"
        ))
    } else {
        Ok(())
    }
}
