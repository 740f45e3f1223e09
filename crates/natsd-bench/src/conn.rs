//! A blocking NATS client connection that speaks the wire protocol directly, with large
//! buffered writes so one syscall carries many messages.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};

/// One received message: its reply subject if any (the payload is in the caller's buffer).
#[derive(Debug, Default)]
pub struct Delivery {
    pub reply: Option<String>,
}

pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    line: Vec<u8>,
}

impl Conn {
    /// Connects, reads INFO, sends CONNECT and waits until the server answered a PING.
    pub fn connect(url: &str, timeout: Duration) -> anyhow::Result<Conn> {
        let address = url.trim_start_matches("nats://");
        let stream =
            TcpStream::connect(address).with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut conn = Conn {
            reader: BufReader::with_capacity(256 * 1024, stream.try_clone()?),
            writer: BufWriter::with_capacity(64 * 1024, stream),
            line: Vec::new(),
        };
        conn.read_line()?;
        if !conn.line.starts_with(b"INFO ") {
            bail!("expected INFO from the server");
        }
        conn.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"name\":\"natsd-bench\"}\r\n")?;
        conn.ping_pong()?;
        Ok(conn)
    }

    /// A handle on the socket, to shut it down from another thread.
    pub fn socket(&self) -> anyhow::Result<TcpStream> {
        Ok(self.reader.get_ref().try_clone()?)
    }

    fn read_line(&mut self) -> anyhow::Result<()> {
        self.line.clear();
        if self.reader.read_until(b'\n', &mut self.line)? == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }

    /// Queues bytes; they go out when the write buffer fills or on [`Conn::flush`].
    pub fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.writer.write_all(bytes)?;
        Ok(())
    }

    pub fn subscribe(
        &mut self,
        subject: &str,
        queue: Option<&str>,
        sid: u64,
    ) -> anyhow::Result<()> {
        let line = match queue {
            Some(queue) => format!("SUB {subject} {queue} {sid}\r\n"),
            None => format!("SUB {subject} {sid}\r\n"),
        };
        self.send(line.as_bytes())
    }

    /// Queues a publish whose control line (`PUB subject size\r\n`) the caller prepared.
    pub fn publish_prepared(&mut self, control_line: &[u8], payload: &[u8]) -> anyhow::Result<()> {
        self.writer.write_all(control_line)?;
        self.writer.write_all(payload)?;
        self.writer.write_all(b"\r\n")?;
        Ok(())
    }

    /// Queues `PUB subject [reply] size`, the payload and CRLF.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) -> anyhow::Result<()> {
        match reply {
            Some(reply) => write!(self.writer, "PUB {subject} {reply} {}\r\n", payload.len())?,
            None => write!(self.writer, "PUB {subject} {}\r\n", payload.len())?,
        }
        self.writer.write_all(payload)?;
        self.writer.write_all(b"\r\n")?;
        Ok(())
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.writer.flush()?;
        Ok(())
    }

    /// Sends PING and waits for its PONG: everything sent before was processed.
    pub fn ping_pong(&mut self) -> anyhow::Result<()> {
        self.send(b"PING\r\n")?;
        self.flush()?;
        loop {
            self.read_line()?;
            if self.line.starts_with(b"PONG") {
                return Ok(());
            }
            self.handle_control()?;
        }
    }

    /// Answers server PINGs and fails on -ERR; other control lines (INFO, +OK) are skipped.
    fn handle_control(&mut self) -> anyhow::Result<()> {
        if self.line.starts_with(b"PING") {
            self.send(b"PONG\r\n")?;
            self.flush()?;
        } else if self.line.starts_with(b"-ERR") {
            bail!(
                "server error: {}",
                String::from_utf8_lossy(&self.line).trim_end()
            );
        }
        Ok(())
    }

    /// Reads the next message into `payload`.
    pub fn next_message(&mut self, payload: &mut Vec<u8>) -> anyhow::Result<Delivery> {
        loop {
            self.read_line()?;
            if !self.line.starts_with(b"MSG ") {
                self.handle_control()?;
                continue;
            }
            // `MSG <subject> <sid> [reply] <size>\r\n`, read without allocating.
            let line = self.line.strip_suffix(b"\r\n").unwrap_or(&self.line);
            let mut fields = line.rsplitn(3, |&b| b == b' ');
            let size: usize = std::str::from_utf8(fields.next().unwrap_or_default())?.parse()?;
            let before_size = fields.next().unwrap_or_default();
            let rest = fields.next().unwrap_or_default();
            // With a reply there are four fields before the size, else three.
            let reply = (rest.iter().filter(|&&b| b == b' ').count() == 2)
                .then(|| String::from_utf8_lossy(before_size).into_owned());
            payload.resize(size + 2, 0);
            self.reader.read_exact(payload)?;
            payload.truncate(size);
            return Ok(Delivery { reply });
        }
    }
}
