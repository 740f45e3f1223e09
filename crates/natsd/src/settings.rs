//! Settings from the config file (when `-c` names one) overridden by the command line, the
//! same way at start, for `-t` and on reload.

use std::fmt;
use std::path::{Path, PathBuf};

use natsd_server::config::{self, ConfigIssue};
use natsd_server::Options;

use crate::flags::RunFlags;

/// Settings ready to run with, and what the config file could not fully express.
#[derive(Debug)]
pub struct Loaded {
    pub opts: Options,
    pub warnings: Vec<ConfigIssue>,
    /// Config blocks and keys for capabilities natsd does not serve yet.
    pub unsupported: Vec<String>,
    /// Things the server skipped while loading (account JWTs that do not verify).
    pub notices: Vec<String>,
}

/// Why the settings could not be loaded; each line is one problem.
#[derive(Debug)]
pub struct LoadError(pub Vec<String>);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

pub fn load(flags: &RunFlags) -> Result<Loaded, LoadError> {
    let mut opts = Options::default();
    let mut warnings = Vec::new();
    let mut unsupported = Vec::new();
    let mut notices = Vec::new();
    if let Some(file) = &flags.config_file {
        let path = Path::new(file);
        let map = natsd_conf::parse_file(path).map_err(|e| LoadError(vec![e.to_string()]))?;
        let report = config::apply(&mut opts, &map);
        if !report.errors.is_empty() {
            return Err(LoadError(
                report.errors.iter().map(ToString::to_string).collect(),
            ));
        }
        warnings = report.warnings;
        unsupported = report.unsupported;
        notices = report.notices;
        opts.config_file = Some(PathBuf::from(file));
        opts.config_digest = digest(path);
    }
    flags.apply(&mut opts);
    Ok(Loaded {
        opts,
        warnings,
        unsupported,
        notices,
    })
}

/// `sha256:<hex>` of the config file's bytes.
fn digest(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).ok()?;
    let hash = Sha256::digest(&bytes);
    Some(format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}
