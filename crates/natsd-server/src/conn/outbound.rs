//! The outbound side of a connection: a queue that publishers append to and one writer task
//! drains with vectored writes.
//!
//! Publishers never write to sockets. They append frames under a short lock and mark the
//! connection in their [`Flusher`]; after a whole read buffer is processed the flusher wakes
//! each marked writer once, so one socket write carries many messages.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use natsd_proto::encode::{self, MsgLine};
use natsd_proto::SharedSlice;
use parking_lot::Mutex;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::{CloseReason, Conn};

/// Payloads up to this size are copied into the outbound buffer; larger ones are shared.
const COPY_PAYLOAD_MAX: usize = 2048;
/// Longest a publisher waits for slow receivers per read batch.
const STALL_LIMIT: Duration = Duration::from_millis(10);
/// Most slices handed to one vectored write.
const MAX_IOVECS: usize = 1024;

#[derive(Debug, Default)]
struct Queue {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    /// Messages and payload bytes queued for the peer, counted under the queue's lock
    /// that every delivery takes anyway.
    out_msgs: u64,
    out_bytes: u64,
}

impl Queue {
    fn push_shared(&mut self, bytes: Bytes) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.chunks.push_back(bytes);
    }
}

/// What is waiting to be written to one connection, and the signals around it.
#[derive(Debug)]
pub(crate) struct Outbound {
    max_pending: usize,
    /// Bytes queued or taken by the writer and not yet written.
    pending: AtomicUsize,
    queue: Mutex<Queue>,
    wake_writer: Notify,
    /// Signalled whenever the writer finished a write, for stalled publishers.
    drained: Notify,
    flush_marked: AtomicBool,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Queueing it would pass max pending: the connection is a slow consumer.
    OverMaxPending,
}

impl Outbound {
    pub(crate) fn new(max_pending: usize) -> Self {
        Outbound {
            max_pending,
            pending: AtomicUsize::new(0),
            queue: Mutex::new(Queue::default()),
            wake_writer: Notify::new(),
            drained: Notify::new(),
            flush_marked: AtomicBool::new(false),
        }
    }

    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    pub(crate) fn out_counts(&self) -> (u64, u64) {
        let queue = self.queue.lock();
        (queue.out_msgs, queue.out_bytes)
    }

    /// Drops what is queued (a slow consumer's backlog is not worth writing).
    pub(crate) fn discard(&self) {
        let mut queue = self.queue.lock();
        queue.chunks.clear();
        queue.tail.clear();
    }

    /// Wakes the writer and every stalled publisher, at close.
    pub(crate) fn wake_all(&self) {
        self.wake_writer.notify_one();
        self.drained.notify_waiters();
    }

    pub(crate) fn wake_writer(&self) {
        self.wake_writer.notify_one();
    }

    /// Above three quarters of max pending, publishers to this connection wait for its
    /// writer (nats-server's fast-producer stall), rather than run it into the limit.
    fn over_stall_threshold(&self) -> bool {
        self.pending.load(Ordering::Acquire) > self.stall_threshold()
    }

    fn stall_threshold(&self) -> usize {
        self.max_pending / 4 * 3
    }

    pub(crate) fn append_bytes(&self, bytes: &[u8]) -> Result<(), Refused> {
        self.append(|queue| queue.tail.extend_from_slice(bytes), bytes.len())
    }

    /// Queues one message frame: control line, payload, CRLF, encoded straight into the
    /// queue. Small payloads are copied, large ones shared.
    pub(crate) fn append_message(
        &self,
        line: MsgLine<'_>,
        payload: SharedSlice<'_>,
    ) -> Result<(), Refused> {
        let size = line.len() + payload.len() + 2;
        self.append(
            |queue| {
                queue.out_msgs += 1;
                queue.out_bytes += payload.len() as u64;
                line.write(&mut queue.tail);
                if payload.len() <= COPY_PAYLOAD_MAX {
                    queue.tail.extend_from_slice(payload.as_slice());
                } else {
                    queue.push_shared(payload.to_bytes());
                }
                queue.tail.extend_from_slice(encode::CRLF);
            },
            size,
        )
    }

    fn append(&self, write: impl FnOnce(&mut Queue), size: usize) -> Result<(), Refused> {
        // Counted before queueing, so the writer never accounts bytes not yet counted.
        let before = self.pending.fetch_add(size, Ordering::AcqRel);
        if before + size > self.max_pending {
            self.pending.fetch_sub(size, Ordering::AcqRel);
            return Err(Refused::OverMaxPending);
        }
        write(&mut self.queue.lock());
        Ok(())
    }

    /// Takes everything queued, oldest first; it stays counted as pending until written.
    fn take_queued(&self, into: &mut Vec<Bytes>) {
        let mut queue = self.queue.lock();
        into.extend(queue.chunks.drain(..));
        if !queue.tail.is_empty() {
            let tail = queue.tail.split().freeze();
            into.push(tail);
        }
    }

    /// Accounts written bytes; stalled publishers are woken when the backlog falls below
    /// the stall threshold.
    fn written(&self, bytes: usize) {
        let before = self.pending.fetch_sub(bytes, Ordering::AcqRel);
        let threshold = self.stall_threshold();
        if before > threshold && before.saturating_sub(bytes) <= threshold {
            self.drained.notify_waiters();
        }
    }
}

