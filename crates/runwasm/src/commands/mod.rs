//! One file per subcommand: each parses nothing, only turns the parsed flags
//! into a call on `runwasm-runtime` and prints the result.

mod aot;
mod cgroup_ops;
mod features;
mod lifecycle;
mod list;
mod spec;

use runwasm_runtime::Result;

use crate::cli::{Cli, Command};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
const COMMIT: Option<&str> = option_env!("RUNWASM_COMMIT");

/// runc's three-line shape, which dockerd and containerd parse.
pub fn version() -> String {
    format!(
        "runwasm version {VERSION}\ncommit: {}\nspec: {}\n",
        COMMIT.unwrap_or("unknown"),
        runwasm_runtime::OCI_VERSION
    )
}

/// Runs one command; `Ok(n)` is the exit status.
pub fn dispatch(cli: &Cli, command: &Command) -> Result<u8> {
    match command {
        Command::Create(a) => lifecycle::create(cli, a),
        Command::Start(a) => lifecycle::start(cli, &a.id),
        Command::State(a) => lifecycle::state(cli, &a.id),
        Command::Kill(a) => lifecycle::kill(cli, a),
        Command::Delete(a) => lifecycle::delete(cli, a),
        Command::Run(a) => lifecycle::run(cli, a),
        Command::List(a) => list::list(cli, a),
        Command::Spec(a) => spec::spec(cli, a),
        Command::Features => features::features(),
        Command::Exec(a) => lifecycle::exec(cli, a),
        Command::Ps(a) => cgroup_ops::ps(cli, a),
        Command::Pause(a) => cgroup_ops::pause(cli, &a.id),
        Command::Resume(a) => cgroup_ops::resume(cli, &a.id),
        Command::Update(a) => cgroup_ops::update(cli, a),
        Command::Events(a) => cgroup_ops::events(cli, a),
        Command::Aot(a) => aot::aot(cli, a),
    }
}
