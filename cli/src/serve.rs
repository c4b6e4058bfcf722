//! `rivulet serve`: running the HTTP/SSE server as its flags say.
//!
//! The flags themselves ([`ServeArgs`]) are in `serve_args.rs`, a leaf, and
//! re-exported here: the command line's `Command::Serve` (`args.rs`) holds
//! them, and this file reads the shared flags' helpers (`args::limit`,
//! `config::DEFAULT_MODEL`), so with the flags here the two files would
//! import each other.

use std::io::Write;

use super::args::limit;
use super::config::DEFAULT_MODEL;
use super::exit;
pub use super::serve_args::{ServeArgs, Token};
use rivulet::model::check_model_id;
use rivulet_server::{serve, shutdown_signal, ServeConfig};

/// Runs the server until SIGTERM or ctrl-c; returns the exit status.
pub fn run(args: &ServeArgs, err: &mut dyn Write) -> i32 {
    let default_model = args.model.clone().unwrap_or_else(|| DEFAULT_MODEL.into());
    if let Err(e) = check_model_id("-m ", &default_model) {
        let _ = writeln!(err, "rivulet serve: {e}");
        return exit::USAGE;
    }
    let (connect, idle) = (limit(args.connect_timeout), limit(args.idle_timeout));
    let config = ServeConfig {
        token: args
            .token
            .as_ref()
            .map(|t| t.expose().to_string())
            .filter(|t| !t.is_empty()),
        default_model,
        prepare: Some(std::sync::Arc::new(move |mut m: rivulet::Model| {
            if let Some(d) = connect {
                m = m.connect_timeout(d);
            }
            if let Some(d) = idle {
                m = m.idle_timeout(d);
            }
            m
        })),
        max_streams: args.max_streams as usize,
        max_attachers: args.max_attachers as usize,
        body_limit: args.body_limit,
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        retention: args.retention,
        max_kept: args.max_kept,
        drain: args.drain,
        redis: args.redis.clone().map(|mut redis| {
            redis.lease = args.lease;
            redis.retention = args.retention;
            if let Some(id) = &args.node_id {
                redis.node_id = id.clone();
            }
            redis
        }),
        allowed_origins: args.allow_origins.clone(),
        ..ServeConfig::default()
    };
    // Refused before binding: nothing listens on an exposed address, even
    // for a moment, without a token.
    if let Err(e) = rivulet_server::check_exposure(args.addr, config.token.as_deref()) {
        let _ = writeln!(err, "rivulet serve: {e}");
        return exit::USAGE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "rivulet serve: cannot start the runtime: {e}");
            return exit::USAGE;
        }
    };
    let addr = args.addr;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        eprintln!("rivulet serve: listening on http://{local}");
        serve(listener, config, shutdown_signal()).await
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            let _ = writeln!(err, "rivulet serve: {addr}: {e}");
            exit::USAGE
        }
    }
}
