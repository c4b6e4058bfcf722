//! [`Config`]: where the shared log is and how this node uses it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The default [`Config::lease`]: 5 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);
/// The default [`Config::retention`]: 10 min, as `rivulet serve` keeps a
/// finished stream.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(600);

/// How a [`Node`](crate::Node) talks to Redis. Build it with
/// [`Config::new`] and change the public fields as needed.
///
/// `Debug` shows the URL without its password.
#[derive(Clone)]
pub struct Config {
    /// `redis://[user:password@]HOST:PORT[/db]`.
    pub url: String,
    /// This node's name in the shared log: the owner named in a stream's
    /// metadata, in the failure other nodes report when the owner dies, and
    /// in the channel its cancels arrive on. Unique among the nodes
    /// sharing one Redis. [`Config::new`] makes one from the process id and
    /// the time.
    pub node_id: String,
    /// The first part of every key (see the crate docs for the layout), so
    /// several deployments can share one Redis database.
    pub prefix: String,
    /// How long a running stream's ownership lasts without a refresh. The
    /// owner refreshes it every third of it; a follower that finds it
    /// expired without the stream's end ends with a failure naming the
    /// owner, within about `lease` + [`Config::poll`] of the owner's death.
    pub lease: Duration,
    /// How long a stream's keys stay in Redis after its last write (its
    /// end, for a stream that ended).
    pub retention: Duration,
    /// The most chunks a mirror may be behind its stream (in the local log,
    /// not yet confirmed by Redis) before it gives up: the copy in Redis is
    /// then closed with a failure saying the mirror was lost. The local
    /// stream is never held back either way.
    pub max_lag: u64,
    /// How long a mirror keeps retrying while Redis fails before it gives
    /// up as for [`Config::max_lag`].
    pub max_outage: Duration,
    /// The longest wait for one reply from Redis (a pipeline, a status read,
    /// connecting); past it the request counts as failed.
    pub request_timeout: Duration,
    /// How long a follower's `XREAD BLOCK` waits before it checks the
    /// owner's lease: the delay, beyond the lease, in noticing a dead owner.
    pub poll: Duration,
    /// The most entries one pipeline (one round trip) carries. A mirror
    /// sends whatever chunks are ready as one pipeline, up to this many;
    /// its subscription holds up to this many events ready (up to 1,024),
    /// and a follower reads up to this many entries per `XREAD`.
    pub batch: usize,
}

impl Config {
    /// The defaults for `url`: a generated node id, prefix `rivulet`, a
    /// 5 s lease ([`DEFAULT_LEASE`]), 10 min retention
    /// ([`DEFAULT_RETENTION`]), a mirror lost 10,000 chunks behind or after
    /// 30 s of failures, 2 s per request, a 250 ms poll, 256 entries per
    /// pipeline.
    pub fn new(url: impl Into<String>) -> Config {
        Config {
            url: url.into(),
            node_id: generated_node_id(),
            prefix: "rivulet".into(),
            lease: DEFAULT_LEASE,
            retention: DEFAULT_RETENTION,
            max_lag: 10_000,
            max_outage: Duration::from_secs(30),
            request_timeout: Duration::from_secs(2),
            poll: Duration::from_millis(250),
            batch: 256,
        }
    }
}

/// `node-PID-MICROS`: unique enough among the processes of one deployment,
/// readable in a failure message.
fn generated_node_id() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("node-{}-{:x}", std::process::id(), micros)
}

/// The URL with any password replaced: what may be printed. One that does
/// not parse is not shown at all (it could be a password pasted whole).
pub(crate) fn redacted(url: &str) -> String {
    match redis::parse_redis_url(url) {
        Some(mut parsed) => {
            if parsed.password().is_some() {
                // Fails only for URLs that cannot have a password.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        None => "(a URL that does not parse)".into(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &redacted(&self.url))
            .field("node_id", &self.node_id)
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .field("retention", &self.retention)
            .field("max_lag", &self.max_lag)
            .field("max_outage", &self.max_outage)
            .field("request_timeout", &self.request_timeout)
            .field("poll", &self.poll)
            .field("batch", &self.batch)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let mut c = Config::new("redis://app:s3cret@10.0.0.5:6379/2");
        c.node_id = "a".into();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redis://app:***@10.0.0.5:6379/2"), "{shown}");
        assert_eq!(
            redacted("redis://:pw@localhost/0"),
            "redis://:***@localhost/0"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redacted("s3cret"), "(a URL that does not parse)");
    }
}
