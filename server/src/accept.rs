//! Accepting connections: HTTP/1.1 on hyper, with the deadlines
//! `axum::serve` cannot set.
//!
//! `axum::serve` installs no timer in hyper, so hyper's header read timeout
//! (on by default) is inert: a client that opens a connection and sends
//! half a request head (slowloris) holds the connection and its file
//! descriptor forever. This loop is axum's own accept loop with a timer
//! and [`ServeConfig::header_timeout`](crate::ServeConfig::header_timeout),
//! and hyper-util's graceful shutdown in place of axum's.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_service::Service;

use super::socket::{Conn, Socket};

/// A request extension: the socket of the connection the request came
/// on, for a response that writes its events straight to it
/// (`socket.rs`). Absent when the router is called some other way.
#[derive(Clone)]
pub(crate) struct Direct(pub(crate) Arc<Socket>);

/// The router, with each request carrying its connection's [`Direct`].
#[derive(Clone)]
struct WithSocket {
    router: Router,
    socket: Direct,
}

impl Service<Request<Incoming>> for WithSocket {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.socket.clone());
        self.router.call(request)
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and returns once every open connection has closed (each ends
/// after its response in flight). A client must send its whole request
/// head within `header_timeout` of connecting (or, on a kept-alive
/// connection, of its next request's first byte).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Chunks are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let socket = Socket::new(stream);
        let service = TowerToHyperService::new(WithSocket {
            router: router.clone(),
            socket: Direct(socket.clone()),
        });
        let connection = builder.serve_connection(TokioIo::new(Conn(socket)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection's own errors (a reset, a header timeout) end it
            // and concern nobody else.
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// After a failed accept: a client that went away before being accepted is
/// nothing; anything else (out of file descriptors, say) would fail again
/// at once, so wait a little, as axum does, rather than spin.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
