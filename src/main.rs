//! The `evserve` binary: parse the command line, build the configuration, run.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use evserve::cli::{AnnounceArgs, Cli, Command, DiscoverArgs, LoadArgs, SendArgs, ServeArgs};
use evserve::config::{Limits, SocketOptions};
use evserve::discovery;
use evserve::reactor::Reactor;
use evserve::server::{self, Announce};

mod malloc;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Announce(args) => announce(&args),
        Command::Discover(args) => discover(&args),
        Command::Send(args) => send(&args),
        Command::Load(args) => load(&args),
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
        Err(e) => {
            eprintln!("evserve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    malloc::return_freed_memory();
    server::serve(&args.config())?;
    Ok(())
}

fn announce(args: &AnnounceArgs) -> anyhow::Result<()> {
    let mut reactor = Reactor::new(Limits::default(), SocketOptions::default())?;
    let announce = Announce {
        to: args.to,
        name: args.name.clone().unwrap_or_else(discovery::host_name),
        interval: args.interval,
    };
    server::add_announcer(&mut reactor, &announce, args.service.clone())
        .with_context(|| format!("cannot announce to --to {}", args.to))?;
    reactor.handle_signals()?;
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
    let options = evserve::send::SendOptions {
        name: args.name.clone(),
        chunk_size: args.chunk,
        timeout: args.timeout,
        progress: true,
    };
    let report = evserve::send::send_file(&args.file, &args.to, &options)
        .with_context(|| format!("cannot send {} to {}", args.file.display(), args.to))?;
    println!("{report}");
    Ok(())
}

fn load(args: &LoadArgs) -> anyhow::Result<()> {
    let config = args.config().map_err(anyhow::Error::msg)?;
    let report =
        evserve::load::run(&config).with_context(|| format!("cannot load {}", config.addr))?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
