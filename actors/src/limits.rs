//! Runtime-wide limits per provider (and optionally per model): how many
//! streams may be in flight at once, and the shared pause after a 429.
//!
//! Every attempt of a stream (a connection and the reading of its body)
//! first takes a slot of its provider, and of its model when that model
//! has a limit of its own, and keeps it until the attempt ends. An attempt
//! without a free slot waits; the wait is raced against the stream's
//! cancel and its timeouts like the connection itself (it counts against
//! the connect timeout). When a provider answers 429 with a `Retry-After`
//! the stream honours, every new attempt to that provider waits until
//! then: one shared pause, not each stream running into the limit again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::stats::lock;

/// What a provider's (or a model's) limit looks like now, from
/// [`Runtime::limit_stats`](crate::Runtime::limit_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitStats {
    /// The limit on streams in flight (`None`: unlimited).
    pub limit: Option<usize>,
    /// Attempts holding a slot now: connecting or streaming.
    pub in_flight: usize,
    /// Attempts waiting for a slot or for the end of a pause.
    pub waiting: usize,
    /// How much longer new attempts are paused after a 429.
    pub paused_for: Option<Duration>,
}

/// A provider's gate and those of its models that have limits of their
/// own. Looked up by `&str` on every attempt: no key is allocated.
#[derive(Default)]
struct Entry {
    provider: Arc<Gate>,
    models: HashMap<String, Arc<Gate>>,
}

/// One provider's or model's limit and counters.
#[derive(Default)]
struct Gate {
    /// The semaphore of the current limit (`None`: unlimited). A new limit
    /// gets a new semaphore: attempts holding a slot of the old one keep
    /// it, so a lowered limit applies as they end.
    slots: Mutex<Option<(usize, Arc<Semaphore>)>>,
    in_flight: AtomicUsize,
    waiting: AtomicUsize,
    /// New attempts wait until then (a 429's `Retry-After`).
    paused_until: Mutex<Option<Instant>>,
}

impl Gate {
    fn paused_until(&self) -> Option<Instant> {
        let mut paused = lock(&self.paused_until);
        match *paused {
            Some(until) if until > Instant::now() => Some(until),
            Some(_) => {
                *paused = None;
                None
            }
            None => None,
        }
    }

    fn stats(&self) -> LimitStats {
        LimitStats {
            limit: lock(&self.slots).as_ref().map(|(n, _)| *n),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            paused_for: self
                .paused_until()
                .map(|until| until.saturating_duration_since(Instant::now())),
        }
    }
}

/// Counts one waiter while it lives (a wait that is dropped, by a cancel
/// or a timeout, stops counting).
struct WaiterCount<'a>(&'a AtomicUsize);

impl<'a> WaiterCount<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        WaiterCount(n)
    }
}

impl Drop for WaiterCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The limits of one runtime.
#[derive(Default)]
pub(crate) struct Limits {
    gates: Mutex<HashMap<String, Entry>>,
}

impl Limits {
    /// The provider's gate (made on first use: its counters start then)
    /// and its model's, when that model has a limit of its own.
    fn gates(&self, provider: &str, model: &str) -> (Arc<Gate>, Option<Arc<Gate>>) {
        let mut gates = lock(&self.gates);
        if let Some(e) = gates.get(provider) {
            return (e.provider.clone(), e.models.get(model).cloned());
        }
        let e = gates.entry(provider.to_string()).or_default();
        (e.provider.clone(), None)
    }

    fn gate(&self, provider: &str, model: Option<&str>) -> Arc<Gate> {
        let mut gates = lock(&self.gates);
        let e = gates.entry(provider.to_string()).or_default();
        match model {
            None => e.provider.clone(),
            Some(m) => e.models.entry(m.to_string()).or_default().clone(),
        }
    }

    fn existing(&self, provider: &str, model: Option<&str>) -> Option<Arc<Gate>> {
        let gates = lock(&self.gates);
        let e = gates.get(provider)?;
        match model {
            None => Some(e.provider.clone()),
            Some(m) => e.models.get(m).cloned(),
        }
    }

    /// Sets (or with `None` lifts) the limit of a provider, or of one of
    /// its models.
    pub(crate) fn set(&self, provider: &str, model: Option<&str>, limit: Option<usize>) {
        let gate = self.gate(provider, model);
        let mut slots = lock(&gate.slots);
        if slots.as_ref().map(|(n, _)| *n) != limit {
            *slots = limit.map(|n| (n, Arc::new(Semaphore::new(n))));
        }
    }

