//! Tools from Rust functions, and the [`Toolkit`] that runs them.
//!
//! A [`Tool`] is a name, a description and a function, sync or async, whose
//! argument type derives `serde::Deserialize` and `schemars::JsonSchema`:
//! the JSON Schema the model sees is derived from that type (see
//! [`crate::schema`]), and the model's arguments are deserialized into it
//! when the call runs. The function returns `Result<R, E>` with `R:
//! Serialize` (sent to the model as JSON text) and `E: Display` (sent as an
//! error output).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use rivulet_actors::ParsedToolCall;
use rivulet_core::{Error, ErrorContext, ToolCall, ToolDefinition, ToolOutput};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

/// What running a tool gives: its result text, or its error's (both go
/// back to the model). Not a stream's [`Outcome`](crate::Outcome).
type RunResult = Result<String, String>;
type BoxFuture = Pin<Box<dyn Future<Output = RunResult> + Send>>;

/// How a tool runs: a sync function on a thread of its own, or an async one
/// polled by the caller's executor.
#[derive(Clone)]
enum Runner {
    Sync(Arc<dyn Fn(Value) -> RunResult + Send + Sync>),
    Async(Arc<dyn Fn(Value) -> Result<BoxFuture, String> + Send + Sync>),
}

/// A tool: a name, a description, the JSON Schema of its arguments and the
/// function that runs it. Cheap to clone.
///
/// The function is sync ([`Tool::new`]) or async ([`Tool::new_async`]); its
/// argument type derives `serde::Deserialize` and `schemars::JsonSchema`
/// (the schema the model sees, see [`crate::schema`]), and it returns
/// `Result<R, E>` with `R: Serialize` (sent to the model as JSON text; a
/// string as itself) and `E: Display` (sent as an error output).
///
/// ```
/// use rivulet::Tool;
/// # #[derive(serde::Deserialize, schemars::JsonSchema)] struct CityArgs { city: String }
/// let weather = Tool::new_async("weather", "Today's weather in a city", |a: CityArgs| async move {
///     Ok::<_, std::io::Error>(format!("sunny in {}", a.city))
/// });
/// let out = futures::executor::block_on(weather.run(serde_json::json!({"city": "Paris"})));
/// assert_eq!(out.unwrap(), "sunny in Paris");
/// ```
#[derive(Clone)]
pub struct Tool {
    name: String,
    description: String,
    parameters: Value,
    runner: Runner,
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// The arguments as `A`. A tool without arguments may take `()`: the
/// model's `{}` is accepted for it.
fn decode<A: DeserializeOwned>(tool: &str, args: Value) -> Result<A, String> {
    match A::deserialize(&args) {
        Ok(a) => Ok(a),
        Err(e) => {
            if args.as_object().is_some_and(|m| m.is_empty()) {
                if let Ok(a) = A::deserialize(&Value::Null) {
                    return Ok(a);
                }
            }
            Err(format!("invalid arguments for {tool}: {e}"))
        }
    }
}

/// A result as text for the model: JSON, except that a string is sent as
/// itself rather than quoted.
fn encode<R: Serialize>(result: &R) -> RunResult {
    match serde_json::to_value(result) {
        Ok(Value::String(s)) => Ok(s),
        Ok(v) => Ok(v.to_string()),
        Err(e) => Err(format!("the result could not be serialized: {e}")),
    }
}

fn panic_message(tool: &str, payload: Box<dyn Any + Send>) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string());
    format!("{tool} panicked: {what}")
}

impl Tool {
    /// A tool running the synchronous function `f`. Each call runs on a
    /// thread of its own, so calls run concurrently and a slow tool never
    /// blocks an async executor. A panic becomes an error output.
    pub fn new<A, R, E, F>(name: impl Into<String>, description: impl Into<String>, f: F) -> Tool
    where
        A: DeserializeOwned + JsonSchema + 'static,
        R: Serialize + 'static,
        E: fmt::Display + 'static,
        F: Fn(A) -> Result<R, E> + Send + Sync + 'static,
    {
        let name = name.into();
        let tool = name.clone();
        let run = move |args: Value| -> RunResult {
            let a = decode::<A>(&tool, args)?;
            match f(a) {
                Ok(r) => encode(&r),
                Err(e) => Err(e.to_string()),
            }
        };
        Tool {
            parameters: crate::schema::tool_parameters::<A>(),
            name,
            description: description.into(),
            runner: Runner::Sync(Arc::new(run)),
        }
    }