/// Collects the connections a publisher queued messages for, to wake each writer once,
/// and those it must wait for because they fell too far behind.
#[derive(Debug, Default)]
pub struct Flusher {
    marked: Vec<Arc<Conn>>,
    stalled: Vec<Arc<Conn>>,
}

impl Flusher {
    pub(crate) fn mark(&mut self, conn: &Arc<Conn>) {
        let outbound = &conn.outbound;
        if !outbound.flush_marked.swap(true, Ordering::AcqRel) {
            self.marked.push(Arc::clone(conn));
        }
        if outbound.over_stall_threshold() && !self.stalled.iter().any(|c| Arc::ptr_eq(c, conn)) {
            self.stalled.push(Arc::clone(conn));
        }
    }

    /// Waits until every stalled receiver is below the threshold (or closed), at most
    /// [`STALL_LIMIT`] per read batch as nats-server does, so a stuck receiver slows its
    /// publishers only briefly; its own limits then close it.
    pub async fn wait_for_stalled(&mut self) {
        if self.stalled.is_empty() {
            return;
        }
        let until = tokio::time::Instant::now() + STALL_LIMIT;
        for conn in self.stalled.drain(..) {
            loop {
                let drained = conn.outbound.drained.notified();
                if conn.is_closed() || !conn.outbound.over_stall_threshold() {
                    break;
                }
                if tokio::time::timeout_at(until, drained).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Wakes every marked writer; returns whether there were any.
    pub fn flush(&mut self) -> bool {
        let woke = !self.marked.is_empty();
        for conn in self.marked.drain(..) {
            conn.outbound.flush_marked.store(false, Ordering::Release);
            conn.outbound.wake_writer.notify_one();
        }
        woke
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Drains the connection's queue into the socket until the connection closes.
///
/// Each batch ends with a flush inside the write deadline: a TLS stream may report a
/// write done while encrypted bytes still wait in its buffer because the socket would
/// block, and only a flush pushes them out; without it the tail of a burst could sit
/// there until something else is written.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    conn: Arc<Conn>,
    mut socket: W,
    write_deadline: Duration,
) {
    let outbound = &conn.outbound;
    let mut batch = Vec::new();
    loop {
        outbound.take_queued(&mut batch);
        if batch.is_empty() {
            if conn.is_closed() {
                break;
            }
            outbound.wake_writer.notified().await;
            continue;
        }
        let write = async {
            write_all(outbound, &mut socket, &mut batch).await?;
            socket.flush().await
        };
        match tokio::time::timeout(write_deadline, write).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                conn.close(CloseReason::WriteError);
                break;
            }
            Err(_) => {
                conn.close(CloseReason::SlowConsumerWriteDeadline);
                break;
            }
        }
    }
    // The peer may already be gone; nothing is left to report it to.
    let _ = socket.shutdown().await;
}

async fn write_all<W: AsyncWrite + Unpin>(
    outbound: &Outbound,
    socket: &mut W,
    batch: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    let mut first = 0;
    while first < batch.len() {
        let end = batch.len().min(first + MAX_IOVECS);
        let slices: Vec<IoSlice<'_>> = batch[first..end].iter().map(|b| IoSlice::new(b)).collect();
        let mut written = socket.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        outbound.written(written);
        while written > 0 {
            let Some(chunk) = batch.get_mut(first) else {
                break;
            };
            if written >= chunk.len() {
                written -= chunk.len();
                first += 1;
            } else {
                chunk.advance(written);
                written = 0;
            }
        }
    }
    batch.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{ClientProtocol, ConnKind};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A writer that takes every write into a buffer of its own and puts it on the wire
    /// only when flushed, as a TLS stream does when its socket would block.
    #[derive(Clone, Default)]
    struct Buffering {
        held: Arc<Mutex<Vec<u8>>>,
        wire: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncWrite for Buffering {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.held.lock().extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            let held = std::mem::take(&mut *self.held.lock());
            self.wire.lock().extend_from_slice(&held);
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            self.poll_flush(cx)
        }
    }

    #[tokio::test]
    async fn each_batch_is_flushed_out_of_the_stream() {
        let conn = Arc::new(Conn::new(
            1,
            ConnKind::Client,
            ClientProtocol::Nats,
            "127.0.0.1:1".parse().unwrap(),
            1 << 20,
        ));
        let socket = Buffering::default();
        let writer = tokio::spawn(write_loop(
            Arc::clone(&conn),
            socket.clone(),
            Duration::from_secs(5),
        ));
        conn.send_now(b"PONG\r\n");
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        while conn.pending_bytes() > 0 || !socket.held.lock().is_empty() {
            assert!(tokio::time::Instant::now() < until, "the batch never left");
            tokio::task::yield_now().await;
        }
        // Written and then flushed, while the connection stays open and idle.
        assert_eq!(&socket.wire.lock()[..], b"PONG\r\n");
        conn.close(CloseReason::ClientClosed);
        writer.await.unwrap();
    }
}
