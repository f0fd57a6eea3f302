//! The `evserve` binary: parse the command line, build the configuration, run.
//!
//! The command line (`cli`) and the programs that are not the server (`load`, `send`,
//! `demo`) are modules of this binary, not of the library: they use it as any program would.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Parser;
use cli::config_file::ConfigFile;
use cli::{AnnounceArgs, Cli, Command, ConfigCommand, DiscoverArgs, LoadArgs, SendArgs, ServeArgs};
use evserve::config::{Limits, SocketOptions};
use evserve::discovery;
use evserve::reactor::Reactor;
use evserve::server::{self, Announce, ServeError};
use signal_hook::consts::{SIGINT, SIGTERM};

mod cli;
mod demo;
mod load;
mod malloc;
mod send;
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
            demo::run(args.lesson)
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
    // With --config, SIGHUP reads the file again (with this same command line).
    let reload = match &args.config {
        Some(path) => {
            let argv = std::env::args_os().collect();
            let mut reloader =
                cli::reload::Reloader::new(path, argv).map_err(anyhow::Error::msg)?;
            Some(Box::new(move || reloader.reload()) as server::Reloader)
        }
        None => None,
    };
    match server::serve_reloading(&args.config(), reload) {
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
        name: args.name.clone().unwrap_or_else(cli::host_name),
        interval: args.interval,
        key: args.beacon_key.clone(),
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
        discovery::run(
            listen,
            args.duration,
            opts.expire,
            format,
            &opts.service,
            discovery::Gate::new(opts.beacon_key.clone(), opts.allow_from.clone()),
        )?
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
    let options = send::SendOptions {
        name: args.name.clone(),
        chunk_size: args.chunk.0,
        timeout: args.timeout.0,
        progress: true,
        stop: Some(stop),
        tls,
        token: args.token_file.clone(),
    };
    let what = || format!("cannot send {} to {}", args.file.display(), args.to);
    match send::send_file(&args.file, &args.to, &options) {
        Ok(report) => {
            println!("{report}");
            Ok(())
        }
        Err(e @ send::SendError::Interrupted { .. }) => {
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
    if args.target == "merge" {
        return load_merge(args);
    }
    if args.target == "sweep" {
        return load_sweep(args);
    }
    let started = std::time::SystemTime::now();
    let report = {
        // Every value the command line got wrong is a usage error: clap's format, exit 2.
        let mut config = args
            .config()
            .unwrap_or_else(|e| LoadArgs::usage_error(e).exit());
        if args.insecure {
            warn_insecure();
        }
        config.stop = Some(stop_on_signals()?);
        load::run(&config).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "; is the server running on that port?",
                std::io::ErrorKind::TimedOut => "; is the address right, and the port open?",
                _ => "",
            };
            anyhow::anyhow!("cannot load {}: {e}{hint}", config.addr)
        })?
    };
    let mut report = report;
    report.percentiles.clone_from(&args.percentiles.0);
    if let Some(path) = &args.hdr_log {
        // Written before the report, so a failure to write it is said after the figures.
        load::hlog::write(path, &report.latency, started, report.elapsed, None)
            .with_context(|| format!("cannot write --hdr-log {}", path.display()))?;
    }
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

/// `evserve load merge A.hlog B.hlog ...`: every interval of every log in one histogram, and
/// its percentiles (never an average of percentiles).
fn load_merge(args: &LoadArgs) -> anyhow::Result<()> {
    let files: Vec<&String> = args.addr.iter().chain(&args.more).collect();
    if files.is_empty() {
        LoadArgs::usage_error("give the interval logs to merge: load merge A.hlog B.hlog ...")
            .exit();
    }
    let merged = load::hlog::read(&files).map_err(anyhow::Error::msg)?;
    let percentiles = &args.percentiles.0;
    if args.json {
        let doc = serde_json::json!({
            "files": files.len(),
            "intervals": merged.intervals,
            "latency_us": load::latency_json(&merged.latency, percentiles),
        });
        println!("{doc}");
    } else {
        println!(
            "{} samples in {} intervals from {} files",
            merged.latency.len(),
            merged.intervals,
            files.len()
        );
        print!(
            "{}{}",
            load::latency_line(&merged.latency, percentiles),
            load::histogram_text(&merged.latency)
        );
    }
    Ok(())
}

/// A flag a load run watches: the first Ctrl-C (or SIGTERM) sets it, so the run stops and
/// prints what it measured; a second one, if that hangs, ends the process at once (130).
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// `evserve load sweep TARGET --slo 5ms`: a table as it goes, then the knee of each target,
/// and the results in PREFIX.json, PREFIX.csv and PREFIX.svg (see `load/sweep.rs`).
fn load_sweep(args: &LoadArgs) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    let usage = |e: String| -> ! { LoadArgs::usage_error(e).exit() };
    let plan = args.sweep_plan().unwrap_or_else(|e| usage(e));
    let mut targets = args.sweep_targets().unwrap_or_else(|e| usage(e));
    if args.insecure {
        warn_insecure();
    }
    let stop = stop_on_signals()?;
    for (_, config) in &mut targets {
        config.stop = Some(Arc::clone(&stop));
    }
    let steps = plan.rates().len();
    let tty = std::io::stderr().is_terminal();
    let labels: Vec<String> = targets.iter().map(|(l, _)| l.clone()).collect();
    println!(
        "{:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>7}  objective",
        "rate/s", "achieved/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "errors"
    );
    let swept = load::sweep::sweep(
        &targets,
        &plan,
        |t, _, step| {
            if tty {
                eprint!("\r\x1b[2K");
            }
            let verdict = if step.met { "met" } else { "missed" };
            let who = if labels.len() > 1 {
                format!("  {}", labels[t])
            } else {
                String::new()
            };
            println!(
                "{:>10.0} {:>12.0} {:>9} {:>9} {:>9} {:>9} {:>6.2}%  {verdict}{who}",
                step.rate,
                step.achieved,
                step.p50,
                step.p99,
                step.p999,
                step.max,
                step.error_rate * 100.0
            );
            let _ = std::io::stdout().flush();
        },
        |t, k, rate, phase| {
            if tty {
                eprint!(
                    "\r\x1b[2K[step {}/{steps}] {} at {rate:.0}/s: {phase}…",
                    k + 1,
                    labels[t]
                );
                let _ = std::io::stderr().flush();
            }
        },
    )
    .map_err(|e| anyhow::anyhow!("cannot sweep: {e}"))?;
    if tty {
        eprint!("\r\x1b[2K");
    }
    for s in &swept {
        match s.knee() {
            Some(k) => println!(
                "knee: {}: {:.0} requests/s ({:.0} achieved) met p{} <= {:?}",
                s.label, k.rate, k.achieved, plan.percentile, plan.slo
            ),
            None => println!(
                "knee: {}: no step met p{} <= {:?} (try a lower --start)",
                s.label, plan.percentile, plan.slo
            ),
        }
    }
    let out = args.out.display().to_string();
    let write = |ext: &str, body: String| -> anyhow::Result<()> {
        let path = format!("{out}.{ext}");
        std::fs::write(&path, body).with_context(|| format!("cannot write {path}"))
    };
    write("json", load::sweep::to_json(&swept, &plan).to_string())?;
    write("csv", load::sweep::to_csv(&swept))?;
    write("svg", load::sweep::svg(&swept, &plan))?;
    println!("wrote {out}.json, {out}.csv and {out}.svg");
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Exit(ExitCode::from(130)).into());
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
