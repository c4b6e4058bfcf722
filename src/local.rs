//! The `local` provider: a real model on this machine, nothing to configure.
//!
//! SmolLM2-135M-Instruct (a GGUF file) served by llama.cpp's `llama-server`,
//! which the runtime supervises on a thread of its own, apart from the
//! threads that carry the streams ([`Runtime::supervise`]): started on a
//! free loopback port on first use, health-checked, restarted if it dies,
//! killed when the runtime shuts down. Requests then go through the
//! `llamacpp` provider (OpenAI Chat Completions) at that address.
//!
//! [`SETUP_COMMAND`] builds the server from source and fetches the model,
//! both from PyPI, into `~/.cache/rivulet/` (see [`LocalConfig::from_env`]
//! for the variables that point elsewhere). Without them, a stream fails
//! with [`Error::Unsupported`] naming that command.
//!
//! ```no_run
//! use rivulet::Model;
//!
//! let model = Model::new("local").max_tokens(64).temperature(0.0);
//! let response = model.call_blocking("Name a fantasy book.").unwrap();
//! println!("{}", response.text());
//! ```

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rivulet_actors::Runtime;
use rivulet_core::{Error, OpenFuture, Provider, Request};
use rivulet_providers::ProviderConfig;

/// The supervised `llama-server` process: its handle, spec, status and
/// phase.
pub use rivulet_actors::{ProcessHandle, ProcessPhase, ProcessSpec, ProcessStatus};

/// The provider id.
pub const PROVIDER_ID: &str = "local";

/// The command that builds `llama-server` and fetches the model (run from
/// the repository's root).
pub const SETUP_COMMAND: &str = "scripts/setup-local.sh";

/// The supervised process's name in its runtime ([`Runtime::process`]).
pub const PROCESS_NAME: &str = "llama-server";

/// The model file [`SETUP_COMMAND`] fetches.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where the server and the model are, and how the server runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalConfig {
    /// The `llama-server` binary.
    pub server: PathBuf,
    /// The GGUF model file.
    pub model: PathBuf,
    /// Threads for generation (`-t`).
    pub threads: u32,
    /// Parallel slots (`-np`): generations served at once.
    pub slots: u32,
    /// Context size (`-c`), shared by the slots.
    pub context: u32,
}

impl LocalConfig {
    /// From the environment, else the defaults of [`SETUP_COMMAND`]:
    ///
    /// - `RIVULET_LLAMA_SERVER` (default `<cache>/bin/llama-server`);
    /// - `RIVULET_LOCAL_MODEL` (default `<cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf`);
    /// - `RIVULET_LOCAL_THREADS` (default half the cores, 1 or 2),
    ///   `RIVULET_LOCAL_SLOTS` (default 2);
    ///
    /// where `<cache>` is `$RIVULET_CACHE`, else `$XDG_CACHE_HOME/rivulet`,
    /// else `~/.cache/rivulet`.
    pub fn from_env() -> LocalConfig {
        let cache = cache_dir();
        let path = |var: &str, default: PathBuf| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or(default)
        };
        let number = |var: &str, default: u32| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        // At most 256: more parallel generations than a CPU model serves
        // usefully, and the context (2048 per slot) stays far from `u32`'s
        // limit whatever the variable says.
        let slots = number("RIVULET_LOCAL_SLOTS", 2).min(256);
        // Half the cores, at most 2: on a 2-core machine shared with other
        // work, one thread gave a steady 65-80 tokens/s where two swung
        // between 7 and 110 (a thread descheduled stalls the other at every
        // barrier).
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        let threads = (cores / 2).clamp(1, 2);
        LocalConfig {
            server: path("RIVULET_LLAMA_SERVER", cache.join("bin/llama-server")),
            model: path(
                "RIVULET_LOCAL_MODEL",
                cache.join("models").join(DEFAULT_MODEL_FILE),
            ),
            threads: number("RIVULET_LOCAL_THREADS", threads),
            slots,
            // 2048 tokens per slot.
            context: 2048 * slots,
        }
    }

    /// Checks that the server and the model exist; the error names
    /// [`SETUP_COMMAND`].
    pub fn check(&self) -> Result<(), Error> {
        let missing = |what: &str, path: &Path, var: &str| {
            Error::unsupported(format!(
                "the local model is not set up: {what} {} not found; run {SETUP_COMMAND} \
                 (builds llama-server and fetches SmolLM2-135M-Instruct into ~/.cache/rivulet), \
                 or set {var}",
                path.display()
            ))
            .with_provider(PROVIDER_ID)
        };
        if !self.server.is_file() {
            return Err(missing(
                "llama-server",
                &self.server,
                "RIVULET_LLAMA_SERVER",
            ));
        }
        if !self.model.is_file() {
            return Err(missing("the model", &self.model, "RIVULET_LOCAL_MODEL"));
        }
        Ok(())
    }

    /// How the runtime runs the server: loopback only, a free port,
    /// `/metrics` on, few threads, and the model named
    /// [`LocalConfig::model_name`] in its answers (`--alias`; else the
    /// server names it by its file's path, which then reached every
    /// response and, through `rivulet serve`, every client).
    pub fn spec(&self) -> ProcessSpec {
        ProcessSpec::new(PROCESS_NAME, &self.server)
            .args([OsStr::new("-m"), self.model.as_os_str()])
            .args(["--alias".to_string(), self.model_name()])
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--metrics",
                "--no-webui",
            ])
            .args(["-c".to_string(), self.context.to_string()])
            .args(["-np".to_string(), self.slots.to_string()])
            .args(["-t".to_string(), self.threads.to_string()])
            .health_path("/health")
            .hint(format!(
                "check {} and {} (run {SETUP_COMMAND} to set them up)",
                self.server.display(),
                self.model.display()
            ))
    }

    /// The model's name: the file name without `.gguf`.
    pub fn model_name(&self) -> String {
        self.model
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "local".into())
    }
}

