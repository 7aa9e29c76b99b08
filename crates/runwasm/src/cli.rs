//! The command line, mirroring runc's: the same global flags, subcommands
//! and per-command flags that containerd's shim, conmon and Docker pass.
//! Options may come before or after the container id.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "runwasm",
    about = "A runc-compatible OCI runtime whose containers run WebAssembly modules in WasmEdge",
    disable_version_flag = true
)]
pub struct Cli {
    /// Root directory for container state (tmpfs recommended).
    #[arg(
        long,
        global = true,
        default_value = "/run/runwasm",
        value_name = "DIR"
    )]
    pub root: PathBuf,
    /// Log file (default: errors go to stderr only).
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
    /// Log debug output.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (linux.cgroupsPath as slice:prefix:name).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (accepted for compatibility).
    #[arg(long, global = true, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Path to criu (accepted for compatibility; checkpointing is not supported).
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub criu: Option<PathBuf>,
    /// AOT policy: auto, always or never (env RUNWASM_AOT; a container's
    /// io.github.runwasm.aot annotation overrides it).
    #[arg(long, global = true, env = "RUNWASM_AOT", value_name = "POLICY")]
    pub aot: Option<String>,
    /// AOT cache directory (env RUNWASM_AOT_CACHE).
    #[arg(long, global = true, env = "RUNWASM_AOT_CACHE", value_name = "DIR")]
    pub aot_cache: Option<PathBuf>,
    /// Bound on the AOT cache's size (e.g. 1g, 512m); least recently used
    /// entries are evicted past it.
    #[arg(long, global = true, value_name = "SIZE")]
    pub aot_cache_max: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container (its init waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start(IdArg),
    /// Print the state of a container as JSON.
    State(IdArg),
    /// Send a signal to a container's init (default SIGTERM).
    Kill(KillArgs),
    /// Delete a container and everything it made.
    Delete(DeleteArgs),
    /// Create and start a container, wait for it, and delete it.
    Run(RunArgs),
    /// List containers.
    List(ListArgs),
    /// Write a default config.json.
    Spec(SpecArgs),
    /// Print what this runtime supports, as runtime-spec features JSON.
    Features,
    /// Run a process inside a running container (Wasm or native).
    Exec(ExecArgs),
    /// List the processes of a container.
    Ps(PsArgs),
    /// Suspend every process of a container (freezer).
    Pause(IdArg),
    /// Resume a paused container.
    Resume(IdArg),
    /// Change a container's resource limits while it runs.
    Update(UpdateArgs),
    /// Print a container's resource statistics.
    Events(EventsArgs),
    /// The AOT cache: precompile modules, list or prune entries.
    #[command(subcommand)]
    Aot(AotCommand),
}

#[derive(Debug, Subcommand)]
pub enum AotCommand {
    /// Compile Wasm modules into the AOT cache ahead of time.
    Compile {
        /// Module files (.wasm).
        #[arg(required = true)]
        modules: Vec<PathBuf>,
    },
    /// List the cache's entries (least recently used first).
    Ls {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Evict entries: all of them, or down to --aot-cache-max.
    Prune {
        /// Remove every entry.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A full OCI process JSON.
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for compatibility with runc (no pidfd is sent for exec yet).
    #[arg(long, value_name = "PATH", hide = true)]
    pub pidfd_socket: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// KEY=VALUE added to the process environment.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// UID[:GID].
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability to every set.
    #[arg(short, long = "cap")]
    pub caps: Vec<String>,
    #[arg(long)]
    pub no_new_privs: bool,
    /// Return once the process has started.
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
    /// Accepted for compatibility (no LSM labels on this host).
    #[arg(long, hide = true)]
    pub process_label: Option<String>,
    #[arg(long, hide = true)]
    pub apparmor: Option<String>,
    #[arg(long, hide = true)]
    pub ignore_paused: bool,
    #[arg(long, hide = true)]
    pub cgroup: Option<String>,
    pub id: String,
    /// The command and its arguments (after `--` if they start with `-`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: ListFormat,
    pub id: String,
    /// Options for ps(1) in table format (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print one stats object and exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats objects (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub id: String,
    /// LinuxResources JSON from a file, or - for stdin.
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<String>,
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long, alias = "cpu-share")]
    pub cpu_shares: Option<u64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Accepted for compatibility (kernel memory limits are deprecated).
    #[arg(long, hide = true)]
    pub kernel_memory: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
}

#[derive(Debug, Args)]
pub struct IdArg {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    pub id: String,
    #[command(flatten)]
    pub opts: CreateFlags,
}

#[derive(Debug, Args, Clone)]
pub struct CreateFlags {
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master (process.terminal).
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the init process's pid here.
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root to enter the rootfs.
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: i32,
    /// Unix socket that receives a pidfd of the init process.
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container.
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// A number (15), a name (TERM) or SIGTERM.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container first if it is running.
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub id: String,
    #[command(flatten)]
    pub opts: CreateFlags,
    /// Return once the container has started.
    #[arg(short, long)]
    pub detach: bool,
    /// Do not delete the container after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Accepted for compatibility with runc.
    #[arg(long)]
    pub no_subreaper: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Directory to write config.json into.
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
}
