//! The byte-stream seam: a session reads and writes through these halves and never learns
//! whether TCP, TLS or (next) WebSocket carries them.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A connected byte stream that splits into a reader for the session's task and a writer
/// for its writer task.
pub trait ByteStream: Send + 'static {
    type Reader: AsyncRead + Unpin + Send;
    type Writer: AsyncWrite + Unpin + Send + 'static;

    fn into_halves(self) -> (Self::Reader, Self::Writer);
}

/// Plain TCP splits without a lock: each half owns its direction.
impl ByteStream for TcpStream {
    type Reader = tokio::net::tcp::OwnedReadHalf;
    type Writer = tokio::net::tcp::OwnedWriteHalf;

    fn into_halves(self) -> (Self::Reader, Self::Writer) {
        self.into_split()
    }
}

/// TLS state is shared by both directions, so its halves share it under a lock.
impl ByteStream for tokio_rustls::server::TlsStream<TcpStream> {
    type Reader = tokio::io::ReadHalf<Self>;
    type Writer = tokio::io::WriteHalf<Self>;

    fn into_halves(self) -> (Self::Reader, Self::Writer) {
        tokio::io::split(self)
    }
}
