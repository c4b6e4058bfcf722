//! `rivulet serve`'s flags ([`ServeArgs`]), re-exported by `serve.rs`.
//!
//! A leaf of its own: the command line's subcommands (`args.rs`) hold
//! these flags, and running the server (`serve.rs`) reads them along with
//! the other flags' helpers; with the flags in `serve.rs`, it and `args.rs`
//! would import each other.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args as ClapArgs;

/// A duration flag's value (`500ms`, `30s`, `10m`).
fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 500ms, 30s, 10m)"))
}

/// The bearer token: a secret, so its `Debug` print hides it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// `--token TOKEN`, kept as a [`Token`].
fn token(s: &str) -> Result<Token, String> {
    Ok(Token(s.to_string()))
}

/// `--redis URL`: kept as the shared log's config, whose `Debug` print
/// hides the URL's password.
///
/// A parser of its own rather than a function: clap repeats a refused
/// value in its error (`invalid value 'http://user:PASS@host' for …`),
/// and a mistyped URL may carry a password; this one's error does not.
#[derive(Clone, Copy, Debug)]
struct RedisUrl;

impl clap::builder::TypedValueParser for RedisUrl {
    type Value = rivulet_redis::Config;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        match value.to_str() {
            Some(s)
                if s.starts_with("redis://")
                    || s.starts_with("rediss://")
                    || s.starts_with("unix://") =>
            {
                Ok(rivulet_redis::Config::new(s))
            }
            _ => Err(clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                "--redis (or RIVULET_REDIS) takes a Redis URL, redis://HOST:PORT[/DB] \
                 (the value given is not shown: it may hold a password)\n",
            )
            .with_cmd(cmd)),
        }
    }
}

/// `--allow-origin ORIGIN`, checked as the server checks it.
fn allowed_origin(s: &str) -> Result<String, String> {
    rivulet_server::check_allowed_origin(s).map(|()| s.to_string())
}

/// Serve streams over HTTP: start, attach (SSE), resume, list, cancel.
#[derive(Clone, Debug, ClapArgs)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "IP:PORT")]
    pub addr: SocketAddr,

    /// Bearer token every request must carry (Authorization: Bearer TOKEN).
    #[arg(
        long,
        env = "RIVULET_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        value_parser = token
    )]
    pub token: Option<Token>,

    /// Let pages of ORIGIN (scheme://host or scheme://host:port, e.g. http://localhost:3000; scheme://host:* for
    /// any port of that host) use the server from a browser (CORS). Pages of any other origin but the server's own
    /// are refused with 403. Repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_parser = allowed_origin)]
    pub allow_origins: Vec<String>,

    /// The model when a request names none [default: $RIVULET_MODEL, else local: the embedded model].
    #[arg(short, long, env = "RIVULET_MODEL", value_name = "PROVIDER/MODEL")]
    pub model: Option<String>,

    /// Streams running at once; more are refused with 429.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,

    /// SSE clients attached to one stream at once; more are refused with 429.
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attachers: u32,

    /// The largest request body in bytes; larger is refused with 413.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub body_limit: usize,

    /// A client must send its request head within this of connecting.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = duration)]
    pub header_timeout: Duration,

    /// And its request body within this; later is refused with 408.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    pub body_timeout: Duration,

    /// How long a finished stream stays readable before it is freed.
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = duration)]
    pub retention: Duration,

    /// Finished streams kept at most (the oldest-ended is freed first), whatever the retention.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_kept: usize,

    /// Share streams with other `rivulet serve` nodes through Redis Streams: each stream started here is
    /// mirrored, and any node's stream can be followed, resumed and cancelled here.
    #[arg(
        long,
        env = "RIVULET_REDIS",
        value_name = "redis://HOST:PORT[/DB]",
        hide_env_values = true,
        value_parser = RedisUrl
    )]
    pub redis: Option<rivulet_redis::Config>,

    /// With --redis: how long this node's hold on a running stream lasts unrefreshed; other nodes'
    /// attachers get `end: failed` this long after the node dies.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = duration)]
    pub lease: Duration,

    /// With --redis: this node's name in the shared log [default: host, process and start time].
    #[arg(long, value_name = "NAME")]
    pub node_id: Option<String>,

    /// On SIGTERM or ctrl-c, how long in-flight streams may run before they are cancelled.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    pub drain: Duration,

    /// Limit on connecting and receiving the response head (0: none).
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "10s")]
    pub connect_timeout: Duration,

    /// Limit between two content chunks (0: none).
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "120s")]
    pub idle_timeout: Duration,
}
