//! The pid file and the ports file: where harnesses and supervisors find a running server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use natsd_server::{Options, Server};
use serde_json::json;

/// Files written for this run, removed at shutdown.
pub struct RunFiles {
    pid_file: Option<PathBuf>,
    ports_file: Option<PathBuf>,
}

impl RunFiles {
    pub fn new(opts: &Options) -> Self {
        RunFiles {
            pid_file: opts.pid_file.clone(),
            ports_file: opts.ports_file_dir.as_deref().map(ports_file_path),
        }
    }

    /// `{"nats":["nats://H:P"],"monitoring":["http://H:P"]}`, the listeners that exist
    /// (`https://` for TLS monitoring).
    pub fn write_ports(
        &self,
        server: &Server,
        monitoring: &[(&str, SocketAddr)],
    ) -> std::io::Result<()> {
        let Some(path) = &self.ports_file else {
            return Ok(());
        };
        let mut ports = json!({ "nats": [format!("nats://{}", reachable(server.local_addr()))] });
        if !monitoring.is_empty() {
            let urls: Vec<String> = monitoring
                .iter()
                .map(|(scheme, addr)| format!("{scheme}://{}", reachable(*addr)))
                .collect();
            ports["monitoring"] = json!(urls);
        }
        std::fs::write(path, ports.to_string())
    }

    pub fn remove(&self) {
        for path in [&self.pid_file, &self.ports_file].into_iter().flatten() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `<dir>/<executable name>_<pid>.ports`, as nats-server names it.
fn ports_file_path(dir: &Path) -> PathBuf {
    let exe = std::env::args()
        .next()
        .and_then(|arg0| {
            Path::new(&arg0)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "natsd".to_owned());
    dir.join(format!("{exe}_{}.ports", std::process::id()))
}

/// A listener bound to every interface is reported by its loopback address, which a
/// client on this machine can always reach.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}
