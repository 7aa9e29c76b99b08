//! create, start, state, kill, delete, run.

use std::io::Write;

use runwasm_runtime::container::{self, Container, CreateOptions};
use runwasm_runtime::state::StateStore;
use runwasm_runtime::{signal, Error, Result};

use crate::cli::{Cli, CreateArgs, CreateFlags, DeleteArgs, ExecArgs, KillArgs, RunArgs};

fn create_options(cli: &Cli, id: &str, f: &CreateFlags) -> CreateOptions {
    CreateOptions {
        id: id.to_string(),
        bundle: f.bundle.clone(),
        pid_file: f.pid_file.clone(),
        console_socket: f.console_socket.clone(),
        preserve_fds: f.preserve_fds,
        pidfd_socket: f.pidfd_socket.clone(),
        no_pivot: f.no_pivot,
        no_new_keyring: f.no_new_keyring,
        systemd_cgroup: cli.systemd_cgroup,
        aot: super::aot::settings(cli).unwrap_or_default(),
    }
}

pub fn create(cli: &Cli, a: &CreateArgs) -> Result<u8> {
    // SIGTERM or Ctrl-C do not cut a create short (runc's behaviour).
    signal::defer_termination();
    super::aot::settings(cli)?;
    let store = StateStore::open(&cli.root)?;
    container::create(&store, &create_options(cli, &a.id, &a.opts))?;
    Ok(0)
}

pub fn start(cli: &Cli, id: &str) -> Result<u8> {
    container::start(&StateStore::existing(&cli.root), id)?;
    Ok(0)
}

pub fn state(cli: &Cli, id: &str) -> Result<u8> {
    let c = Container::peek(&StateStore::existing(&cli.root), id)?;
    let json = serde_json::to_string_pretty(&c.oci_state(String::new()))
        .map_err(|e| Error::other(e.to_string()))?;
    println_out(&json)
}

pub fn kill(cli: &Cli, a: &KillArgs) -> Result<u8> {
    let sig = signal::parse(&a.signal)?;
    container::kill(&StateStore::existing(&cli.root), &a.id, sig, a.all)?;
    Ok(0)
}

pub fn delete(cli: &Cli, a: &DeleteArgs) -> Result<u8> {
    container::delete(&StateStore::existing(&cli.root), &a.id, a.force)?;
    Ok(0)
}

pub fn run(cli: &Cli, a: &RunArgs) -> Result<u8> {
    super::aot::settings(cli)?;
    let store = StateStore::open(&cli.root)?;
    let code = container::run(
        &store,
        &create_options(cli, &a.id, &a.opts),
        a.detach,
        a.keep,
    )?;
    Ok(code as u8)
}

pub fn exec(cli: &Cli, a: &ExecArgs) -> Result<u8> {
    // Not cut short either; in the foreground, what arrived meanwhile is
    // forwarded to the process once it runs.
    signal::defer_termination();
    let opts = container::ExecOptions {
        id: a.id.clone(),
        process: a.process.clone(),
        args: a.command.clone(),
        env: a.env.clone(),
        cwd: a.cwd.clone(),
        tty: a.tty,
        user: a.user.clone(),
        additional_gids: a.additional_gids.clone(),
        caps: a.caps.clone(),
        no_new_privs: a.no_new_privs,
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        aot: super::aot::settings(cli)?,
    };
    let code = container::exec(&StateStore::existing(&cli.root), &opts)?;
    Ok(code as u8)
}

/// Prints a line to stdout; a closed stdout is not worth a panic.
pub fn println_out(s: &str) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").map_err(|e| Error::io("write to stdout", e))?;
    Ok(0)
}
