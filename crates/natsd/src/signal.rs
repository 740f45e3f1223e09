//! `--signal`: sends a signal to a running natsd, as `nats-server --signal` does.

use std::process::Command;

/// nats-server's signal names and the Unix signals they send.
fn unix_name(signal: &str) -> Option<&'static str> {
    match signal {
        "stop" => Some("KILL"),
        "quit" => Some("INT"),
        "term" => Some("TERM"),
        "reopen" => Some("USR1"),
        "reload" => Some("HUP"),
        "ldm" => Some("USR2"),
        _ => None,
    }
}

/// Resolves the target (a pid, a pid file, or the only running natsd) and signals it.
pub fn send(signal: &str, target: Option<&str>) -> Result<u32, String> {
    let name = unix_name(signal).ok_or_else(|| format!("unknown signal {signal:?}"))?;
    let pid = match target {
        Some(target) => resolve(target)?,
        None => only_running_natsd()?,
    };
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .map_err(|e| format!("could not run kill: {e}"))?;
    if status.success() {
        Ok(pid)
    } else {
        Err(format!("could not send {signal} to process {pid}"))
    }
}

fn resolve(target: &str) -> Result<u32, String> {
    if let Ok(pid) = target.parse() {
        return Ok(pid);
    }
    let text = std::fs::read_to_string(target)
        .map_err(|e| format!("could not read pid file {target}: {e}"))?;
    text.trim()
        .parse()
        .map_err(|_| format!("pid file {target} does not hold a pid"))
}

fn only_running_natsd() -> Result<u32, String> {
    let own = std::process::id();
    let entries = std::fs::read_dir("/proc").map_err(|e| format!("cannot list processes: {e}"))?;
    let pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "natsd")
        })
        .collect();
    match pids.as_slice() {
        [] => Err("no natsd process is running".to_owned()),
        [pid] => Ok(*pid),
        many => Err(format!(
            "multiple natsd processes are running ({}); give a pid or pid file",
            many.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_like_nats_server() {
        assert_eq!(unix_name("ldm"), Some("USR2"));
        assert_eq!(unix_name("reload"), Some("HUP"));
        assert_eq!(unix_name("stop"), Some("KILL"));
        assert_eq!(unix_name("bogus"), None);
    }

    #[test]
    fn targets_are_pids_or_pid_files() {
        assert_eq!(resolve("42"), Ok(42));
        let dir = std::env::temp_dir().join(format!("natsd-signal-test-{}", std::process::id()));
        std::fs::write(&dir, "77").unwrap();
        assert_eq!(resolve(dir.to_str().unwrap()), Ok(77));
        std::fs::remove_file(&dir).unwrap();
        assert!(resolve("/nonexistent/pid").is_err());
    }
}