/// The cache [`SETUP_COMMAND`] fills: `$RIVULET_CACHE`, else
/// `$XDG_CACHE_HOME/rivulet`, else `~/.cache/rivulet`.
pub fn cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("RIVULET_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("rivulet");
    }
    let home = var("HOME").map(PathBuf::from).unwrap_or_else(|| ".".into());
    home.join(".cache").join("rivulet")
}

/// The `llama-server` that `runtime` supervises for the local provider
/// (configured from the environment), registered on first call; it is
/// spawned by the first [`ProcessHandle::ready`]. For its address, pid and
/// restart count.
pub fn server(runtime: &Runtime) -> Result<ProcessHandle, Error> {
    server_with(runtime, &LocalConfig::from_env())
}

/// [`server`] with an explicit configuration.
pub fn server_with(runtime: &Runtime, config: &LocalConfig) -> Result<ProcessHandle, Error> {
    config.check()?;
    Ok(runtime.supervise(config.spec()))
}

/// The `local` provider on `runtime`, configured from the environment.
pub fn provider(runtime: Runtime) -> Arc<dyn Provider> {
    Arc::new(LocalProvider {
        runtime,
        config: LocalConfig::from_env(),
        client: Arc::new(Mutex::new(None)),
    })
}

type Client = Arc<Mutex<Option<(SocketAddr, Arc<dyn Provider>)>>>;

/// Opens each stream by making sure the server is up (waiting for its
/// health check), then handing the request to `llamacpp` at its address.
struct LocalProvider {
    runtime: Runtime,
    config: LocalConfig,
    /// The `llamacpp` provider for the server's current address (a restart
    /// may move it to another port).
    client: Client,
}

impl Provider for LocalProvider {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let runtime = self.runtime.clone();
        let config = self.config.clone();
        let client = self.client.clone();
        let mut request = request.clone();
        Box::pin(async move {
            let server = server_with(&runtime, &config)?;
            let addr = server
                .ready()
                .await
                .map_err(|e| e.with_provider(PROVIDER_ID))?;
            let provider = {
                let mut cached = client.lock().unwrap_or_else(|e| e.into_inner());
                match cached.as_ref() {
                    Some((a, p)) if *a == addr => p.clone(),
                    _ => {
                        let p = rivulet_providers::build(
                            "llamacpp",
                            ProviderConfig {
                                base_url: Some(format!("http://{addr}/v1")),
                                ..Default::default()
                            },
                        )?;
                        *cached = Some((addr, p.clone()));
                        p
                    }
                }
            };
            if request.model.is_empty() {
                request.model = config.model_name();
            }
            provider.open(&request).await
        })
    }
}