    pub(crate) fn stats(&self, provider: &str, model: Option<&str>) -> LimitStats {
        self.existing(provider, model)
            .map(|g| g.stats())
            .unwrap_or_default()
    }

    /// Pauses new attempts to `provider` for `d` (a 429's `Retry-After`);
    /// a pause already running longer stays.
    pub(crate) fn pause(&self, provider: &str, d: Duration) {
        let gate = self.gate(provider, None);
        let until = Instant::now() + d;
        let mut paused = lock(&gate.paused_until);
        match *paused {
            Some(p) if p >= until => {}
            _ => *paused = Some(until),
        }
    }

    /// Waits for a slot of `provider` (and of `model`, when it has a limit
    /// of its own) and for the end of any pause; the slot is held until
    /// the returned value is dropped. Cancel-safe: dropping the future
    /// while it waits takes nothing.
    pub(crate) async fn enter(&self, provider: &str, model: &str) -> Slot {
        let (provider, model) = self.gates(provider, model);
        'wait: loop {
            if let Some(until) = provider.paused_until() {
                let _counted = WaiterCount::new(&provider.waiting);
                tokio::time::sleep_until(until).await;
                continue;
            }
            // Model first, then provider: every attempt takes them in the
            // same order, so two attempts never hold one each and wait for
            // the other.
            let mut permits = Vec::new();
            for gate in model.iter().chain([&provider]) {
                let semaphore = lock(&gate.slots).as_ref().map(|(_, s)| s.clone());
                let Some(semaphore) = semaphore else { continue };
                let permit = match semaphore.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        let _counted = WaiterCount::new(&gate.waiting);
                        match semaphore.acquire_owned().await {
                            Ok(p) => p,
                            // Never closed; a closed one limits nothing.
                            Err(_) => continue,
                        }
                    }
                };
                permits.push(permit);
            }
            // A 429 may have come in while this attempt waited for its slot.
            if provider.paused_until().is_some() {
                drop(permits);
                continue 'wait;
            }
            for gate in model.iter().chain([&provider]) {
                gate.in_flight.fetch_add(1, Ordering::Relaxed);
            }
            return Slot {
                provider,
                model,
                _permits: permits,
            };
        }
    }
}

/// A held slot: while it lives, its attempt counts as in flight.
pub(crate) struct Slot {
    provider: Arc<Gate>,
    model: Option<Arc<Gate>>,
    _permits: Vec<OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        for gate in self.model.iter().chain([&self.provider]) {
            gate.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_limit_holds_attempts_back_and_counts_them() {
        let limits = Arc::new(Limits::default());
        limits.set("p", None, Some(1));
        let first = limits.enter("p", "m").await;
        assert_eq!(limits.stats("p", None).in_flight, 1);
        let l = limits.clone();
        let second = tokio::spawn(async move { l.enter("p", "m").await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let stats = limits.stats("p", None);
        assert_eq!(
            (stats.limit, stats.in_flight, stats.waiting),
            (Some(1), 1, 1)
        );
        drop(first);
        let second = second.await.unwrap();
        let stats = limits.stats("p", None);
        assert_eq!((stats.in_flight, stats.waiting), (1, 0));
        drop(second);
        assert_eq!(limits.stats("p", None).in_flight, 0);
    }

    #[tokio::test]
    async fn a_model_limit_is_within_its_provider() {
        let limits = Limits::default();
        limits.set("p", Some("small"), Some(1));
        let a = limits.enter("p", "small").await;
        let b = limits.enter("p", "big").await;
        assert_eq!(limits.stats("p", None).in_flight, 2);
        assert_eq!(limits.stats("p", Some("small")).in_flight, 1);
        let waited =
            tokio::time::timeout(Duration::from_millis(50), limits.enter("p", "small")).await;
        assert!(waited.is_err(), "the model's one slot is taken");
        assert_eq!(limits.stats("p", Some("small")).waiting, 0, "gave up");
        drop((a, b));
    }

    #[tokio::test]
    async fn a_pause_holds_every_new_attempt() {
        let limits = Limits::default();
        limits.pause("p", Duration::from_millis(200));
        let started = Instant::now();
        let _slot = limits.enter("p", "m").await;
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(limits.stats("p", None).paused_for, None);
        // Another provider is not paused.
        limits.pause("p", Duration::from_secs(5));
        let other = tokio::time::timeout(Duration::from_secs(1), limits.enter("q", "m")).await;
        assert!(other.is_ok(), "another provider is not paused");
        assert!(limits.stats("p", None).paused_for.unwrap() > Duration::from_secs(4));
    }
}
