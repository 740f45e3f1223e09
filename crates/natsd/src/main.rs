//! natsd: starts a server from nats-server's config file and command-line flags, serves
//! monitoring, writes the pid and ports files, and maps signals the way nats-server does
//! (SIGINT/SIGTERM stop, SIGUSR2 lame duck, SIGUSR1 reopens the log file, SIGHUP reloads).
//!
//! - `flags`: the command line; `settings`: config file then flags, at start and reload;
//!   `run_files`: the pid and ports files; `signal`: `--signal` to a running server.

mod flags;
mod run_files;
mod settings;
mod signal;

use std::process::ExitCode;
use std::sync::Arc;

use flags::{Command, RunFlags};
use natsd_server::log::FileSink;
use natsd_server::{host_port, Level, Logger, Options, Server, COMPATIBLE_VERSION, NATSD_VERSION};
use run_files::RunFiles;
use settings::Loaded;
use tokio::signal::unix::{signal as unix_signal, SignalKind};

const USAGE: &str = "\
Usage: natsd [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1 for random)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring (-1 for random)
    -ms,--https_port <port>          Use port for https monitoring (-1 for random)
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports)
    -sl,--signal <signal>[=<pid>]    Send signal to natsd process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
        --log_size_limit <bytes>     Rotate the log file past this size (default: 0, never)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -DV                              Debug and trace

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Limits (natsd extensions; nats-server sets these in its config file):
        --max_payload <bytes>        Maximum message payload (default: 1048576)
        --max_control_line <bytes>   Maximum control line (default: 4096)
        --max_pending <bytes>        Maximum outbound bytes per client (default: 67108864)
        --max_connections <n>        Maximum client connections (default: 65536)
        --max_subscriptions <n>      Maximum subscriptions per client (default: 0, unlimited)
        --ping_interval <duration>   Interval between server PINGs (default: 2m)
        --ping_max <n>               Unanswered PINGs before a client is stale (default: 2)
        --write_deadline <duration>  Flush deadline before a slow consumer is closed (default: 10s)
        --lame_duck_duration <d>     Time to close all clients in lame duck mode (default: 2m)
        --lame_duck_grace_period <d> Wait before closing clients in lame duck mode (default: 10s)
        --no_header_support          Disable message headers

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match flags::parse(&args) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("{error}");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Version => {
            println!("nats-server: v{COMPATIBLE_VERSION}");
            println!("natsd: v{NATSD_VERSION}");
            ExitCode::SUCCESS
        }
        Command::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Signal { signal, target } => match signal::send(&signal, target.as_deref()) {
            Ok(pid) => {
                println!("[{pid}] signal {signal:?} sent");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{error}");
                ExitCode::FAILURE
            }
        },
        Command::Run(flags) => run(&flags),
    }
}

fn run(flags: &RunFlags) -> ExitCode {
    let log = Arc::new(Logger::stderr());
    let loaded = match settings::load(flags) {
        Ok(loaded) => loaded,
        Err(error) => {
            for line in &error.0 {
                log.log(Level::Fatal, format_args!("{line}"));
            }
            return ExitCode::FAILURE;
        }
    };
    if flags.test_config {
        return test_config(flags, &loaded);
    }
    for warning in &loaded.warnings {
        log.warn(format_args!("{warning}"));
    }
    let opts = &loaded.opts;
    log.set_levels(opts.debug, opts.trace, opts.logtime);
    if let Err(error) = open_log(opts, &log) {
        log.log(Level::Fatal, format_args!("{error}"));
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log.log(Level::Fatal, format_args!("{error}"));
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(flags, loaded, Arc::clone(&log)));
    // Lines still queued for the writer thread go out before the process ends.
    log.flush();
    code
}

/// `-t`: like nats-server, warnings fail the check too.
fn test_config(flags: &RunFlags, loaded: &Loaded) -> ExitCode {
    let Some(file) = &flags.config_file else {
        eprintln!("natsd: no configuration file given, use -c to name one");
        return ExitCode::FAILURE;
    };
    if !loaded.warnings.is_empty() {
        for warning in &loaded.warnings {
            eprintln!("natsd: {warning}");
        }
        return ExitCode::FAILURE;
    }
    let digest = loaded.opts.config_digest.as_deref().unwrap_or_default();
    println!("natsd: configuration file {file} is valid ({digest})");
    ExitCode::SUCCESS
}

/// Points the logger at the configured file (rotating at `log_size_limit`), or leaves it
/// on standard error.
fn open_log(opts: &Options, log: &Logger) -> Result<(), String> {
    if let Some(path) = &opts.log_file {
        let sink = FileSink::open(path, opts.log_size_limit, opts.log_max_num)
            .map_err(|error| format!("error opening log file {}: {error}", path.display()))?;
        log.set_sink(Box::new(sink));
    }
    Ok(())
}