    /// A tool running the async function `f`, polled by whoever executes
    /// the tools (calls of one batch run concurrently). A panic becomes an
    /// error output.
    pub fn new_async<A, R, E, F, Fut>(
        name: impl Into<String>,
        description: impl Into<String>,
        f: F,
    ) -> Tool
    where
        A: DeserializeOwned + JsonSchema + 'static,
        R: Serialize + 'static,
        E: fmt::Display + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let name = name.into();
        let tool = name.clone();
        let run = move |args: Value| -> Result<BoxFuture, String> {
            let a = decode::<A>(&tool, args)?;
            let fut = f(a);
            Ok(Box::pin(async move {
                match fut.await {
                    Ok(r) => encode(&r),
                    Err(e) => Err(e.to_string()),
                }
            }))
        };
        Tool {
            parameters: crate::schema::tool_parameters::<A>(),
            name,
            description: description.into(),
            runner: Runner::Async(Arc::new(run)),
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tool's description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// What the model is told about the tool.
    pub fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
        }
    }

    /// Runs the tool on `args`: the result as text for the model, or
    /// `Error::ToolExecution` with why it failed (invalid arguments, an
    /// error returned, a panic).
    pub async fn run(&self, args: Value) -> Result<String, Error> {
        let outcome = match &self.runner {
            Runner::Sync(f) => {
                let f = f.clone();
                let tool = self.name.clone();
                let (tx, rx) = futures::channel::oneshot::channel();
                let spawned = std::thread::Builder::new()
                    .name(format!("rivulet-tool-{}", self.name))
                    .spawn(move || {
                        let out = catch_unwind(AssertUnwindSafe(|| f(args)))
                            .unwrap_or_else(|p| Err(panic_message(&tool, p)));
                        let _ = tx.send(out);
                    });
                match spawned {
                    Ok(_) => rx
                        .await
                        .unwrap_or_else(|_| Err(format!("{} did not finish", self.name))),
                    Err(e) => Err(format!("cannot start a thread for {}: {e}", self.name)),
                }
            }
            Runner::Async(f) => match catch_unwind(AssertUnwindSafe(|| f(args))) {
                Ok(Ok(fut)) => AssertUnwindSafe(fut)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|p| Err(panic_message(&self.name, p))),
                Ok(Err(e)) => Err(e),
                Err(p) => Err(panic_message(&self.name, p)),
            },
        };
        outcome.map_err(|message| Error::ToolExecution {
            tool: self.name.clone(),
            ctx: Box::new(ErrorContext::new(message)),
        })
    }
}

/// Tools by name. Produces the definitions sent to the model
/// ([`crate::Model::tools`] accepts a toolkit) and executes the model's
/// calls. Cheap to clone.
///
/// ```
/// use rivulet::{ParsedToolCall, Tool, ToolCall, Toolkit};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct SqrtArgs {
///     /// The number to take the square root of.
///     number: f64,
/// }
///
/// let toolkit = Toolkit::new().with(Tool::new(
///     "sqrt_tool",
///     "Computes the square root of a number",
///     |args: SqrtArgs| Ok::<_, String>(args.number.sqrt()),
/// ));
/// let definitions = toolkit.definitions();
/// assert_eq!(definitions[0].name, "sqrt_tool");
/// assert_eq!(definitions[0].parameters["required"], serde_json::json!(["number"]));
///
/// let call = ParsedToolCall {
///     call: ToolCall { id: "call_1".into(), name: "sqrt_tool".into(), args: r#"{"number": 16}"#.into(), signature: None },
///     args: Ok(serde_json::json!({"number": 16})),
/// };
/// let output = futures::executor::block_on(toolkit.execute(&call));
/// assert_eq!(output.result, "4.0");
/// assert!(!output.is_error);
/// ```
#[derive(Clone, Default)]
pub struct Toolkit {
    tools: Arc<Vec<Tool>>,
    by_name: Arc<HashMap<String, usize>>,
}

impl fmt::Debug for Toolkit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.tools.iter()).finish()
    }
}

impl Toolkit {
    /// An empty toolkit.
    pub fn new() -> Toolkit {
        Toolkit::default()
    }

    /// Adds `tool` (replacing a tool of the same name).
    pub fn with(mut self, tool: Tool) -> Toolkit {
        self.add(tool);
        self
    }

