//! The `evserve` binary: parse the command line, build the configuration, run.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use evserve::cli::{AnnounceArgs, Cli, Command, DiscoverArgs, LoadArgs, SendArgs, ServeArgs};
use evserve::config::{Limits, SocketOptions};
use evserve::discovery;
use evserve::reactor::Reactor;
use evserve::server::{self, Announce};

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
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(args.listen),
        socket2::Type::DGRAM,
        None,
    )?;
    // Several listeners on one machine (and a server's own port) may share the port.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket
        .bind(&args.listen.into())
        .with_context(|| format!("cannot bind --listen {}", args.listen))?;
    let found = discovery::discover(&socket.into(), args.duration)?;
    print!("{}", evserve::discovery::render(&found, args.json));
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
    let report = if args.target == "ws" {
        let load = ws_load(args)?;
        evserve::load::ws::run(&load).with_context(|| format!("cannot load {}", load.addr))?
    } else {
        let config = args.config().map_err(anyhow::Error::msg)?;
        evserve::load::run(&config).with_context(|| format!("cannot load {}", config.addr))?
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// `evserve load ws HOST:PORT`: WebSocket echo at `/ws/echo` (see `load/ws.rs`).
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
        connections: args.connections,
        size: args.size,
        duration: args.duration.unwrap_or(match args.requests {
            Some(_) => evserve::load::COUNTED_RUN_LIMIT,
            None => evserve::load::DEFAULT_DURATION,
        }),
        requests: args.requests,
        timeout: args.timeout,
    })
}
