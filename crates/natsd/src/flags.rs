//! nats-server's command line, parsed by hand: Go's flag package accepts `-x` and `--x`,
//! `-x=value` and `-x value`, and multi-letter single-dash flags (`-DV`, `-sl`), which
//! derive-style parsers cannot express.

use std::path::PathBuf;
use std::time::Duration;

use natsd_server::tls::TlsOptions;
use natsd_server::Options;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Box<RunFlags>),
    Version,
    Help,
    /// `--signal <name>[=<pid or pid file>]`.
    Signal {
        signal: String,
        target: Option<String>,
    },
}

/// Flags for running a server. Each one set overrides the config file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunFlags {
    pub config_file: Option<String>,
    /// `-t`: check the config file and exit.
    pub test_config: bool,
    pub host: Option<String>,
    /// `-1` means a random port.
    pub port: Option<i64>,
    pub server_name: Option<String>,
    pub client_advertise: Option<String>,
    pub http_port: Option<i64>,
    pub https_port: Option<i64>,
    pub ports_file_dir: Option<String>,
    pub log_file: Option<String>,
    pub log_size_limit: Option<u64>,
    pub pid_file: Option<String>,
    pub debug: Option<bool>,
    pub trace: Option<bool>,
    pub logtime: Option<bool>,
    pub logtime_utc: Option<bool>,
    pub max_payload: Option<usize>,
    pub max_control_line: Option<usize>,
    pub max_pending: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_subscriptions: Option<usize>,
    pub max_traced_msg_len: Option<usize>,
    pub ping_interval: Option<Duration>,
    pub ping_max: Option<u32>,
    pub write_deadline: Option<Duration>,
    pub lame_duck_duration: Option<Duration>,
    pub lame_duck_grace_period: Option<Duration>,
    pub no_header_support: Option<bool>,
    /// `--user`/`--pass`: one user; `--auth`: a token.
    pub user: Option<String>,
    pub pass: Option<String>,
    pub auth_token: Option<String>,
    /// `--tls`, `--tlscert`, `--tlskey`, `--tlsverify`, `--tlscacert`.
    pub tls: Option<bool>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub tls_verify: Option<bool>,
    pub tls_ca_cert: Option<String>,
    /// `-js`: JetStream on (or off, with `-js=false`).
    pub jetstream: Option<bool>,
    /// `-sd`: where JetStream keeps its data.
    pub store_dir: Option<String>,
    /// nats-server flags for capabilities natsd does not serve yet, as given.
    pub unsupported: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    UndefinedFlag(String),
    MissingValue(String),
    BadValue { flag: String, value: String },
}

/// In the words of Go's flag package.
impl std::fmt::Display for FlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlagError::UndefinedFlag(flag) => write!(f, "flag provided but not defined: -{flag}"),
            FlagError::MissingValue(flag) => write!(f, "flag needs an argument: -{flag}"),
            FlagError::BadValue { flag, value } => {
                write!(f, "invalid value {value:?} for flag -{flag}")
            }
        }
    }
}

impl std::error::Error for FlagError {}

enum Kind {
    Bool,
    Value,
}

/// Flags of nats-server that take a value, for capabilities natsd has not built yet.
const UNSUPPORTED_VALUE_FLAGS: [&str; 6] = [
    "r",
    "remote_syslog",
    "routes",
    "cluster",
    "cluster_listen",
    "cluster_name",
];
const UNSUPPORTED_VALUE_FLAGS_MORE: [&str; 3] = ["cluster_advertise", "connect_retries", "profile"];
const UNSUPPORTED_BOOL_FLAGS: [&str; 3] = ["s", "syslog", "no_advertise"];

