//! The `evserve` binary: parse the command line, build the configuration, run.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Parser;
use evserve::cli::config_file::ConfigFile;
use evserve::cli::{
    AnnounceArgs, Cli, Command, ConfigCommand, DiscoverArgs, LoadArgs, SendArgs, ServeArgs,
};
use evserve::config::{Limits, SocketOptions};
use evserve::discovery;
use evserve::reactor::Reactor;
use evserve::server::{self, Announce, ServeError};
use signal_hook::consts::SIGINT;

mod malloc;
mod tcp_info;

fn main() -> ExitCode {
    let cli = parse_command_line();
    // rustls logs what a peer did wrong (a renegotiation attempt, a bad record) at WARN. In a
    // server that lets any peer write lines into the log (the TLS layer counts the failures
    // in /stats instead); in a client's run (load, send) it repeats, once per connection,
    // what the report already names with its first example. RUST_LOG=rustls=debug shows them.
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,rustls=error"),
    )
    .init();
    // /connections (and `demo sockopt`) show TCP_INFO; reading it needs `unsafe`, kept here.
    evserve::reactor::install_tcp_info(tcp_info::read);
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Announce(args) => announce(&args),
        Command::Discover(args) => discover(&args),
        Command::Send(args) => send(&args),
        Command::Load(args) => load(&args),
        Command::Config(ConfigCommand::Check { file }) => config_check(&file),
        Command::Demo(args) => {
            // A lesson prints its own account; the servers' info logs would only interleave.
            if std::env::var_os("RUST_LOG").is_none() {
                log::set_max_level(log::LevelFilter::Warn);
            }
            evserve::demo::run(args.lesson)
                .map(|text| print!("{text}"))
                .with_context(|| {
                    let name = args.lesson.name();
                    format!("demo {name} failed (RUST_LOG=debug shows the server's side)")
                })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Already reported (e.g. load's report): only the status is left to give.
        Err(e) if e.is::<Exit>() => e.downcast_ref::<Exit>().map_or(ExitCode::FAILURE, |x| x.0),
        Err(e) => {
            eprintln!("evserve: {}", error_text(&e));
            ExitCode::FAILURE
        }
    }
}

/// The command line, with the settings of `serve --config FILE` put in before its flags. A
/// file that cannot be used exits 2, as a bad flag does, naming the file and the line.
fn parse_command_line() -> Cli {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = Cli::parse_from(&argv);
    let Command::Serve(args) = &cli.command else {
        return cli;
    };
    let Some(path) = &args.config else {
        return cli;
    };
    match ConfigFile::load(path) {
        Ok(file) => Cli::parse_from(file.merge(&argv)),
        Err(e) => {
            eprintln!("evserve: {e}");
            std::process::exit(2);
        }
    }
}

/// `evserve config check FILE`: everything `serve --config FILE` checks before it binds.
fn config_check(path: &std::path::Path) -> anyhow::Result<()> {
    let file = ConfigFile::load(path)?;
    let argv = ["evserve", "serve"].map(std::ffi::OsString::from);
    let cli = Cli::try_parse_from(file.merge(&argv)).map_err(|e| {
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or_default().to_owned();
        anyhow::anyhow!(
            "{}: {}",
            path.display(),
            first.trim_start_matches("error: ")
        )
    })?;
    let Command::Serve(args) = cli.command else {
        unreachable!("the merged command line starts with serve");
    };
    let warnings = args
        .prepare()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for warning in warnings {
        println!("warning: {warning}");
    }
    println!("{}: ok ({} settings)", path.display(), file.len());
    Ok(())
}

/// The error and its causes on one line, each said once: a message that already contains its
/// cause's text (as `BindError` and `SendError` do, to put a hint after it) is not followed by
/// the cause again.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// An exit status for a run whose outcome was already printed.
#[derive(Debug)]
struct Exit(ExitCode);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for Exit {}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    malloc::return_freed_memory();
    for warning in args.prepare().map_err(anyhow::Error::msg)? {
        log::warn!("{warning}");
    }
    match server::serve(&args.config()) {
        Ok(()) => Ok(()),
        Err(ServeError::Bind(mut e)) => {
            e.defaulted = args.uses_default_services();
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

fn announce(args: &AnnounceArgs) -> anyhow::Result<()> {
    let mut reactor = Reactor::new(Limits::default(), SocketOptions::default())?;
    // Handled before the first log line, so a SIGTERM sent on seeing it is never fatal.
    reactor.handle_signals()?;
    let announce = Announce {
        to: args.to,
        name: args.name.clone().unwrap_or_else(discovery::host_name),
        interval: args.interval,
    };
    server::add_announcer(&mut reactor, &announce, args.service.clone())
        .with_context(|| format!("cannot announce to --to {}", args.to))?;
    reactor.run()?;
    Ok(())
}

fn discover(args: &DiscoverArgs) -> anyhow::Result<()> {
    let format = if args.json {
        discovery::Format::Json
    } else {
        args.format
    };
    let (opts, listen) = (&args.options, args.listen);
    print!(
        "{}",
        discovery::run(listen, args.duration, opts.expire, format, &opts.service)?
    );
    Ok(())
}

fn send(args: &SendArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    // Ctrl-C stops between data frames and says how far it got; a second one (a write
    // blocked on a server that stopped reading) ends the process at once.
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&stop))?;
    signal_hook::flag::register(SIGINT, Arc::clone(&stop))?;
    let tls = args.tls().map_err(anyhow::Error::msg)?;
    if args.insecure {
        warn_insecure();
    }
    let options = evserve::send::SendOptions {
        name: args.name.clone(),
        chunk_size: args.chunk.0,
        timeout: args.timeout.0,
        progress: true,
        stop: Some(stop),
        tls,
    };
    let what = || format!("cannot send {} to {}", args.file.display(), args.to);
    match evserve::send::send_file(&args.file, &args.to, &options) {
        Ok(report) => {
            println!("{report}");
            Ok(())
        }
        Err(e @ evserve::send::SendError::Interrupted { .. }) => {
            eprintln!("evserve: {}: {e}", what());
            Err(Exit(ExitCode::from(130)).into())
        }
        Err(e) => Err(anyhow::Error::new(e).context(what())),
    }
}

