//! A connection's socket, shared by hyper and the stream's fan-out writer.
//!
//! Why: with one stream fanned out to many SSE attachers, an attacher that
//! follows live costs, per chunk, a task wake, a trip through hyper's
//! dispatcher and body and a write. The write is what the kernel charges
//! (about 2 µs on loopback, the floor relay's whole cost); the rest was as
//! much again. So once an attacher's response head is out, its chunks are
//! written straight to its socket: by the stream's writer
//! ([`fanout`](crate::fanout)), one write per attacher per batch of chunks,
//! while the attacher keeps up; by its own response body while it replays
//! or falls behind. hyper still reads the connection (a client's close, a
//! pipelined request), writes the response head and, once the body ends,
//! the chunked coding's last chunk.
//!
//! hyper writes through [`Conn`]; the response body knows hyper has nothing
//! left to write when hyper flushes (it flushes only once its buffer is
//! empty): [`Socket::flushed`].

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A connection's TCP socket.
pub(crate) struct Socket {
    tcp: TcpStream,
    /// hyper flushed and has written nothing since: its buffer is empty.
    flushed: AtomicBool,
}

impl Socket {
    pub(crate) fn new(tcp: TcpStream) -> Arc<Self> {
        Arc::new(Socket {
            tcp,
            flushed: AtomicBool::new(false),
        })
    }

    /// Forgets hyper's last flush: called when a response body starts,
    /// with the response head in hyper's buffer.
    pub(crate) fn forget_flush(&self) {
        self.flushed.store(false, Ordering::SeqCst);
    }

    /// Whether hyper flushed since [`Socket::forget_flush`] and wrote
    /// nothing after: what it buffered, the response head, is out.
    pub(crate) fn flushed(&self) -> bool {
        self.flushed.load(Ordering::SeqCst)
    }

    /// Writes what the socket takes of `buf` now, without waiting.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.try_write(buf)
    }

    /// The socket's file descriptor.
    pub(crate) fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.tcp)
    }

    /// Ready when the socket may take more; wakes the task when it does.
    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp.poll_write_ready(cx)
    }
}

impl Socket {
    /// One of hyper's writes: `write` once the socket takes more.
    fn poll_hyper_write(
        &self,
        cx: &mut Context<'_>,
        write: impl Fn(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.flushed.store(false, Ordering::SeqCst);
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            match write(&self.tcp) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }
}

/// A response body's side of the socket: once hyper has flushed the
/// response head, the bytes the body puts in [`BodyOut::buf`], written as
/// the socket takes them. The body never yields a frame to hyper (its
/// bytes and hyper's would interleave) and, when it ends, hyper writes the
/// chunked coding's last chunk.
pub(crate) struct BodyOut {
    socket: Arc<Socket>,
    head: Head,
    /// Bytes to write (from `at`), in the response's transfer coding.
    pub(crate) buf: Vec<u8>,
    at: usize,
}

enum Head {
    /// In hyper's buffer: the body has not been polled yet.
    Buffered,
    /// Waiting for hyper to flush it.
    Flushing,
    /// Out: the socket is the body's.
    Out,
}

impl BodyOut {
    pub(crate) fn new(socket: Arc<Socket>) -> Self {
        BodyOut {
            socket,
            head: Head::Buffered,
            buf: Vec::new(),
            at: 0,
        }
    }

    /// The socket.
    pub(crate) fn socket(&self) -> &Arc<Socket> {
        &self.socket
    }

    /// Ready once the response head is out and all of `buf` is written
    /// (`buf` is then empty). First called from hyper's first poll of the
    /// body, the head just buffered.
    pub(crate) fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.head {
            Head::Buffered => {
                // The next flush hyper reports is the head's; hyper flushes
                // once this poll returns, and polls the body again after.
                self.socket.forget_flush();
                self.head = Head::Flushing;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Head::Flushing if !self.socket.flushed() => {
                // hyper's flush is waiting on the socket, and polls the
                // body again once it is through.
                return Poll::Pending;
            }
            Head::Flushing => self.head = Head::Out,
            Head::Out => {}
        }
        while self.at < self.buf.len() {
            ready!(self.socket.poll_write_ready(cx))?;
            match self.socket.try_write(&self.buf[self.at..]) {
                Ok(n) => self.at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.buf.clear();
        self.at = 0;
        Poll::Ready(Ok(()))
    }
}

/// `data` as one chunk of HTTP/1.1's chunked coding.
pub(crate) fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    // The size in hex, without `write!`'s formatting machinery (a fifth of
    // an event's cost in callgrind).
    let mut size = [0u8; 16];
    let mut n = data.len();
    let mut at = size.len();
    loop {
        at -= 1;
        size[at] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&size[at..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// hyper's side of a connection: reads and writes on the shared socket.
pub(crate) struct Conn(pub(crate) Arc<Socket>);

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let tcp = &self.0.tcp;
        loop {
            ready!(tcp.poll_read_ready(cx))?;
            // Into the buffer's uninitialized part, as tokio's own read
            // does: initializing it first would write (and make resident)
            // hyper's whole read buffer on every connection.
            // SAFETY: `recv` only writes into the slice, never
            // de-initializes it.
            let unfilled = unsafe { buf.unfilled_mut() };
            let read = tcp.try_io(Interest::READABLE, || {
                socket2::SockRef::from(tcp).recv(unfilled)
            });
            match read {
                Ok(n) => {
                    // SAFETY: `recv` initialized the first `n` bytes.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_hyper_write(cx, |tcp| tcp.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0
            .poll_hyper_write(cx, |tcp| tcp.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here; hyper calls this once its own buffer
        // is written out.
        self.0.flushed.store(true, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let done = socket2::SockRef::from(&self.0.tcp).shutdown(Shutdown::Write);
        Poll::Ready(match done {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            done => done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::push_chunk;

    #[test]
    fn a_chunk_is_its_size_in_hex_then_its_data() {
        for len in [0, 1, 9, 10, 15, 16, 255, 256, 4095, 65536, 1_000_000] {
            let data = vec![b'x'; len];
            let mut out = Vec::new();
            push_chunk(&mut out, &data);
            let mut want = format!("{len:x}\r\n").into_bytes();
            want.extend_from_slice(&data);
            want.extend_from_slice(b"\r\n");
            assert_eq!(out, want, "{len}");
        }
    }
}