async fn serve(flags: &RunFlags, loaded: Loaded, log: Arc<Logger>) -> ExitCode {
    for flag in &flags.unsupported {
        log.warn(format_args!(
            "natsd does not serve what {flag} configures yet; the flag is ignored"
        ));
    }
    for notice in &loaded.notices {
        log.warn(format_args!("{notice}"));
    }
    for block in &loaded.unsupported {
        log.warn(format_args!(
            "natsd does not serve '{block}' from the configuration yet; it is checked and ignored"
        ));
    }
    let opts = loaded.opts;
    if let Some(file) = &opts.config_file {
        log.info(format_args!(
            "Using configuration file: {} ({})",
            file.display(),
            opts.config_digest.as_deref().unwrap_or_default()
        ));
    }
    // Written before the server reports ready, so harnesses that wait for the ready line
    // find the pid file.
    if let Some(path) = &opts.pid_file {
        if let Err(error) = std::fs::write(path, std::process::id().to_string()) {
            log.log(
                Level::Fatal,
                format_args!("Could not write pidfile: {error}"),
            );
            return ExitCode::FAILURE;
        }
    }
    let files = RunFiles::new(&opts);
    let jetstream = opts.jetstream.clone().map(|js| {
        Arc::new(natsd_jetstream::JetStream::new(
            js,
            opts.store_dir.as_deref(),
        ))
    });
    if let Some(js) = &jetstream {
        if let Err(error) = js.prepare() {
            log.log(Level::Fatal, format_args!("Can't start JetStream: {error}"));
            files.remove();
            return ExitCode::FAILURE;
        }
    }
    let extensions = jetstream
        .iter()
        .map(|js| Arc::clone(js) as Arc<dyn natsd_server::Extension>)
        .collect();
    let server = match Server::listen_with(opts.clone(), Arc::clone(&log), extensions).await {
        Ok(server) => server,
        Err(error) => {
            log.log(Level::Fatal, format_args!("{error}"));
            files.remove();
            return ExitCode::FAILURE;
        }
    };
    let mut monitoring = Vec::new();
    let host = opts.http_host.as_deref().unwrap_or(&opts.host);
    for (port, secure) in [(opts.http_port, false), (opts.https_port, true)] {
        if port == 0 {
            continue;
        }
        let addr = host_port(host, u16::try_from(port).unwrap_or(0));
        let started = if secure {
            natsd_monitor::start_tls(server.clone(), &addr).await
        } else {
            natsd_monitor::start(server.clone(), &addr).await
        };
        match started {
            Ok(monitor) => {
                let scheme = if secure { "https" } else { "http" };
                log.info(format_args!(
                    "Starting {scheme} monitor on {}",
                    monitor.local_addr
                ));
                monitoring.push((scheme, monitor.local_addr));
            }
            Err(error) => {
                log.log(
                    Level::Fatal,
                    format_args!("Can't listen to the monitor port: {error}"),
                );
                server.shutdown().await;
                files.remove();
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(error) = files.write_ports(&server, &monitoring) {
        log.error(format_args!("Error writing ports file: {error}"));
    }
    server.announce_ready();
    if let Err(error) = handle_signals(&server, flags, &log).await {
        log.error(format_args!("signal handling failed: {error}"));
    }
    server.shutdown().await;
    if let Some(js) = &jetstream {
        js.close();
    }
    files.remove();
    ExitCode::SUCCESS
}

/// Re-reads the config file and applies it, or logs why not; the server keeps running
/// either way.
fn reload(server: &Server, flags: &RunFlags, log: &Logger) {
    if flags.config_file.is_none() {
        log.error(format_args!(
            "Failed to reload server configuration: config reload not supported without a configuration file"
        ));
        return;
    }
    let loaded = match settings::load(flags) {
        Ok(loaded) => loaded,
        Err(error) => {
            log.error(format_args!(
                "Failed to reload server configuration: {error}"
            ));
            return;
        }
    };
    let old = server.options();
    let new = loaded.opts;
    let reopen = old.log_file != new.log_file || old.log_size_limit != new.log_size_limit;
    match server.reload(new.clone()) {
        Ok(changes) => {
            if reopen {
                if let Err(error) = open_log(&new, log) {
                    log.error(format_args!("{error}"));
                }
            }
            for change in changes {
                log.info(format_args!("Reloaded: {change}"));
            }
            log.info(format_args!("Reloaded server configuration"));
        }
        Err(error) => log.error(format_args!(
            "Failed to reload server configuration: {error}"
        )),
    }
}

/// Waits for signals until the server is to stop.
async fn handle_signals(
    server: &Server,
    flags: &RunFlags,
    log: &Arc<Logger>,
) -> std::io::Result<()> {
    let mut interrupt = unix_signal(SignalKind::interrupt())?;
    let mut terminate = unix_signal(SignalKind::terminate())?;
    let mut hangup = unix_signal(SignalKind::hangup())?;
    let mut user1 = unix_signal(SignalKind::user_defined1())?;
    let mut user2 = unix_signal(SignalKind::user_defined2())?;
    loop {
        tokio::select! {
            _ = interrupt.recv() => {
                log.info(format_args!("Trapped \"interrupt\" signal"));
                return Ok(());
            }
            _ = terminate.recv() => {
                log.info(format_args!("Trapped \"terminated\" signal"));
                return Ok(());
            }
            _ = hangup.recv() => reload(server, flags, log),
            _ = user1.recv() => {
                let opts = server.options();
                if opts.log_file.is_some() {
                    match open_log(&opts, log) {
                        Ok(()) => log.info(format_args!("File log re-opened")),
                        Err(error) => log.error(format_args!("{error}")),
                    }
                }
            }
            _ = user2.recv() => {
                let server = server.clone();
                tokio::spawn(async move { server.lame_duck().await });
            }
            _ = server.stopped() => return Ok(()),
        }
    }
}
