//! `serve --config FILE` and SIGHUP: read the file again, check it as at start, and say
//! which settings changed and which of them a running server can take.
//!
//! The file is merged with the command line the server was started with, by the same parser
//! and the same checks as at start (`ConfigFile::merge`, `ServeArgs::prepare`), so a flag on
//! the command line still wins and a value refused at start is refused here, with the same
//! message. Settings are compared flag by flag, by their parsed text (defaults included, so
//! a setting taken out of the file goes back to its default and is reported).
//!
//! [`RELOADABLE`] lists what a running server takes (see `server::serve_reloading`): the
//! HTTP settings, for connections opened after the reload, and the reactor's limits and
//! timeouts. Everything else (listeners, workers, TLS, framing, discovery, socket options)
//! is read only at start: a change to it is reported as waiting for a restart, at every
//! reload until the server restarts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches};

use super::config_file::ConfigFile;
use super::{Cli, Command};
use evserve::server::{Change, Reloaded};

/// The settings a running server takes on SIGHUP, by their names in the file.
pub const RELOADABLE: &[&str] = &[
    // HTTP: for the connections opened after the reload.
    "root",
    "writable",
    "writable-without-auth",
    "listings",
    "stats-allow",
    "server-name",
    "strict-host",
    "auth",
    "auth-file",
    "auth-max-failures",
    "allow-trace",
    "hsts",
    "hsts-max-age",
    "file-cache",
    "sendfile",
    "max-header-bytes",
    "max-uri",
    "max-headers",
    "max-body",
    "header-timeout",
    "access-log",
    "no-access-log",
    "dashboard",
    "no-dashboard",
    "ws-allow-origin",
    "ws-max-message",
    "ws-ping-interval",
    "ws-message-timeout",
    // The reactor's limits: from the next turn of each worker's loop.
    "max-connections",
    "max-output",
    "max-memory",
    "udp-queue",
    "idle-timeout",
    "drain-timeout",
    "drain-delay",
    "linger-timeout",
    "min-rate",
    "rate-window",
];

/// Settings whose values are not written in the log.
const SECRET: &[&str] = &["auth"];

/// One setting as the parser read it: its name and its values as text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    name: String,
    values: Vec<String>,
}

/// Reads `serve --config FILE` again on demand, and remembers what the server runs with.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    argv: Vec<OsString>,
    /// What the server runs with: the start's values, then each reload's for what it took.
    running: Vec<Setting>,
}

impl Reloader {
    /// A reloader for a server started with `argv` (which gives `--config path`).
    pub fn new(path: &Path, argv: Vec<OsString>) -> Result<Reloader, String> {
        let (_, running) = read(path, &argv)?;
        Ok(Reloader {
            path: path.to_owned(),
            argv,
            running,
        })
    }

    /// Reads and checks the file again: the configuration it gives with the command line, and
    /// every setting that differs from what the server runs with. An error says the file,
    /// the line where it can, and what is wrong.
    pub fn reload(&mut self) -> Result<Reloaded, String> {
        let (args, settings) = read(&self.path, &self.argv)?;
        let warnings = args
            .prepare()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        for warning in warnings {
            log::warn!("{}: {warning}", self.path.display());
        }
        let mut changes = Vec::new();
        for (running, new) in self.running.iter_mut().zip(settings) {
            if running.values == new.values {
                continue;
            }
            let applied = RELOADABLE.contains(&new.name.as_str());
            let shown = |values: &[String]| {
                if values.is_empty() {
                    "(none)".to_owned()
                } else if SECRET.contains(&new.name.as_str()) {
                    "(hidden)".to_owned()
                } else {
                    values.join(",")
                }
            };
            changes.push(Change {
                old: shown(&running.values),
                new: shown(&new.values),
                name: new.name.clone(),
                applied,
            });
            if applied {
                *running = new;
            }
        }
        Ok(Reloaded {
            file: self.path.clone(),
            config: args.config(),
            changes,
        })
    }
}

