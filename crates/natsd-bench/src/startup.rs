//! `startup`: how long a server takes from spawn to answering its first PING, and its RSS
//! when idle right after.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One attempt to connect and get a PONG.
fn pong(port: u16) -> bool {
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let Ok(mut writer) = stream.try_clone() else {
        return false;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || writer.write_all(b"PING\r\n").is_err() {
        return false;
    }
    line.clear();
    reader.read_line(&mut line).is_ok() && line == "PONG\r\n"
}

/// Spawns `command` `rounds` times on a free loopback port; returns the figures.
pub fn measure(
    command: &str,
    rounds: u32,
    timeout: Duration,
) -> anyhow::Result<Map<String, Value>> {
    let mut parts = command.split_whitespace();
    let program = parts.next().context("empty --server-cmd")?;
    let fixed: Vec<&str> = parts.collect();
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..rounds {
        let port = free_port()?;
        let began = Instant::now();
        let mut child = Command::new(program)
            .args(&fixed)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {program}"))?;
        let mut answered = false;
        while began.elapsed() < timeout {
            if pong(port) {
                answered = true;
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let elapsed = began.elapsed();
        let memory = crate::proc::rss_bytes(child.id());
        let _ = child.kill();
        let _ = child.wait();
        if !answered {
            bail!("{program} did not answer within {timeout:?}");
        }
        times.push(elapsed.as_secs_f64() * 1000.0);
        rss.push(memory?);
    }
    times.sort_by(f64::total_cmp);
    rss.sort_unstable();
    let mut fields = Map::new();
    fields.insert("rounds".into(), json!(rounds));
    fields.insert("startup_ms_median".into(), json!(times[times.len() / 2]));
    fields.insert("startup_ms_min".into(), json!(times[0]));
    fields.insert("startup_ms_max".into(), json!(times[times.len() - 1]));
    fields.insert("idle_rss_bytes_median".into(), json!(rss[rss.len() / 2]));
    if let Ok(meta) = std::fs::metadata(program)
        .or_else(|_| which(program).and_then(|p| std::fs::metadata(p).map_err(Into::into)))
    {
        fields.insert("binary_bytes".into(), json!(meta.len()));
    }
    Ok(fields)
}

fn which(program: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::var_os("PATH").context("no PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .context("not on PATH")
}
