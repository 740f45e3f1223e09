//! natsd: starts a server from nats-server's command-line flags, writes the pid file, and
//! maps signals the way nats-server does (SIGINT/SIGTERM stop, SIGUSR2 lame duck, SIGUSR1
//! reopens the log file, SIGHUP reloads).

mod flags;
mod signal;

use std::fs::OpenOptions;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use flags::{Command, RunFlags};
use natsd_server::{Logger, Server, COMPATIBLE_VERSION, NATSD_VERSION};
use tokio::signal::unix::{signal as unix_signal, SignalKind};

const USAGE: &str = "\
Usage: natsd [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1 for random)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -sl,--signal <signal>[=<pid>]    Send signal to natsd process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -DV                              Debug and trace

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
    log.set_levels(flags.debug, flags.trace, flags.logtime);
    if let Some(path) = &flags.log_file {
        match open_log(path) {
            Ok(file) => log.set_sink(file),
            Err(error) => {
                log.log(
                    natsd_server::Level::Fatal,
                    format_args!("error opening log file {path}: {error}"),
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log.log(natsd_server::Level::Fatal, format_args!("{error}"));
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(flags, log))
}

fn open_log(path: &str) -> std::io::Result<Box<dyn Write + Send>> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(Box::new(file))
}

async fn serve(flags: &RunFlags, log: Arc<Logger>) -> ExitCode {
    for flag in &flags.unsupported {
        log.warn(format_args!(
            "natsd does not serve what {flag} configures yet; the flag is ignored"
        ));
    }
    // Written before the server reports ready, so harnesses that wait for the ready line
    // find the pid file.
    if let Some(path) = &flags.pid_file {
        if let Err(error) = std::fs::write(path, std::process::id().to_string()) {
            log.log(
                natsd_server::Level::Fatal,
                format_args!("Could not write pidfile: {error}"),
            );
            return ExitCode::FAILURE;
        }
    }
    let server = match Server::start(flags.options(), Arc::clone(&log)).await {
        Ok(server) => server,
        Err(error) => {
            log.log(natsd_server::Level::Fatal, format_args!("{error}"));
            remove_pid_file(flags);
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = handle_signals(&server, flags, &log).await {
        log.error(format_args!("signal handling failed: {error}"));
    }
    server.shutdown().await;
    remove_pid_file(flags);
    ExitCode::SUCCESS
}

fn remove_pid_file(flags: &RunFlags) {
    if let Some(path) = &flags.pid_file {
        let _ = std::fs::remove_file(path);
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
            _ = hangup.recv() => {
                log.error(format_args!(
                    "Failed to reload server configuration: config reload not supported without a configuration file"
                ));
            }
            _ = user1.recv() => {
                if let Some(path) = &flags.log_file {
                    match open_log(path) {
                        Ok(file) => {
                            log.set_sink(file);
                            log.info(format_args!("File log re-opened"));
                        }
                        Err(error) => log.error(format_args!("error re-opening log file {path}: {error}")),
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