    /// Adds `tool` (replacing a tool of the same name).
    pub fn add(&mut self, tool: Tool) {
        let tools = Arc::make_mut(&mut self.tools);
        let by_name = Arc::make_mut(&mut self.by_name);
        match by_name.get(&tool.name) {
            Some(&i) => tools[i] = tool,
            None => {
                by_name.insert(tool.name.clone(), tools.len());
                tools.push(tool);
            }
        }
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// The tools, in the order they were added.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there is no tool.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The definitions sent to the model, in the order the tools were added.
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.tools.iter().map(Tool::definition).collect()
    }

    /// Executes one call. Never fails: an unknown tool, invalid arguments
    /// (the call's JSON, or the tool's type: serde's message), an error the
    /// tool returns or a panic become an output with `is_error: true`, which
    /// the model sees.
    ///
    /// Each call is an `execute_tool {name}` span (OpenTelemetry GenAI
    /// conventions, target `rivulet::gen_ai`; see [`crate::telemetry`]),
    /// with `error.type` when the output is an error; its arguments and
    /// result only when content capture is on.
    pub async fn execute(&self, call: &ParsedToolCall) -> ToolOutput {
        let span = crate::telemetry::execute_tool_span(&call.call, self.get(&call.call.name));
        let output = self.execute_in(call).instrument(span.clone()).await;
        crate::telemetry::tool_done(&span, call, &output);
        output
    }

    async fn execute_in(&self, call: &ParsedToolCall) -> ToolOutput {
        let ToolCall { id, name, .. } = &call.call;
        let output = |result: String, is_error: bool| ToolOutput {
            id: id.clone(),
            name: name.clone(),
            result,
            is_error,
            attachments: Vec::new(),
        };
        let Some(tool) = self.get(name) else {
            return output(format!("unknown tool: {name}"), true);
        };
        let args = match &call.args {
            Ok(v) => v.clone(),
            Err(e) => return output(format!("invalid arguments for {name}: {e}"), true),
        };
        match tool.run(args).await {
            Ok(result) => output(result, false),
            Err(e) => output(e.message().to_string(), true),
        }
    }

    /// Executes calls concurrently; the outputs are in the calls' order.
    pub async fn execute_all(&self, calls: &[ParsedToolCall]) -> Vec<ToolOutput> {
        futures::future::join_all(calls.iter().map(|c| self.execute(c))).await
    }
}

impl FromIterator<Tool> for Toolkit {
    fn from_iter<I: IntoIterator<Item = Tool>>(iter: I) -> Self {
        let mut t = Toolkit::new();
        for tool in iter {
            t.add(tool);
        }
        t
    }
}

impl From<Vec<Tool>> for Toolkit {
    fn from(tools: Vec<Tool>) -> Self {
        tools.into_iter().collect()
    }
}

/// What [`crate::Model::tools`] accepts: a [`Toolkit`] (its definitions) or
/// definitions written by hand.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolDefinitions(pub Vec<ToolDefinition>);

impl From<Vec<ToolDefinition>> for ToolDefinitions {
    fn from(d: Vec<ToolDefinition>) -> Self {
        ToolDefinitions(d)
    }
}

impl From<&Toolkit> for ToolDefinitions {
    fn from(t: &Toolkit) -> Self {
        ToolDefinitions(t.definitions())
    }
}

impl From<Toolkit> for ToolDefinitions {
    fn from(t: Toolkit) -> Self {
        ToolDefinitions(t.definitions())
    }
}

/// Runs `f` to completion on a fresh current-thread tokio runtime (async
/// tools may use tokio's timers and I/O). For the blocking twins: do not
/// call from async code.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(_) => futures::executor::block_on(f),
    }
}

/// Tool definitions from JSON (a `--tools` file, a request's `"tools"`): an array of `{name, description, parameters}`
/// or of OpenAI's `{"type":"function","function":{…}}`, or one of them.
/// Errors name the definition (1-based).
pub fn tool_definitions_from_json(v: Value) -> Result<Vec<ToolDefinition>, String> {
    let items = match v {
        Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let item = match item.get("function") {
                Some(f) => f.clone(),
                None => item,
            };
            serde_json::from_value::<ToolDefinition>(item)
                .map_err(|e| format!("tool definition {}: {e}", i + 1))
        })
        .collect()
}
