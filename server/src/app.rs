//! What every handler shares ([`App`]): the configuration, the streams, the
//! shared log and the prepared models.
//!
//! A module of its own, not the crate root: the routes and the checks in
//! front of them (`auth.rs`, `body.rs`, `origin.rs`) take an `App`, and the
//! root builds one and hands it to the routes; with `App` in the root, each
//! of them and the root would import the other.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use rivulet::Model;

use super::config::ServeConfig;
use super::registry::Registry;
use super::remote::Remote;

/// What every handler shares.
pub(crate) struct App {
    /// How the server runs.
    pub(crate) config: ServeConfig,
    /// The streams this node holds.
    pub(crate) registry: Registry,
    /// With `--redis`: the shared log.
    pub(crate) remote: Option<Remote>,
    /// Set on shutdown: nothing new starts.
    pub(crate) draining: AtomicBool,
    /// A model per id, prepared once: its clones share one provider, so
    /// streams of one model reuse its HTTP client and connections.
    models: Mutex<HashMap<String, Model>>,
}

/// Model ids the server keeps prepared; ids beyond (ids are free-form, a
/// client could send endless ones) get a model of their own each time.
const MAX_MODELS: usize = 64;

impl App {
    /// The state of a server that runs as `config` says, with `remote` its
    /// shared log if it has one: no streams yet, not draining.
    pub(crate) fn new(config: ServeConfig, remote: Option<Remote>) -> Self {
        App {
            remote,
            registry: Registry::new(config.max_kept),
            config,
            draining: AtomicBool::new(false),
            models: Mutex::default(),
        }
    }

    /// The prepared model `id` (a clone: setting parameters on it changes
    /// no other stream's).
    pub(crate) fn model(&self, id: &str) -> Model {
        let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = models.get(id) {
            return m.clone();
        }
        let mut model = Model::new(id);
        if let Some(prepare) = &self.config.prepare {
            model = prepare(model);
        }
        if models.len() < MAX_MODELS {
            models.insert(id.to_string(), model.clone());
        }
        model
    }
}
