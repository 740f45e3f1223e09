//! A raw protocol connection: send bytes, expect bytes.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long an expectation waits by default.
pub const EXPECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RawConn {
    stream: TcpStream,
    /// Bytes received and not yet consumed by an expectation.
    pub received: Vec<u8>,
    closed: bool,
}

impl RawConn {
    /// Connects and consumes the greeting INFO line, which is returned.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<(RawConn, serde_json::Value)> {
        let stream = TcpStream::connect(addr).await?;
        let mut conn = RawConn {
            stream,
            received: Vec::new(),
            closed: false,
        };
        let line = conn.read_line(EXPECT_TIMEOUT).await?;
        let json = line
            .strip_prefix(b"INFO ")
            .context("greeting is not INFO")?;
        let info = serde_json::from_slice(json.trim_ascii())?;
        Ok((conn, info))
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) -> anyhow::Result<()> {
        self.stream.write_all(bytes.as_ref()).await?;
        Ok(())
    }

    /// Reads whatever arrives within `wait`; returns false once the peer closed.
    pub async fn fill(&mut self, wait: Duration) -> anyhow::Result<bool> {
        if self.closed {
            return Ok(false);
        }
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(wait, self.stream.read(&mut chunk)).await {
            Err(_) => Ok(true),
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.closed = true;
                Ok(false)
            }
            Ok(Ok(n)) => {
                self.received.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
        }
    }

    /// Reads until `done(received)` holds, the peer closes, or `wait` passes.
    pub async fn read_until(
        &mut self,
        wait: Duration,
        mut done: impl FnMut(&[u8]) -> bool,
    ) -> anyhow::Result<()> {
        let until = tokio::time::Instant::now() + wait;
        while !done(&self.received) {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                bail!(
                    "timed out; received so far: {:?}",
                    String::from_utf8_lossy(&self.received)
                );
            }
            if !self.fill(left).await? {
                if done(&self.received) {
                    break;
                }
                bail!(
                    "connection closed; received: {:?}",
                    String::from_utf8_lossy(&self.received)
                );
            }
        }
        Ok(())
    }

    async fn read_line(&mut self, wait: Duration) -> anyhow::Result<Vec<u8>> {
        self.read_until(wait, |r| r.contains(&b'\n')).await?;
        let end = self
            .received
            .iter()
            .position(|&b| b == b'\n')
            .context("no line")?;
        let mut line: Vec<u8> = self.received.drain(..=end).collect();
        line.truncate(line.len().saturating_sub(2));
        Ok(line)
    }

    /// Expects exactly `expected` as the next bytes received.
    pub async fn expect(&mut self, expected: impl AsRef<[u8]>) -> anyhow::Result<()> {
        let expected = expected.as_ref();
        self.read_until(EXPECT_TIMEOUT, |r| r.len() >= expected.len())
            .await?;
        let got: Vec<u8> = self.received.drain(..expected.len()).collect();
        if got != expected {
            bail!(
                "expected {:?}, got {:?}",
                String::from_utf8_lossy(expected),
                String::from_utf8_lossy(&got)
            );
        }
        Ok(())
    }

    /// Expects the peer to close the connection with nothing more sent than `expected`.
    pub async fn expect_close_after(&mut self, expected: impl AsRef<[u8]>) -> anyhow::Result<()> {
        self.expect(expected).await?;
        self.expect_closed().await
    }

    /// Expects the peer to close without sending anything more.
    pub async fn expect_closed(&mut self) -> anyhow::Result<()> {
        let until = tokio::time::Instant::now() + EXPECT_TIMEOUT;
        while self
            .fill(until.saturating_duration_since(tokio::time::Instant::now()))
            .await?
        {
            if tokio::time::Instant::now() >= until {
                bail!("connection still open");
            }
        }
        if !self.received.is_empty() {
            bail!(
                "unexpected bytes before close: {:?}",
                String::from_utf8_lossy(&self.received)
            );
        }
        Ok(())
    }

    /// Sends PING and expects PONG, proving everything before it was processed.
    pub async fn sync(&mut self) -> anyhow::Result<()> {
        self.send(b"PING\r\n").await?;
        self.expect(b"PONG\r\n").await
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }
}