/// `evserve load`: the report, then the verdict as the exit status, so scripts can trust it:
/// 130 after Ctrl-C (with the partial report), 1 if no request succeeded or the error rate
/// is over `--max-error-rate`, 0 otherwise.
fn load(args: &LoadArgs) -> anyhow::Result<()> {
    let report = if args.target == "ws" {
        if !args.tls && (args.cacert.is_some() || args.insecure || args.no_tls_resume) {
            anyhow::bail!(
                "--cacert, --insecure and --no-tls-resume apply to TLS: add --tls for wss://"
            );
        }
        if args.insecure {
            warn_insecure();
        }
        let load = ws_load(args)?;
        evserve::load::ws::run(&load).with_context(|| format!("cannot load {}", load.addr))?
    } else {
        let mut config = args.config().map_err(anyhow::Error::msg)?;
        if args.insecure {
            warn_insecure();
        }
        let stop = Arc::new(AtomicBool::new(false));
        // The first Ctrl-C stops the run and prints what it measured; a second one, if that
        // hangs, ends the process at once.
        signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(SIGINT, Arc::clone(&stop))?;
        config.stop = Some(stop);
        evserve::load::run(&config).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "; is the server running on that port?",
                std::io::ErrorKind::TimedOut => "; is the address right, and the port open?",
                _ => "",
            };
            anyhow::anyhow!("cannot load {}: {e}{hint}", config.addr)
        })?
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.interrupted {
        return Err(Exit(ExitCode::from(130)).into());
    }
    if report.completed() == 0 && report.connect_errors == 0 {
        eprintln!(
            "evserve: no reply arrived during the run; does {} speak the protocol loaded?",
            args.addr.as_deref().unwrap_or(&args.target)
        );
        return Err(Exit(ExitCode::FAILURE).into());
    }
    if report.requests == 0 {
        eprintln!(
            "evserve: no request succeeded ({} errors, {} timeouts, {} connect errors; the \
             kinds are listed above)",
            report.errors, report.timeouts, report.connect_errors
        );
        return Err(Exit(ExitCode::FAILURE).into());
    }
    if let Some(max) = args.max_error_rate
        && report.error_rate() > max
    {
        eprintln!(
            "evserve: {:.2}% of requests failed, more than --max-error-rate {:.2}%",
            report.error_rate() * 100.0,
            max * 100.0
        );
        return Err(Exit(ExitCode::FAILURE).into());
    }
    Ok(())
}

/// `--insecure`, said once, before anything is sent.
fn warn_insecure() {
    eprintln!(
        "evserve: warning: --insecure: the server's certificate is not checked, so anyone on \
         the path could pose as the server; use --cacert FILE for anything but a test"
    );
}

/// `evserve load ws HOST:PORT [--tls]`: WebSocket echo at `/ws/echo` (see `load/ws.rs`).
fn ws_load(args: &LoadArgs) -> anyhow::Result<evserve::load::ws::WsLoad> {
    use std::net::ToSocketAddrs;
    let hostport = args
        .addr
        .as_deref()
        .context("give HOST:PORT after ws (the --http address)")?;
    let addr = hostport
        .to_socket_addrs()
        .with_context(|| format!("{hostport}: cannot resolve"))?
        .next()
        .with_context(|| format!("{hostport}: no address"))?;
    Ok(evserve::load::ws::WsLoad {
        addr,
        tls: args.ws_tls(hostport),
        connections: args.connections,
        size: args.size.0,
        duration: args.duration.unwrap_or(match args.requests {
            Some(_) => evserve::load::COUNTED_RUN_LIMIT,
            None => evserve::load::DEFAULT_DURATION,
        }),
        requests: args.requests,
        timeout: args.timeout.0,
    })
}
