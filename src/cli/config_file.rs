//! `serve --config FILE`: the flags of `evserve serve`, written in a TOML file.
//!
//! A setting is a flag's long name without its dashes, and its value is what the flag takes:
//!
//! ```toml
//! http = ["0.0.0.0:8080", "[::]:8080"]   # a repeatable flag takes a list (or one value)
//! root = "/srv/www"
//! max-connections = 20000                # numbers may be bare
//! idle-timeout = "1m"
//! access-log = true                      # a switch: true gives it, false leaves it out
//! tcp-nodelay = false                    # ... or, where one exists, gives --no-tcp-nodelay
//! ```
//!
//! The file becomes flags placed before those of the command line, and the whole is parsed by
//! the same parser, so the file and the command line accept the same values, are checked by
//! the same rules and fail with the same messages; a message about a value says the file and
//! the line it came from. A flag given on the command line replaces the file's setting of it
//! (for a repeatable flag, the command line's list replaces the file's list). An unknown
//! setting is an error, with the nearest known name as a suggestion.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory};

use super::Cli;

/// A setting the file may not hold: it would make no sense read from a file.
const NOT_IN_FILE: [&str; 2] = ["config", "help"];

/// What went wrong with a configuration file: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The line the problem is on (1-based), when it is on one.
    pub line: Option<usize>,
    /// What is wrong, and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// One setting of the file, turned into flags.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    /// The flag's id in the parser (to tell whether the command line also gave it).
    id: String,
    /// The flags and values it stands for, e.g. `--http A --http B`.
    args: Vec<OsString>,
}

/// A configuration file, read and checked setting by setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    path: PathBuf,
    settings: Vec<Setting>,
}

impl ConfigFile {
    /// Reads `path` and checks every setting's name and value.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            line: None,
            message: format!("cannot read the configuration file: {e}"),
        })?;
        ConfigFile::parse(path, &text)
    }

    /// Checks the settings of `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        let error = |line, message| ConfigError {
            path: path.to_owned(),
            line,
            message,
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|span| line_of(text, span.start));
            error(line, format!("not valid TOML: {}", e.message()))
        })?;
        let mut command = Cli::command();
        command.build();
        let serve = command
            .find_subcommand("serve")
            .expect("evserve has a serve subcommand");
        let mut settings = Vec::new();
        for (key, value) in &table {
            let line = Some(line_of_key(text, key));
            let setting = setting(serve, key, value).map_err(|message| error(line, message))?;
            settings.push(setting);
        }
        Ok(ConfigFile {
            path: path.to_owned(),
            settings,
        })
    }

    /// The command line `argv` (`evserve ... serve ...`) with the file's settings put before
    /// the serve flags, leaving out those the command line gives itself.
    pub fn merge(&self, argv: &[OsString]) -> Vec<OsString> {
        let at = argv
            .iter()
            .position(|a| a == "serve")
            .map_or(argv.len(), |i| i + 1);
        let given = Cli::command().try_get_matches_from(argv).ok();
        let from_command_line = |id: &str| {
            given
                .as_ref()
                .and_then(|m| m.subcommand_matches("serve"))
                .and_then(|m| m.value_source(id))
                == Some(ValueSource::CommandLine)
        };
        let mut merged = argv[..at].to_vec();
        for setting in &self.settings {
            if !from_command_line(&setting.id) {
                merged.extend(setting.args.iter().cloned());
            }
        }
        merged.extend(argv[at..].iter().cloned());
        merged
    }

    /// How many settings it holds.
    pub fn len(&self) -> usize {
        self.settings.len()
    }
}

/// The flags that setting `key = value` stands for, checked by the flag's own parser.
fn setting(serve: &clap::Command, key: &str, value: &toml::Value) -> Result<Setting, String> {
    if NOT_IN_FILE.contains(&key) {
        return Err(format!("`{key}` cannot be set in a configuration file"));
    }
    let Some(arg) = serve
        .get_arguments()
        .find(|a| a.get_long() == Some(key) && !a.is_hide_set())
    else {
        return Err(unknown(serve, key));
    };
    let id = arg.get_id().as_str().to_owned();
    let flag = OsString::from(format!("--{key}"));
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        let toml::Value::Boolean(on) = value else {
            return Err(format!(
                "`{key}` is a switch: write {key} = true or {key} = false"
            ));
        };
        let negation = format!("no-{key}");
        let args = if *on {
            vec![flag]
        } else if serve
            .get_arguments()
            .any(|a| a.get_long() == Some(negation.as_str()))
        {
            vec![OsString::from(format!("--{negation}"))]
        } else {
            Vec::new()
        };
        return Ok(Setting { id, args });
    }
    let repeatable = matches!(arg.get_action(), ArgAction::Append);
    let values: Vec<&toml::Value> = match value {
        toml::Value::Array(list) if repeatable => list.iter().collect(),
        toml::Value::Array(_) => {
            return Err(format!("`{key}` takes one value, not a list"));
        }
        one => vec![one],
    };
    let mut args = Vec::with_capacity(values.len() * 2);
    for value in values {
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(format!(
                    "`{key}` takes a string or a number (sections and tables are not used)"
                ));
            }
        };
        check_value(serve, &flag, &text)?;
        args.push(flag.clone());
        args.push(OsString::from(text));
    }
    Ok(Setting { id, args })
}

