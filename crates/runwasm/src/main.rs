//! `runwasm`: parse the command line, set up logging, run one subcommand, and
//! map its error to runc's contract: one line on stderr, one `error` line in
//! the `--log` file, exit status 1.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use runwasm_runtime::logging::{self, Format};

use cli::{Cli, LogFormat};

fn main() -> ExitCode {
    runwasm_runtime::profile::init_from_env();
    runwasm_runtime::profile::mark("main");
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    if cli.version {
        let _ = std::io::Write::write_all(&mut std::io::stdout(), commands::version().as_bytes());
        return ExitCode::SUCCESS;
    }
    let format = match cli.log_format {
        LogFormat::Text => Format::Text,
        LogFormat::Json => Format::Json,
    };
    let log_to_stderr = match logging::init(cli.log.as_deref(), format, cli.debug) {
        Ok(to_stderr) => to_stderr,
        Err(e) => {
            eprintln!("runwasm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(command) = cli.command.as_ref() else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    };
    match commands::dispatch(&cli, command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = e.to_string();
            tracing::error!("{msg}");
            if !log_to_stderr {
                eprintln!("runwasm: {msg}");
            }
            ExitCode::FAILURE
        }
    }
}

/// A command line clap rejected: logged like any other failure (callers read
/// the log), except `--help`, which is not an error.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut msg = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    // "the following required arguments were not provided:" names them on
    // the next line.
    if msg.ends_with(':') {
        if let Some(next) = lines.next() {
            msg = format!("{msg} {next}");
        }
    }
    let (log, format) = scan_log_flags();
    if let Some(path) = log {
        if logging::init(Some(path.as_ref()), format, false).is_ok() {
            tracing::error!("{msg}");
        }
    }
    eprintln!("runwasm: {msg} (see runwasm --help)");
    ExitCode::FAILURE
}

/// `--log`/`--log-format` read straight from argv, for errors clap raised
/// before it could parse them.
fn scan_log_flags() -> (Option<String>, Format) {
    let args: Vec<String> = std::env::args().collect();
    let mut log = None;
    let mut format = Format::Text;
    let mut i = 0;
    while i < args.len() {
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (args[i].as_str(), None),
        };
        let value = || inline.clone().or_else(|| args.get(i + 1).cloned());
        match flag {
            "--log" => log = value(),
            "--log-format" if value().as_deref() == Some("json") => format = Format::Json,
            _ => {}
        }
        i += 1;
    }
    (log, format)
}
