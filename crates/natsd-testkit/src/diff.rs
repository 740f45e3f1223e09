//! Differential byte scripts: the same bytes sent to two servers, the replies compared.
//!
//! Format of `tests/diff/*.nds` (one or more scripts per file, `#` starts a comment line):
//!
//! ```text
//! === script-name
//! config: max_payload=8          optional config-file lines, the same for both servers
//! jwt: account A {}              operator-mode fixtures (see [`crate::jwt::Fixture`]),
//!                                before any other line of the script
//! A> CONNECT {}\r\n              send bytes on connection A (\r \n \t \\ \xHH escapes)
//! A> @repeat 5000 x              send "x" 5000 times
//! A!                             sync A: send PING, read until PONG (or EOF, or 2 s)
//! A~ 300                         read on A for 300 ms (or until EOF)
//! ```
//!
//! Connections open in order of first use; each transcript starts with the greeting INFO.
//! At the end every open connection is synced, in order. INFO lines are compared as JSON
//! with server-specific values masked.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// INFO keys whose values differ between servers by nature.
const MASKED_INFO_KEYS: [&str; 8] = [
    "server_id",
    "xkey",
    "server_name",
    "go",
    "git_commit",
    "port",
    "client_id",
    "nonce",
];
/// INFO keys nats-server 2.15.1 sends that natsd does not send yet: `api_lvl` (the
/// JetStream API level). They are taken out of the reference's INFO only, so that natsd
/// sending one shows as a difference, and this list must then shrink.
pub const NOT_SENT_BY_NATSD_YET: [&str; 1] = ["api_lvl"];

/// Whose transcript is being rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Natsd,
    Reference,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Send(char, Vec<u8>),
    Sync(char),
    Read(char, Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub name: String,
    pub file: String,
    /// Lines of the config file both servers start from.
    pub config: Vec<String>,
    pub steps: Vec<Step>,
}

/// Reads every script of every `.nds` file in `dir`, in file-name order.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Script>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "nds"))
        .collect();
    files.sort();
    let mut scripts = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        scripts.extend(parse(&text, &name)?);
    }
    Ok(scripts)
}

pub fn parse(text: &str, file: &str) -> anyhow::Result<Vec<Script>> {
    let mut scripts: Vec<Script> = Vec::new();
    // The current script's `jwt:` lines, then the fixture built from them.
    let mut jwt_lines: Vec<String> = Vec::new();
    let mut fixture: Option<crate::jwt::Fixture> = None;
    for (number, line) in text.lines().enumerate() {
        let at = || format!("{file}:{}", number + 1);
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(jwt) = line.strip_prefix("jwt:") {
            jwt_lines.push(jwt.trim().to_owned());
            continue;
        }
        if !jwt_lines.is_empty() {
            let built = crate::jwt::Fixture::build(&jwt_lines)
                .map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
            if let Some(script) = scripts.last_mut() {
                script
                    .config
                    .extend(built.config().lines().map(str::to_owned));
            }
            fixture = Some(built);
            jwt_lines.clear();
        }
        let substituted;
        let line = match &fixture {
            Some(fixture) if line.contains("{{") => {
                substituted = fixture.substitute(line);
                substituted.as_str()
            }
            _ => line,
        };
        if let Some(name) = line.strip_prefix("=== ") {
            fixture = None;
            scripts.push(Script {
                name: name.trim().to_owned(),
                file: file.to_owned(),
                config: Vec::new(),
                steps: Vec::new(),
            });
            continue;
        }
        let script = scripts
            .last_mut()
            .with_context(|| format!("{}: line before the first ===", at()))?;
        if let Some(setting) = line.strip_prefix("config:") {
            script.config.push(setting.trim().to_owned());
            continue;
        }
        let mut chars = line.chars();
        let (Some(conn), Some(op)) = (chars.next(), chars.next()) else {
            bail!("{}: cannot read {line:?}", at());
        };
        if !conn.is_ascii_uppercase() {
            bail!("{}: connection names are capital letters", at());
        }
        let rest = chars.as_str();
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let step = match op {
            '>' => Step::Send(conn, send_bytes(rest).with_context(at)?),
            '!' => Step::Sync(conn),
            '~' => Step::Read(
                conn,
                Duration::from_millis(rest.trim().parse().with_context(at)?),
            ),
            _ => bail!("{}: unknown step {op:?}", at()),
        };
        script.steps.push(step);
    }
    Ok(scripts)
}

fn send_bytes(text: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(spec) = text.strip_prefix("@repeat ") {
        let (count, unit) = spec.split_once(' ').context("@repeat N bytes")?;
        return Ok(unescape(unit)?.repeat(count.parse()?));
    }
    unescape(text)
}

fn unescape(text: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let escape = bytes.get(i + 1).context("dangling backslash")?;
        match escape {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hex = text.get(i + 2..i + 4).context("\\x needs two hex digits")?;
                out.push(u8::from_str_radix(hex, 16)?);
                i += 2;
            }
            other => bail!("unknown escape \\{}", *other as char),
        }
        i += 2;
    }
    Ok(out)
}

struct Conn {
    name: char,
    stream: TcpStream,
    transcript: Vec<u8>,
    closed: bool,
}