/// Runs the flag's own parser on `value` (with the flag alone on a command line, so only
/// rules between flags, which the whole command line checks later, are left out).
fn check_value(serve: &clap::Command, flag: &OsStr, value: &str) -> Result<(), String> {
    let argv = [OsStr::new("serve"), flag, OsStr::new(value)];
    match serve.clone().try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::MissingRequiredArgument | ErrorKind::ArgumentConflict
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(clap_message(&e)),
    }
}

/// "unknown setting", with the nearest name a person may have meant.
fn unknown(serve: &clap::Command, key: &str) -> String {
    let nearest = serve
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .filter(|name| !NOT_IN_FILE.contains(name))
        .map(|name| (distance(key, name), name))
        .min();
    match nearest {
        Some((d, name)) if d <= 2.max(key.len() / 4) => {
            format!("unknown setting `{key}`; did you mean `{name}`?")
        }
        _ => format!("unknown setting `{key}` (`evserve serve --help` lists them all)"),
    }
}

/// The first line of clap's message, without its `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// The Levenshtein distance between two short names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line where `key` is set (the first line that starts with it, bare or quoted).
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let rest = line
                .strip_prefix(key)
                .or_else(|| line.strip_prefix(&format!("\"{key}\"")));
            rest.is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(Path::new("evserve.toml"), text)
    }

    fn args(file: &ConfigFile, argv: &[&str]) -> Vec<String> {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        file.merge(&argv)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn settings_become_flags_before_the_command_line() {
        let file = parse(
            "http = [\"127.0.0.1:8080\", \"127.0.0.1:8081\"]\nmax-connections = 500\n\
             access-log = true\ntcp-nodelay = false\nwritable = false\n",
        )
        .unwrap();
        assert_eq!(file.len(), 5);
        assert_eq!(
            args(&file, &["evserve", "serve", "--echo", "127.0.0.1:7"]),
            [
                "evserve",
                "serve",
                "--access-log",
                "true",
                "--http",
                "127.0.0.1:8080",
                "--http",
                "127.0.0.1:8081",
                "--max-connections",
                "500",
                "--tcp-nodelay",
                "false",
                "--echo",
                "127.0.0.1:7"
            ]
        );
    }

    #[test]
    fn the_command_line_replaces_what_the_file_sets() {
        let file = parse("http = [\"127.0.0.1:8080\"]\nmax-connections = 500\n").unwrap();
        let merged = args(
            &file,
            &[
                "evserve",
                "serve",
                "--http",
                "127.0.0.1:9",
                "--max-connections",
                "7",
            ],
        );
        assert_eq!(
            merged,
            [
                "evserve",
                "serve",
                "--http",
                "127.0.0.1:9",
                "--max-connections",
                "7"
            ]
        );
        let cli = <Cli as clap::Parser>::try_parse_from(&merged);
        assert!(cli.is_ok(), "{cli:?}");
    }

    #[test]
    fn a_bad_value_names_the_file_the_line_and_the_parser_s_reason() {
        let err = parse("# comment\nroot = \".\"\n\nidle-timeout = \"5x\"\n").unwrap_err();
        assert_eq!(err.line, Some(4));
        let text = err.to_string();
        assert!(text.starts_with("evserve.toml:4: "), "{text}");
        assert!(text.contains("'5x' has an unknown unit"), "{text}");
    }

    #[test]
    fn unknown_settings_suggest_the_nearest_name() {
        let err = parse("max-conections = 5\n").unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(
            err.message.contains("did you mean `max-connections`?"),
            "{}",
            err.message
        );
        let err = parse("zzzzzzzzzzzz = 1\n").unwrap_err();
        assert!(err.message.contains("serve --help"), "{}", err.message);
    }

    #[test]
    fn shapes_that_cannot_be_flags_are_refused() {
        let switch = parse("reuse-port = \"yes\"\n").unwrap_err();
        assert!(switch.message.contains("is a switch"), "{}", switch.message);
        let boolean = parse("access-log = \"yes\"\n").unwrap_err();
        assert!(
            boolean.message.contains("invalid value 'yes'"),
            "{}",
            boolean.message
        );
        let list = parse("root = [\"a\", \"b\"]\n").unwrap_err();
        assert!(list.message.contains("one value"), "{}", list.message);
        let table = parse("[http]\nport = 1\n").unwrap_err();
        assert!(table.message.contains("sections"), "{}", table.message);
        let config = parse("config = \"other.toml\"\n").unwrap_err();
        assert!(
            config.message.contains("cannot be set"),
            "{}",
            config.message
        );
        let toml = parse("http = \n").unwrap_err();
        assert!(
            toml.message.starts_with("not valid TOML"),
            "{}",
            toml.message
        );
        assert_eq!(toml.line, Some(1));
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }
}