fn kind_of(name: &str) -> Option<Kind> {
    match name {
        "h" | "help" | "v" | "version" | "D" | "debug" | "V" | "trace" | "VV" | "DV" | "DVV"
        | "T" | "logtime" | "logtime_utc" | "no_header_support" | "help_tls" | "t" | "tls"
        | "tlsverify" | "js" | "jetstream" => Some(Kind::Bool),
        "a"
        | "addr"
        | "net"
        | "p"
        | "port"
        | "n"
        | "name"
        | "server_name"
        | "l"
        | "log"
        | "P"
        | "pid"
        | "c"
        | "config"
        | "m"
        | "http_port"
        | "ms"
        | "https_port"
        | "client_advertise"
        | "ports_file_dir"
        | "log_size_limit"
        | "user"
        | "pass"
        | "auth"
        | "tlscert"
        | "tlskey"
        | "tlscacert"
        | "sl"
        | "signal"
        | "max_payload"
        | "max_control_line"
        | "max_pending"
        | "max_connections"
        | "max_subscriptions"
        | "max_traced_msg_len"
        | "ping_interval"
        | "ping_max"
        | "write_deadline"
        | "lame_duck_duration"
        | "lame_duck_grace_period"
        | "sd"
        | "store_dir" => Some(Kind::Value),
        _ if UNSUPPORTED_VALUE_FLAGS.contains(&name)
            || UNSUPPORTED_VALUE_FLAGS_MORE.contains(&name) =>
        {
            Some(Kind::Value)
        }
        _ if UNSUPPORTED_BOOL_FLAGS.contains(&name) => Some(Kind::Bool),
        _ => None,
    }
}

fn parse_bool(flag: &str, value: Option<&str>) -> Result<bool, FlagError> {
    match value {
        None => Ok(true),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(FlagError::BadValue {
            flag: flag.to_owned(),
            value: other.to_owned(),
        }),
    }
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, FlagError> {
    value.parse().map_err(|_| FlagError::BadValue {
        flag: flag.to_owned(),
        value: value.to_owned(),
    })
}

/// A Go duration (`500ms`, `2s`, `1m30s`); a bare number is seconds.
pub fn parse_duration(flag: &str, value: &str) -> Result<Duration, FlagError> {
    value
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .or_else(|| natsd_conf::parse_duration(value))
        .ok_or_else(|| FlagError::BadValue {
            flag: flag.to_owned(),
            value: value.to_owned(),
        })
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, FlagError> {
    let mut flags = RunFlags::default();
    let mut signal: Option<String> = None;
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        let Some(stripped) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            match arg.as_str() {
                "version" => return Ok(Command::Version),
                "help" => return Ok(Command::Help),
                // Like Go's flag package, parsing stops at the first non-flag argument.
                _ => break,
            }
        };
        if stripped.is_empty() {
            break;
        }
        let (name, inline) = match stripped.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (stripped, None),
        };
        let kind = kind_of(name).ok_or_else(|| FlagError::UndefinedFlag(name.to_owned()))?;
        let value = match kind {
            Kind::Bool => inline.map(str::to_owned),
            Kind::Value => match inline {
                Some(v) => Some(v.to_owned()),
                None => {
                    let v = args
                        .get(index)
                        .ok_or_else(|| FlagError::MissingValue(name.to_owned()))?;
                    index += 1;
                    Some(v.clone())
                }
            },
        };
        let text = value.as_deref().unwrap_or_default();
        match name {
            "h" | "help" | "help_tls" => {
                if parse_bool(name, value.as_deref())? {
                    return Ok(Command::Help);
                }
            }
            "v" | "version" => {
                if parse_bool(name, value.as_deref())? {
                    return Ok(Command::Version);
                }
            }
            "D" | "debug" => flags.debug = Some(parse_bool(name, value.as_deref())?),
            "V" | "trace" | "VV" => flags.trace = Some(parse_bool(name, value.as_deref())?),
            "DV" | "DVV" => {
                let on = parse_bool(name, value.as_deref())?;
                flags.debug = Some(on);
                flags.trace = Some(on);
            }
            "T" | "logtime" => flags.logtime = Some(parse_bool(name, value.as_deref())?),
            "logtime_utc" => flags.logtime_utc = Some(parse_bool(name, value.as_deref())?),
            "no_header_support" => {
                flags.no_header_support = Some(parse_bool(name, value.as_deref())?)
            }
            "t" => flags.test_config = parse_bool(name, value.as_deref())?,
            "c" | "config" => flags.config_file = Some(text.to_owned()),
            "m" | "http_port" => flags.http_port = Some(parse_number(name, text)?),
            "ms" | "https_port" => flags.https_port = Some(parse_number(name, text)?),
            "client_advertise" => flags.client_advertise = Some(text.to_owned()),
            "ports_file_dir" => flags.ports_file_dir = Some(text.to_owned()),
            "log_size_limit" => flags.log_size_limit = Some(parse_number(name, text)?),
            "user" => flags.user = Some(text.to_owned()),
            "pass" => flags.pass = Some(text.to_owned()),
            "auth" => flags.auth_token = Some(text.to_owned()),
            "tls" => flags.tls = Some(parse_bool(name, value.as_deref())?),
            "tlsverify" => flags.tls_verify = Some(parse_bool(name, value.as_deref())?),
            "tlscert" => flags.tls_cert = Some(text.to_owned()),
            "tlskey" => flags.tls_key = Some(text.to_owned()),
            "tlscacert" => flags.tls_ca_cert = Some(text.to_owned()),
            "js" | "jetstream" => flags.jetstream = Some(parse_bool(name, value.as_deref())?),
            "sd" | "store_dir" => flags.store_dir = Some(text.to_owned()),
            "a" | "addr" | "net" => flags.host = Some(text.to_owned()),
            "p" | "port" => flags.port = Some(parse_number(name, text)?),
            "n" | "name" | "server_name" => flags.server_name = Some(text.to_owned()),
            "l" | "log" => flags.log_file = Some(text.to_owned()),
            "P" | "pid" => flags.pid_file = Some(text.to_owned()),
            "sl" | "signal" => signal = Some(text.to_owned()),
            "max_payload" => flags.max_payload = Some(parse_number(name, text)?),
            "max_control_line" => flags.max_control_line = Some(parse_number(name, text)?),
            "max_pending" => flags.max_pending = Some(parse_number(name, text)?),
            "max_connections" => flags.max_connections = Some(parse_number(name, text)?),
            "max_subscriptions" => flags.max_subscriptions = Some(parse_number(name, text)?),
            "max_traced_msg_len" => {
                flags.max_traced_msg_len = Some(parse_number(name, text)?);
            }
            "ping_interval" => flags.ping_interval = Some(parse_duration(name, text)?),
            "ping_max" => flags.ping_max = Some(parse_number(name, text)?),
            "write_deadline" => flags.write_deadline = Some(parse_duration(name, text)?),
            "lame_duck_duration" => flags.lame_duck_duration = Some(parse_duration(name, text)?),
            "lame_duck_grace_period" => {
                flags.lame_duck_grace_period = Some(parse_duration(name, text)?)
            }
            other => flags.unsupported.push(format!("-{other}")),
        }
    }
    if let Some(spec) = signal {
        let (signal, target) = match spec.split_once('=') {
            Some((s, t)) => (s.to_owned(), Some(t.to_owned())),
            None => (spec, None),
        };
        return Ok(Command::Signal { signal, target });
    }
    Ok(Command::Run(Box::new(flags)))
}

