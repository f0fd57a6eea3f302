//! The `evserve` binary: parse the command line, build the configuration, run.

use std::process::ExitCode;

use clap::Parser;
use evserve::cli::{Cli, Command};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evserve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &evserve::cli::ServeArgs) -> anyhow::Result<()> {
    let config = args.config();
    let (mut reactor, _) = evserve::server::build(&config)?;
    reactor.handle_signals()?;
    reactor.run()?;
    Ok(())
}