/// The file merged with `argv`, parsed: the serve flags, and every setting as text, in the
/// parser's order.
fn read(path: &Path, argv: &[OsString]) -> Result<(super::ServeArgs, Vec<Setting>), String> {
    let file = ConfigFile::load(path).map_err(|e| e.to_string())?;
    let merged = file.merge(argv);
    let command = Cli::command();
    let matches = command.clone().try_get_matches_from(&merged).map_err(|e| {
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or_default().to_owned();
        format!(
            "{}: {}",
            path.display(),
            first.trim_start_matches("error: ")
        )
    })?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| format!("{}: {e}", path.display()))?;
    let Command::Serve(args) = cli.command else {
        return Err(format!("{}: not a serve command line", path.display()));
    };
    let (Some(serve), Some(given)) = (
        command.find_subcommand("serve"),
        matches.subcommand_matches("serve"),
    ) else {
        return Err(format!("{}: not a serve command line", path.display()));
    };
    let settings = serve
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_long()?.to_owned();
            let values = given
                .try_get_raw(arg.get_id().as_str())
                .ok()
                .flatten()
                .map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            Some(Setting { name, values })
        })
        .collect();
    Ok((*args, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(path: &Path, extra: &[&str]) -> Vec<OsString> {
        let mut argv: Vec<OsString> = ["evserve", "serve", "--config"]
            .iter()
            .map(OsString::from)
            .collect();
        argv.push(path.into());
        argv.extend(extra.iter().map(OsString::from));
        argv
    }

    fn summary(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("{} {} -> {} {}", c.name, c.old, c.new, c.applied))
            .collect()
    }

    #[test]
    fn changes_are_named_and_sorted_into_applied_and_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let path = dir.path().join("evserve.toml");
        let write =
            |text: &str| std::fs::write(&path, format!("root = \"{root}\"\n{text}")).unwrap();
        write("http = \"127.0.0.1:0\"\nmax-connections = 5\n");
        let mut reloader = Reloader::new(&path, argv(&path, &["--idle-timeout", "7s"])).unwrap();
        assert!(reloader.reload().unwrap().changes.is_empty());

        // The command line still wins over the file (idle-timeout), and a setting taken out
        // of the file (max-connections) goes back to its default.
        write("http = \"127.0.0.2:0\"\naccess-log = true\nidle-timeout = \"1s\"\nauth = \"a:b\"\n");
        let reloaded = reloader.reload().unwrap();
        assert_eq!(
            summary(&reloaded.changes),
            [
                "http 127.0.0.1:0 -> 127.0.0.2:0 false",
                "auth (none) -> (hidden) true",
                "max-connections 5 -> 10000 true",
                "access-log false -> true true",
            ]
        );
        assert_eq!(reloaded.config.limits.max_connections, 10_000);
        assert_eq!(reloaded.config.limits.idle_timeout.as_secs(), 7);
        // What was taken is now what runs; what waits for a restart is reported again.
        let again = reloader.reload().unwrap();
        assert_eq!(
            summary(&again.changes),
            ["http 127.0.0.1:0 -> 127.0.0.2:0 false"]
        );
    }

    #[test]
    fn a_file_refused_at_start_is_refused_on_reload_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evserve.toml");
        std::fs::write(&path, "http = \"127.0.0.1:0\"\n").unwrap();
        let mut reloader = Reloader::new(&path, argv(&path, &[])).unwrap();
        std::fs::write(&path, "http = \"127.0.0.1:0\"\nmax-conections = 5\n").unwrap();
        let e = reloader.reload().unwrap_err();
        assert!(e.contains("evserve.toml:2: unknown setting"), "{e}");
        std::fs::write(&path, "http = \"127.0.0.1:0\"\nmax-connections = 0\n").unwrap();
        let e = reloader.reload().unwrap_err();
        assert!(e.contains("--max-connections must be at least 1"), "{e}");
    }

    #[test]
    fn every_reloadable_name_is_a_serve_flag() {
        let command = Cli::command();
        let serve = command.find_subcommand("serve").unwrap();
        for name in RELOADABLE {
            assert!(
                serve.get_arguments().any(|a| a.get_long() == Some(name)),
                "{name} is not a flag of serve"
            );
        }
    }
}