impl RunFlags {
    /// Overrides `opts` (defaults, or what the config file set) with the flags given.
    pub fn apply(&self, opts: &mut Options) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        fn set_some<T: Clone>(target: &mut Option<T>, value: &Option<T>) {
            if value.is_some() {
                target.clone_from(value);
            }
        }
        set(&mut opts.host, &self.host);
        match self.jetstream {
            Some(true) if opts.jetstream.is_none() => opts.jetstream = Some(Default::default()),
            Some(false) => opts.jetstream = None,
            _ => {}
        }
        if let Some(dir) = &self.store_dir {
            opts.store_dir = Some(dir.into());
        }
        if let Some(port) = self.port {
            opts.port = match port {
                -1 => None,
                0 => Some(natsd_server::options::DEFAULT_PORT),
                _ => u16::try_from(port).ok(),
            };
        }
        set_some(&mut opts.server_name, &self.server_name);
        set_some(&mut opts.client_advertise, &self.client_advertise);
        if let Some(port) = self.http_port {
            opts.http_port = i32::try_from(port).unwrap_or(0);
        }
        if let Some(port) = self.https_port {
            opts.https_port = i32::try_from(port).unwrap_or(0);
        }
        set_some(
            &mut opts.ports_file_dir,
            &self.ports_file_dir.as_ref().map(PathBuf::from),
        );
        set_some(
            &mut opts.log_file,
            &self.log_file.as_ref().map(PathBuf::from),
        );
        set_some(
            &mut opts.pid_file,
            &self.pid_file.as_ref().map(PathBuf::from),
        );
        set(&mut opts.log_size_limit, &self.log_size_limit);
        set(&mut opts.debug, &self.debug);
        set(&mut opts.trace, &self.trace);
        set(&mut opts.logtime, &self.logtime);
        set(&mut opts.logtime_utc, &self.logtime_utc);
        set(&mut opts.max_payload, &self.max_payload);
        set(&mut opts.max_control_line, &self.max_control_line);
        set(&mut opts.max_pending, &self.max_pending);
        set(&mut opts.max_connections, &self.max_connections);
        set(&mut opts.max_subscriptions, &self.max_subscriptions);
        set(&mut opts.max_traced_msg_len, &self.max_traced_msg_len);
        set(&mut opts.ping_interval, &self.ping_interval);
        set(&mut opts.ping_max, &self.ping_max);
        set(&mut opts.write_deadline, &self.write_deadline);
        set(&mut opts.lame_duck_duration, &self.lame_duck_duration);
        set(
            &mut opts.lame_duck_grace_period,
            &self.lame_duck_grace_period,
        );
        set(&mut opts.no_header_support, &self.no_header_support);
        // As in nats-server, `--user`/`--pass` and `--auth` replace the file's single user
        // or token; its users list stays.
        if let Some(user) = &self.user {
            opts.authorization.users.retain(|u| u.name != *user);
            opts.authorization.users.push(natsd_auth::User {
                name: user.clone(),
                password: self.pass.clone(),
                ..natsd_auth::User::default()
            });
        }
        if self.auth_token.is_some() {
            opts.authorization.token.clone_from(&self.auth_token);
        }
        self.apply_tls(opts);
    }

    /// `--tlscert` and `--tlskey` (with `--tls`, or `--tlsverify` and `--tlscacert`) set up
    /// TLS over what the file says, as in nats-server.
    fn apply_tls(&self, opts: &mut Options) {
        let wanted = self.tls == Some(true)
            || self.tls_verify == Some(true)
            || self.tls_cert.is_some()
            || self.tls_key.is_some();
        if !wanted {
            return;
        }
        let tls = opts.tls.get_or_insert_with(TlsOptions::default);
        if let Some(cert) = &self.tls_cert {
            tls.cert_file = PathBuf::from(cert);
        }
        if let Some(key) = &self.tls_key {
            tls.key_file = PathBuf::from(key);
        }
        if let Some(ca) = &self.tls_ca_cert {
            tls.ca_file = Some(PathBuf::from(ca));
        }
        if let Some(verify) = self.tls_verify {
            tls.verify = verify;
        }
    }

    /// The settings these flags alone give.
    #[cfg(test)]
    fn options(&self) -> Options {
        let mut opts = Options::default();
        self.apply(&mut opts);
        opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> RunFlags {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args).unwrap() {
            Command::Run(flags) => *flags,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn single_and_double_dash_with_or_without_equals() {
        let flags = run(&[
            "-p",
            "-1",
            "--addr=127.0.0.1",
            "-n",
            "x",
            "--server_name",
            "y",
        ]);
        assert_eq!(flags.port, Some(-1));
        assert_eq!(flags.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(flags.server_name.as_deref(), Some("y"));
        assert_eq!(flags.options().port, None);
        let flags = run(&["--port=4333", "-net", "::", "-l", "f.log", "--pid=p"]);
        assert_eq!(flags.options().port, Some(4333));
        assert_eq!(flags.options().host, "::");
        assert_eq!(flags.options().log_file, Some(PathBuf::from("f.log")));
        assert_eq!(flags.options().pid_file, Some(PathBuf::from("p")));
    }

    #[test]
    fn logging_flags() {
        let flags = run(&["-DV"]);
        let opts = flags.options();
        assert!(opts.debug && opts.trace && opts.logtime);
        let opts = run(&["-D", "-T=false"]).options();
        assert!(opts.debug && !opts.trace && !opts.logtime);
        let opts = run(&["--trace"]).options();
        assert!(opts.trace && !opts.debug);
    }

    #[test]
    fn version_help_and_signal() {
        let parse_strs = |a: &[&str]| parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(parse_strs(&["-v"]).unwrap(), Command::Version);
        assert_eq!(parse_strs(&["--version"]).unwrap(), Command::Version);
        assert_eq!(parse_strs(&["version"]).unwrap(), Command::Version);
        assert_eq!(parse_strs(&["-h"]).unwrap(), Command::Help);
        assert_eq!(
            parse_strs(&["--signal", "ldm=123"]).unwrap(),
            Command::Signal {
                signal: "ldm".into(),
                target: Some("123".into())
            }
        );
        assert_eq!(
            parse_strs(&["-sl=stop"]).unwrap(),
            Command::Signal {
                signal: "stop".into(),
                target: None
            }
        );
    }

    #[test]
    fn limits_and_durations() {
        let flags = run(&[
            "--max_payload",
            "100",
            "--ping_interval=250ms",
            "--max_traced_msg_len=64",
            "--write_deadline",
            "2s",
        ]);
        let opts = flags.options();
        assert_eq!(opts.max_payload, 100);
        assert_eq!(opts.ping_interval, Duration::from_millis(250));
        assert_eq!(opts.max_traced_msg_len, 64);
        assert_eq!(opts.write_deadline, Duration::from_secs(2));
        assert_eq!(
            parse_duration("x", "1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(parse_duration("x", "5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("x", "5parsecs").is_err());
    }

    #[test]
    fn errors_name_the_flag() {
        let parse_strs = |a: &[&str]| parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            parse_strs(&["--bogus"]).unwrap_err().to_string(),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            parse_strs(&["-p"]).unwrap_err(),
            FlagError::MissingValue("p".into())
        );
        assert!(matches!(
            parse_strs(&["-p", "x"]).unwrap_err(),
            FlagError::BadValue { .. }
        ));
    }

    #[test]
    fn flags_for_later_capabilities_are_recorded() {
        let flags = run(&["--routes", "a", "-m", "8222"]);
        assert_eq!(flags.unsupported, vec!["-routes"]);
        assert_eq!(flags.options().http_port, 8222);
    }

    #[test]
    fn jetstream_flags_enable_it_and_set_the_store() {
        let opts = run(&["-js", "-sd", "data"]).options();
        assert!(opts.jetstream.is_some());
        assert_eq!(opts.store_dir, Some(PathBuf::from("data")));
        assert!(run(&["-js=false"]).options().jetstream.is_none());
    }

    #[test]
    fn tls_flags() {
        let opts = run(&[
            "--tls",
            "--tlscert",
            "c.pem",
            "--tlskey",
            "k.pem",
            "--tlsverify",
            "--tlscacert=ca.pem",
        ])
        .options();
        let tls = opts.tls.unwrap_or_default();
        assert_eq!(tls.cert_file, PathBuf::from("c.pem"));
        assert_eq!(tls.key_file, PathBuf::from("k.pem"));
        assert_eq!(tls.ca_file, Some(PathBuf::from("ca.pem")));
        assert!(tls.verify);
        assert!(run(&["-p", "1"]).options().tls.is_none());
    }

    #[test]
    fn user_and_token_flags() {
        let opts = run(&["--user", "u", "--pass", "p"]).options();
        let identity = opts.authorization.authenticate(
            &natsd_auth::Credentials {
                user: Some("u".into()),
                pass: Some("p".into()),
                ..Default::default()
            },
            None,
        );
        assert!(identity.is_ok());
        let opts = run(&["--auth", "s3cret"]).options();
        assert_eq!(opts.authorization.token.as_deref(), Some("s3cret"));
    }

    #[test]
    fn config_flags_override_only_what_is_given() {
        let flags = run(&[
            "-c",
            "natsd.conf",
            "-t",
            "--ports_file_dir=/tmp",
            "-p",
            "4333",
        ]);
        assert_eq!(flags.config_file.as_deref(), Some("natsd.conf"));
        assert!(flags.test_config);
        let mut opts = Options {
            max_payload: 10,
            debug: true,
            ..Options::default()
        };
        flags.apply(&mut opts);
        assert_eq!((opts.max_payload, opts.debug), (10, true));
        assert_eq!(opts.port, Some(4333));
        assert_eq!(opts.ports_file_dir, Some(PathBuf::from("/tmp")));
    }
}