impl Conn {
    async fn read_for(&mut self, wait: Duration, mut done: impl FnMut(&[u8]) -> bool) {
        let until = tokio::time::Instant::now() + wait;
        let mut chunk = vec![0u8; 64 * 1024];
        while !self.closed && !done(&self.transcript) {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Err(_) => break,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    self.transcript.extend_from_slice(b"<EOF>");
                }
                Ok(Ok(n)) => self.transcript.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn sync(&mut self) {
        if self.closed {
            return;
        }
        let start = self.transcript.len();
        if self.stream.write_all(b"PING\r\n").await.is_err() {
            self.read_for(SYNC_TIMEOUT, |_| false).await;
            return;
        }
        self.read_for(SYNC_TIMEOUT, |t| sync_done(&t[start..]))
            .await;
    }
}

/// A sync ends at PONG, or at PONG followed by the INFO that answers a protocol-1 client's
/// first PING.
fn sync_done(new: &[u8]) -> bool {
    if new.ends_with(b"PONG\r\n") {
        return true;
    }
    let Some(at) = find(new, b"PONG\r\nINFO ") else {
        return false;
    };
    let after = &new[at + 6..];
    after.ends_with(b"\r\n") && after.iter().filter(|&&b| b == b'\n').count() == 1
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs `script` against the server at `addr`; returns each connection's transcript.
pub async fn run(addr: SocketAddr, script: &Script) -> anyhow::Result<Vec<(char, Vec<u8>)>> {
    let mut conns: Vec<Conn> = Vec::new();
    for step in &script.steps {
        let name = match step {
            Step::Send(c, _) | Step::Sync(c) | Step::Read(c, _) => *c,
        };
        let index = match conns.iter().position(|c| c.name == name) {
            Some(index) => index,
            None => {
                let stream = TcpStream::connect(addr).await?;
                let mut conn = Conn {
                    name,
                    stream,
                    transcript: Vec::new(),
                    closed: false,
                };
                conn.read_for(SYNC_TIMEOUT, |t| t.contains(&b'\n')).await;
                conns.push(conn);
                conns.len() - 1
            }
        };
        let conn = &mut conns[index];
        match step {
            Step::Send(_, bytes) => {
                if !conn.closed {
                    // A server that already closed makes sends fail; the transcript shows it.
                    let _ = conn.stream.write_all(bytes).await;
                }
            }
            Step::Sync(_) => conn.sync().await,
            Step::Read(_, wait) => conn.read_for(*wait, |_| false).await,
        }
    }
    for conn in &mut conns {
        conn.sync().await;
    }
    Ok(conns.into_iter().map(|c| (c.name, c.transcript)).collect())
}

/// Rewrites every INFO line as canonical JSON with server-specific values masked, and
/// renders the transcript as text for comparison and display.
pub fn masked(transcript: &[u8], side: Side) -> String {
    let mut out = String::new();
    let mut rest = transcript;
    while !rest.is_empty() {
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(line_end);
        rest = tail;
        if let Some(json) = line.strip_prefix(b"INFO ") {
            if let Ok(serde_json::Value::Object(mut info)) =
                serde_json::from_slice::<serde_json::Value>(json.trim_ascii())
            {
                for key in MASKED_INFO_KEYS {
                    if let Some(value) = info.get_mut(key) {
                        *value = serde_json::Value::String("<masked>".into());
                    }
                }
                if side == Side::Reference {
                    for key in NOT_SENT_BY_NATSD_YET {
                        info.remove(key);
                    }
                }
                let trailer = String::from_utf8_lossy(&json[json.trim_ascii_end().len()..]);
                out.push_str(&format!(
                    "INFO {}{trailer}",
                    serde_json::Value::Object(info)
                ));
                continue;
            }
        }
        out.push_str(&String::from_utf8_lossy(line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_format() {
        let text = "# c\n=== one\nconfig: max_payload=8\nA> PUB x 1\\r\\n\\x41\nB!\nA~ 300\nA> @repeat 3 ab\n";
        let scripts = parse(text, "f.nds").unwrap();
        assert_eq!(scripts.len(), 1);
        assert_eq!(scripts[0].config, vec!["max_payload=8".to_owned()]);
        assert_eq!(
            scripts[0].steps,
            vec![
                Step::Send('A', b"PUB x 1\r\nA".to_vec()),
                Step::Sync('B'),
                Step::Read('A', Duration::from_millis(300)),
                Step::Send('A', b"ababab".to_vec()),
            ]
        );
        assert!(parse("A> x\n", "f").is_err());
        assert!(parse("=== s\nA? x\n", "f").is_err());
    }

    #[test]
    fn masks_server_specific_info() {
        let theirs = b"INFO {\"server_id\":\"X\",\"port\":1,\"headers\":true,\"git_commit\":\"b2fd3ef\",\"api_lvl\":5,\"xkey\":\"K\"} \r\nPONG\r\n";
        let ours = b"INFO {\"headers\":true,\"port\":2,\"git_commit\":\"1c70867\",\"server_id\":\"Y\",\"xkey\":\"L\"} \r\nPONG\r\n";
        let a = masked(theirs, Side::Reference);
        assert_eq!(a, masked(ours, Side::Natsd));
        // Masked keys must be present on both sides: a missing one is a difference.
        let no_commit =
            b"INFO {\"headers\":true,\"port\":2,\"server_id\":\"Y\",\"xkey\":\"L\"} \r\nPONG\r\n";
        assert_ne!(a, masked(no_commit, Side::Natsd));
        // natsd sending a key it is not known to send yet shows.
        assert_ne!(masked(theirs, Side::Natsd), masked(ours, Side::Natsd));
        let c = b"INFO {\"headers\":false,\"port\":2,\"git_commit\":\"1c70867\",\"server_id\":\"Y\",\"xkey\":\"L\"} \r\nPONG\r\n";
        assert_ne!(a, masked(c, Side::Natsd));
    }

    #[test]
    fn sync_ends_at_pong_or_pong_and_info() {
        assert!(sync_done(b"MSG a 1 1\r\nx\r\nPONG\r\n"));
        assert!(sync_done(b"PONG\r\nINFO {} \r\n"));
        assert!(!sync_done(b"PONG\r\nINFO {"));
        assert!(!sync_done(b"+OK\r\n"));
    }
}
