//! The streams the server knows: in flight, and finished ones kept for
//! their retention time.
//!
//! The registry holds each stream's `StreamResponse` (a handle), so a
//! stream runs to completion whoever is attached; dropping the entry after
//! the retention frees it. The map is behind a std mutex held only for
//! short, non-async sections.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::end::status;
use super::fanout::Fanout;
use super::frames::Frames;
use super::metrics::{Gauges, Metrics};
use rivulet::{Outcome, StreamResponse};

/// One stream.
pub struct Entry {
    /// Its id.
    pub id: String,
    /// `provider/model`.
    pub model: String,
    /// The handle that keeps it running.
    pub response: StreamResponse,
    /// When it started.
    pub started: SystemTime,
    attachers: AtomicUsize,
    /// Cancel it when its last attacher goes (a chat completion's
    /// generation: nobody asked for it to outlive its readers).
    cancel_unattached: bool,
    /// When it ended, set once its final response is published (the log's
    /// outcome comes a moment before: a snapshot taken in between may
    /// still miss the last chunks).
    ended: watch::Sender<Option<Instant>>,
    /// The SSE events of its latest chunks, built once for all attachers.
    pub(crate) frames: Frames,
    /// Its writer to the attachers that keep up, if it has one.
    pub(crate) fanout: Fanout,
    /// Whether its chunks are in the metrics' count of ended streams' chunks
    /// (until then a scrape counts its log's length). Changed and read only
    /// under the registry's map lock, so a scrape never counts it twice or
    /// not at all.
    chunks_counted: AtomicBool,
}

impl Entry {
    /// SSE clients attached now.
    pub fn attachers(&self) -> usize {
        self.attachers.load(Ordering::SeqCst)
    }

    /// Counts one more attacher unless `max` are attached; the guard
    /// counts it off when dropped.
    pub fn attach(self: &Arc<Self>, max: usize) -> Option<Attached> {
        self.attachers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Attached(self.clone()))
    }

    fn ended_at(&self) -> Option<Instant> {
        *self.ended.borrow()
    }

    /// How it ended, once its final response is published (`None` while
    /// it runs): after that, a snapshot is the whole response.
    pub fn outcome(&self) -> Option<Outcome> {
        self.ended_at()?;
        self.response.outcome()
    }

    /// Waits until [`Entry::outcome`] is known.
    pub async fn ended(&self) {
        let _ = self.ended.subscribe().wait_for(Option::is_some).await;
    }
}

/// How [`Registry::insert`] registers a stream beyond its id.
#[derive(Debug, Default)]
pub struct Registration {
    /// Cancel it when its last attacher goes (the caller attaches first,
    /// so it starts with one): a chat's generation that nobody asked to
    /// outlive its readers.
    pub cancel_unattached: bool,
    /// The AI SDK chat it answers, found by the chat's id while it runs.
    pub chat: Option<String>,
}

/// One attacher, counted while it lives.
pub struct Attached(Arc<Entry>);

impl Attached {
    /// The stream it is attached to.
    pub fn entry(&self) -> &Entry {
        &self.0
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let before = self.0.attachers.fetch_sub(1, Ordering::SeqCst);
        if before == 1 && self.0.cancel_unattached {
            // A no-op once the stream has ended.
            self.0.response.cancel();
        }
    }
}

/// The streams by id, and the order in which they ended.
#[derive(Default)]
struct Streams {
    by_id: HashMap<String, Arc<Entry>>,
    /// The ids of the ended streams still kept, oldest-ended first: the
    /// retention and `max_kept` free from its front, without scanning the
    /// map (every start used to count the whole map's ended streams).
    ended: VecDeque<String>,
    /// The running stream of each AI SDK chat that has one, by the chat's
    /// id (`GET /v1/ai-sdk/chat/{chat}/stream` resumes it): a chat's
    /// newest stream, dropped when that stream ends.
    chats: HashMap<String, String>,
}

impl Streams {
    /// Frees the oldest-ended streams beyond `max_kept` ended ones.
    fn free_beyond(&mut self, max_kept: usize) {
        while self.ended.len() > max_kept {
            if let Some(id) = self.ended.pop_front() {
                self.by_id.remove(&id);
            }
        }
    }

