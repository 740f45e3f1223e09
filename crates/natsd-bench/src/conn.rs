//! A blocking NATS client connection that speaks the wire protocol directly, with large
//! buffered writes so one syscall carries many messages, and reads parsed in place from the
//! read buffer. One socket (one file descriptor) per connection, so `conns` can open many.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};

/// Outbound bytes gathered before a write.
const WRITE_BATCH: usize = 64 * 1024;

/// One received message: its reply subject if any (the payload is in the caller's buffer).
#[derive(Debug, Default)]
pub struct Delivery {
    pub reply: Option<String>,
}

pub struct Conn {
    reader: BufReader<TcpStream>,
    out: Vec<u8>,
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
            reader: BufReader::with_capacity(256 * 1024, stream),
            out: Vec::with_capacity(WRITE_BATCH),
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

    /// Queues bytes; they go out when the batch is full or on [`Conn::flush`].
    pub fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.out.extend_from_slice(bytes);
        if self.out.len() >= WRITE_BATCH {
            self.flush()?;
        }
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
        self.out.extend_from_slice(control_line);
        self.out.extend_from_slice(payload);
        self.send(b"\r\n")
    }

    /// Queues `PUB subject [reply] size`, the payload and CRLF.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) -> anyhow::Result<()> {
        let line = match reply {
            Some(reply) => format!("PUB {subject} {reply} {}\r\n", payload.len()),
            None => format!("PUB {subject} {}\r\n", payload.len()),
        };
        self.publish_prepared(line.as_bytes(), payload)
    }

    pub fn flush(&mut self) -> anyhow::Result<()> {
        if !self.out.is_empty() {
            let mut socket: &TcpStream = self.reader.get_ref();
            socket.write_all(&self.out)?;
            self.out.clear();
        }
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

    /// Reads the next message into `payload`. Messages wholly in the read buffer are parsed
    /// in place; others fall back to line and exact reads.
    pub fn next_message(&mut self, payload: &mut Vec<u8>) -> anyhow::Result<Delivery> {
        loop {
            let (newline, is_message) = {
                let buffered = self.reader.fill_buf()?;
                if buffered.is_empty() {
                    bail!("the server closed the connection");
                }
                (
                    buffered.iter().position(|&b| b == b'\n'),
                    buffered.starts_with(b"MSG "),
                )
            };
            let Some(newline) = newline else {
                // The control line continues in the next read.
                self.read_line()?;
                if let Some(delivery) = self.message_after_line(payload)? {
                    return Ok(delivery);
                }
                continue;
            };
            if !is_message {
                self.read_line()?;
                self.handle_control()?;
                continue;
            }
            let buffered = self.reader.fill_buf()?;
            let (reply, size) = parse_msg_line(&buffered[..newline])?;
            let total = newline + 1 + size + 2;
            if buffered.len() >= total {
                payload.clear();
                payload.extend_from_slice(&buffered[newline + 1..newline + 1 + size]);
                self.reader.consume(total);
                return Ok(Delivery { reply });
            }
            self.reader.consume(newline + 1);
            self.read_payload(size, payload)?;
            return Ok(Delivery { reply });
        }
    }

    /// After a control line read into `self.line`: the message it starts, if it is one.
    fn message_after_line(&mut self, payload: &mut Vec<u8>) -> anyhow::Result<Option<Delivery>> {
        if !self.line.starts_with(b"MSG ") {
            self.handle_control()?;
            return Ok(None);
        }
        let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        let (reply, size) = parse_msg_line(line)?;
        self.read_payload(size, payload)?;
        Ok(Some(Delivery { reply }))
    }

    fn read_payload(&mut self, size: usize, payload: &mut Vec<u8>) -> anyhow::Result<()> {
        payload.resize(size + 2, 0);
        self.reader.read_exact(payload)?;
        payload.truncate(size);
        Ok(())
    }
}

/// `MSG <subject> <sid> [reply] <size>` (CR optional): the reply and the size.
fn parse_msg_line(line: &[u8]) -> anyhow::Result<(Option<String>, usize)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut fields = line.rsplitn(3, |&b| b == b' ');
    let size = fields.next().unwrap_or_default();
    let size = size
        .iter()
        .try_fold(0usize, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
        })
        .context("bad MSG size")?;
    let before_size = fields.next().unwrap_or_default();
    let rest = fields.next().unwrap_or_default();
    // With a reply there are four fields before the size, else three.
    let reply = (rest.iter().filter(|&&b| b == b' ').count() == 2)
        .then(|| String::from_utf8_lossy(before_size).into_owned());
    Ok((reply, size))
}
