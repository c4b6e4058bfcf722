//! The loopback server.
//!
//! It runs on its own thread with its own tokio runtime, so it keeps serving
//! whatever the test does with its own runtime: block its thread, run the
//! client on another runtime, or have no runtime at all.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

use crate::replay::{reason_phrase, After, Replay};
use crate::request::{read_request, RecordedRequest};

/// What the server knows about one accepted connection.
#[derive(Debug)]
struct Conn {
    /// When it was accepted.
    accepted: Instant,
    /// Body bytes the kernel accepted so far.
    bytes_written: AtomicU64,
    /// When the server noticed the client had gone.
    client_closed: Mutex<Option<Instant>>,
    /// Closed by either side.
    closed: AtomicBool,
    /// Its last write has begun, or the client has gone.
    done: AtomicBool,
}

impl Conn {
    fn new() -> Self {
        Conn {
            accepted: Instant::now(),
            bytes_written: AtomicU64::new(0),
            client_closed: Mutex::new(None),
            closed: AtomicBool::new(false),
            done: AtomicBool::new(false),
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    responses: Vec<Replay>,
    requests: Mutex<Vec<RecordedRequest>>,
    conns: Mutex<Vec<Arc<Conn>>>,
    open: AtomicUsize,
    /// Connections accepted whose response is not written whole yet (and
    /// whose client has not gone), and the most there were at once.
    active: AtomicUsize,
    max_active: AtomicUsize,
    /// Woken whenever a connection closes or a client goes.
    changed: Notify,
}

/// Locks, ignoring poisoning: a panicking test thread must not hide the
/// server's records from the test's own assertions.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A loopback HTTP/1.1 server that answers the i-th connection with the i-th
/// [`Replay`] (the last one repeats) and records what it received.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use rivulet_testkit::{Replay, Server};
/// let server = Server::start(vec![Replay::sse("data: [DONE]\n\n")]).await;
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// assert_eq!(server.connections(), 0);
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Starts a server on `127.0.0.1` and an ephemeral port.
    ///
    /// # Panics
    /// When `responses` is empty or the socket cannot be bound.
    pub async fn start(responses: Vec<Replay>) -> Server {
        let (shared, shutdown, ready) = Self::spawn(responses);
        let addr = ready
            .await
            .expect("testkit server thread died while starting");
        Server {
            addr,
            shared,
            shutdown: Some(shutdown),
        }
    }

    /// [`Server::start`] for code without an async context.
    ///
    /// # Panics
    /// As `start`, and when called from inside an async context.
    pub fn start_blocking(responses: Vec<Replay>) -> Server {
        let (shared, shutdown, ready) = Self::spawn(responses);
        let addr = ready
            .blocking_recv()
            .expect("testkit server thread died while starting");
        Server {
            addr,
            shared,
            shutdown: Some(shutdown),
        }
    }

    #[allow(clippy::type_complexity)]
    fn spawn(
        responses: Vec<Replay>,
    ) -> (
        Arc<Shared>,
        oneshot::Sender<()>,
        oneshot::Receiver<SocketAddr>,
    ) {
        assert!(
            !responses.is_empty(),
            "the server needs at least one Replay"
        );
        let shared = Arc::new(Shared {
            responses,
            ..Default::default()
        });
        let (ready_tx, ready_rx) = oneshot::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("testkit-server".into())
            .spawn(move || serve(thread_shared, ready_tx, shutdown_rx))
            .expect("cannot spawn the testkit server thread");
        (shared, shutdown_tx, ready_rx)
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops the requests recorded so far (counters stay). For soak tests
    /// that measure the client's memory in the same process: the server's
    /// own records must not be what grows.
    pub fn forget_requests(&self) {
        let mut r = lock(&self.shared.requests);
        r.clear();
        r.shrink_to_fit();
    }

    /// The requests received so far, in connection order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let mut r = lock(&self.shared.requests).clone();
        r.sort_by_key(|r| r.connection);
        r
    }

    /// Connections accepted and not yet closed by either side.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// The most connections there were at once between being accepted
    /// and the end of their response (the start of its last write, or the
    /// client gone). A client cannot be done with a connection before
    /// then, so this never counts one the client had already finished
    /// with (the write's return, and the socket's close, may come a moment
    /// after the client has read the bytes and moved on): it is how many
    /// connections the client had in use at once, at least.
    pub fn max_active_connections(&self) -> usize {
        self.shared.max_active.load(Ordering::SeqCst)
    }

    /// When connection `conn` was accepted (`None` for an unknown one).
    pub fn accepted_at(&self, conn: usize) -> Option<Instant> {
        lock(&self.shared.conns).get(conn).map(|c| c.accepted)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// Body bytes written on connection `conn` so far (0 for an unknown
    /// connection). When the client stops reading, TCP buffers fill, writes
    /// block and this stops growing.
    pub fn bytes_written(&self, conn: usize) -> u64 {
        lock(&self.shared.conns)
            .get(conn)
            .map_or(0, |c| c.bytes_written.load(Ordering::SeqCst))
    }

    /// When the server noticed that the client closed connection `conn`.
    pub fn client_closed_at(&self, conn: usize) -> Option<Instant> {
        lock(&self.shared.conns)
            .get(conn)
            .and_then(|c| *lock(&c.client_closed))
    }

    /// Waits until the server notices a client closing its side of a
    /// connection (a read returned 0 or failed, or a write failed) and
    /// returns when it did (the earliest such instant over all connections);
    /// `None` after `timeout`. Needs a tokio runtime with timers.
    pub async fn wait_client_closed(&self, timeout: Duration) -> Option<Instant> {
        self.wait_for(timeout, || {
            lock(&self.shared.conns)
                .iter()
                .filter_map(|c| *lock(&c.client_closed))
                .min()
        })
        .await
    }

    /// Waits until no connection is open; false after `timeout`.
    pub async fn wait_all_closed(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, || (self.open_connections() == 0).then_some(()))
            .await
            .is_some()
    }

    async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            // Register before checking, so a change between the check and
            // the wait is not missed.
            notified.as_mut().enable();
            if let Some(v) = check() {
                return Some(v);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return check();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The server thread: accept until shut down, then drop the runtime, which
/// drops every connection task and so closes every socket.
fn serve(shared: Arc<Shared>, ready: oneshot::Sender<SocketAddr>, shutdown: oneshot::Receiver<()>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build the testkit runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("cannot bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("no local address");
        if ready.send(addr).is_err() {
            return;
        }
        let accept = async {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let conn = Arc::new(Conn::new());
                let index = {
                    let mut conns = lock(&shared.conns);
                    conns.push(conn.clone());
                    conns.len() - 1
                };
                shared.open.fetch_add(1, Ordering::SeqCst);
                let active = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
                shared.max_active.fetch_max(active, Ordering::SeqCst);
                let shared = shared.clone();
                tokio::spawn(async move {
                    handle(stream, index, &conn, &shared).await;
                    close(&conn, &shared);
                });
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = shutdown => {}
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// The connection's response is over for counting: its last write has
/// begun, or its client has gone.
fn done(conn: &Conn, shared: &Shared) {
    if !conn.done.swap(true, Ordering::SeqCst) {
        shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn close(conn: &Conn, shared: &Shared) {
    done(conn, shared);
    if !conn.closed.swap(true, Ordering::SeqCst) {
        shared.open.fetch_sub(1, Ordering::SeqCst);
    }
    shared.changed.notify_waiters();
}

fn client_gone(conn: &Conn, shared: &Shared) {
    done(conn, shared);
    lock(&conn.client_closed).get_or_insert_with(Instant::now);
    shared.changed.notify_waiters();
}

async fn handle(stream: TcpStream, index: usize, conn: &Conn, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let replay = &shared.responses[index.min(shared.responses.len() - 1)];
    if replay.then == After::Abort {
        // A zero linger turns the close into an RST.
        let _ = stream.set_zero_linger();
    }
    let (mut rd, mut wr) = stream.into_split();

    match read_request(&mut rd, index).await {
        Ok(Some(req)) => lock(&shared.requests).push(req),
        _ => {
            client_gone(conn, shared);
            return;
        }
    }

    // Watch the read side while writing: a client that goes away shows up
    // here at once, even when the writer is sleeping or blocked.
    let watch = async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::pin!(watch);

    let written = tokio::select! {
        _ = &mut watch => {
            client_gone(conn, shared);
            return;
        }
        r = write_response(&mut wr, replay, conn, shared) => r,
    };
    if written.is_err() {
        client_gone(conn, shared);
        return;
    }
    match replay.then {
        After::Close => {
            let _ = wr.shutdown().await;
        }
        After::Stall => {
            watch.await;
            client_gone(conn, shared);
        }
        After::Abort => {
            let _ = wr.flush().await;
            // Let the pieces leave before the reset overtakes them.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn write_response<W: AsyncWrite + Unpin>(
    wr: &mut W,
    replay: &Replay,
    conn: &Conn,
    shared: &Shared,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        replay.status,
        reason_phrase(replay.status)
    );
    for (k, v) in &replay.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !replay
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
    {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");

    let mut body: Box<dyn Iterator<Item = Cow<'_, [u8]>> + Send + '_> = match &replay.generated {
        Some(generated) => Box::new(generated.writes().map(Cow::Owned)),
        None => Box::new(replay.pieces().into_iter().map(Cow::Borrowed)),
    };
    let mut next = body.next();
    if next.is_none() {
        // The head is the last write.
        done(conn, shared);
    }
    wr.write_all(head.as_bytes()).await?;
    let mut first = true;
    while let Some(piece) = next {
        next = body.next();
        if !first && !replay.delay.is_zero() {
            tokio::time::sleep(replay.delay).await;
        }
        first = false;
        if next.is_none() {
            // The connection stops counting as active when its last write
            // begins, not when it returns: the client may read those bytes,
            // finish and open its next connection before this task runs
            // again, and that next connection must not overlap this one.
            done(conn, shared);
        }
        write_counted(wr, &piece, conn).await?;
    }
    Ok(())
}

/// Writes all of `piece`, counting each byte as the kernel accepts it.
async fn write_counted<W: AsyncWrite + Unpin>(
    wr: &mut W,
    mut piece: &[u8],
    conn: &Conn,
) -> std::io::Result<()> {
    while !piece.is_empty() {
        let n = wr.write(piece).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        conn.bytes_written.fetch_add(n as u64, Ordering::SeqCst);
        piece = &piece[n..];
    }
    Ok(())
}