    /// Frees the streams that ended `retention` or more before `now`.
    fn free_ended_before(&mut self, now: Instant, retention: Duration) {
        while let Some(id) = self.ended.front() {
            match self.by_id.get(id).map(|e| e.ended_at()) {
                // Its end is being published: it is the newest anyway.
                Some(None) => break,
                Some(Some(t)) if now.saturating_duration_since(t) < retention => break,
                _ => {}
            }
            if let Some(id) = self.ended.pop_front() {
                self.by_id.remove(&id);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every stream by id.
#[derive(Default)]
pub struct Registry {
    streams: Arc<Mutex<Streams>>,
    /// Finished streams kept at most (the oldest-ended are freed first):
    /// the retention alone would let a burst of short streams hold every
    /// log for ten minutes.
    max_kept: usize,
    next: AtomicU64,
    /// Streams started and not yet ended (their places in the limit).
    running: Arc<AtomicUsize>,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
}

impl Registry {
    /// An empty registry that keeps at most `max_kept` finished streams.
    pub fn new(max_kept: usize) -> Self {
        Registry {
            max_kept,
            ..Registry::default()
        }
    }

    /// Starts a stream with `start` unless `max_running` streams are
    /// running (then `None`, and nothing is started), registers it as
    /// `registration` says, and watches it so that its end is timed for
    /// the retention.
    pub fn insert(
        &self,
        model: String,
        start: impl FnOnce() -> StreamResponse,
        max_running: usize,
        registration: Registration,
    ) -> Option<Arc<Entry>> {
        let Registration {
            cancel_unattached,
            chat,
        } = registration;
        let started = SystemTime::now();
        // Unique within the process, and not a bare counter: ids from a
        // restarted server do not collide with ones a client still holds.
        let nanos = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        // Take a place first, so two requests cannot both take the last.
        self.running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                (r < max_running).then_some(r + 1)
            })
            .ok()?;
        let entry = Arc::new(Entry {
            id: format!("st_{nanos:x}_{:x}_{n}", std::process::id()),
            model,
            response: start(),
            started,
            attachers: AtomicUsize::new(0),
            frames: Frames::default(),
            fanout: Fanout::default(),
            cancel_unattached,
            ended: watch::Sender::new(None),
            chunks_counted: AtomicBool::new(false),
        });
        {
            let mut streams = lock(&self.streams);
            streams.free_beyond(self.max_kept);
            streams.by_id.insert(entry.id.clone(), entry.clone());
            if let Some(chat) = &chat {
                // The chat's newest generation is the one it resumes.
                streams.chats.insert(chat.clone(), entry.id.clone());
            }
        }
        let watched = entry.clone();
        let streams = self.streams.clone();
        let running = self.running.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            // Waits for the end only: the time to the first chunk is the
            // provider's own figure, read then. A subscription read up to
            // the first chunk woke this task as that chunk arrived, beside
            // the attachers' writer, and the response was copied for
            // nothing by `finish`.
            let outcome = watched.response.ended().await;
            if let Some(ttfc) = watched.response.time_to_first_chunk() {
                metrics.first_chunk(ttfc);
            }
            {
                let mut streams = lock(&streams);
                metrics.chunks(watched.response.handle().len() as u64);
                watched.chunks_counted.store(true, Ordering::Relaxed);
                streams.ended.push_back(watched.id.clone());
                if let Some(chat) = chat {
                    // Unless a newer generation of the chat took its place.
                    if streams.chats.get(&chat) == Some(&watched.id) {
                        streams.chats.remove(&chat);
                    }
                }
            }
            metrics.ended(status(Some(&outcome)));
            // The place first: whoever waits for the end may start another.
            running.fetch_sub(1, Ordering::SeqCst);
            watched.ended.send_replace(Some(Instant::now()));
        });
        Some(entry)
    }

    /// The stream `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        lock(&self.streams).by_id.get(id).cloned()
    }

    /// The running stream of the AI SDK chat `chat` (its newest), if it
    /// has one.
    pub fn chat(&self, chat: &str) -> Option<Arc<Entry>> {
        let streams = lock(&self.streams);
        let id = streams.chats.get(chat)?;
        streams.by_id.get(id).cloned()
    }

    /// Every stream, oldest first.
    pub fn all(&self) -> Vec<Arc<Entry>> {
        let mut all: Vec<_> = lock(&self.streams).by_id.values().cloned().collect();
        all.sort_by_key(|e| e.started);
        all
    }

    /// Frees the streams that ended more than `retention` ago. Attachers
    /// still reading one keep it (their subscriptions hold it) until they
    /// are done.
    pub fn sweep(&self, retention: Duration) {
        let mut streams = lock(&self.streams);
        streams.free_ended_before(Instant::now(), retention);
        streams.free_beyond(self.max_kept);
    }

    /// The `/metrics` exposition text.
    pub fn metrics(&self) -> String {
        // Outside the lock: it walks every malloc arena.
        let heap_in_use = rivulet::actors::heap_in_use();
        let streams = lock(&self.streams);
        let attachers = streams.by_id.values().map(|e| e.attachers()).sum();
        // Streams still counting: their logs' lengths so far, which only
        // grow, so the total never goes back between scrapes.
        let uncounted = streams
            .by_id
            .values()
            .filter(|e| !e.chunks_counted.load(Ordering::Relaxed))
            .map(|e| e.response.handle().len() as u64)
            .sum();
        // Rendered under the lock: a stream counted in between would be
        // counted twice.
        self.metrics.render(Gauges {
            in_flight: self.running.load(Ordering::SeqCst),
            attachers,
            uncounted_chunks: uncounted,
            heap_in_use,
        })
    }

    /// Waits up to `grace` for every stream to end, then cancels the rest;
    /// returns once all have ended. Waits with `ended`: `finish` would
    /// copy every kept stream's response to drop it.
    pub async fn drain(&self, grace: Duration) {
        let all = self.all();
        let ended = futures::future::join_all(all.iter().map(|e| e.response.ended()));
        if tokio::time::timeout(grace, ended).await.is_err() {
            for e in &all {
                e.response.cancel();
            }
            futures::future::join_all(all.iter().map(|e| e.response.ended())).await;
        }
    }
}
