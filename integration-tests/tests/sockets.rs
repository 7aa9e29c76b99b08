//! WASI sockets: Wasm modules serving and calling TCP through WasmEdge's
//! socket extension of `wasi_snapshot_preview1` (docs/wasi-sockets.md).
//!
//! `http_hello` (modules/http_hello.c) is the "Hello from Wasm!" HTTP
//! microservice; `tcp_client` (modules/tcp_client.c) connects, sends a line
//! and prints the reply. They are exercised in the host's network namespace,
//! in a namespace made with `ip netns add` and joined by path, and in a new
//! one made by runwasm; the test reaches a namespace's loopback from a
//! helper thread that `setns`es into it. Only loopback addresses are used.

mod common;

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const SEC: Duration = Duration::from_secs(1);

/// Connect, read and write timeout of the test's own sockets.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn http_hello_serves_in_the_host_network_namespace() {
    let Some(env) = TestEnv::new("sock_http_host") else {
        return;
    };
    let port = free_port();
    let b = http_bundle(&env, port, Some(2)).namespaces(&["mount", "pid", "ipc", "uts"]);
    let id = env.id("srv");
    let srv = start_server(&env, &id, &b, port);
    assert_eq!(
        ns_link(srv.pid, "net"),
        ns_link(0, "net"),
        "without a network namespace in config.json the module is in the host's"
    );

    for path in ["/", "/hello"] {
        let resp = http_get(loopback(port), path)
            .unwrap_or_else(|e| panic!("GET {path} from 127.0.0.1:{port}: {e}\n{srv}"));
        assert_http_hello(&resp, &srv);
    }

    // Two requests served: the module returns from main.
    assert!(
        wait_pid_exit(srv.pid, 5 * SEC),
        "http_hello did not exit after its 2 requests\n{srv}"
    );
    assert!(env.wait_status(&id, "stopped", 5 * SEC), "{srv}");
    let lines: Vec<String> = srv.stdout().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{srv}");
    assert_eq!(lines[0], format!("listening on 0.0.0.0:{port}"), "{srv}");
    for (i, path) in [(1, "/"), (2, "/hello")] {
        let line = &lines[i];
        assert!(
            line.starts_with(&format!("request {i} from 127.0.0.1:"))
                && line.ends_with(&format!(": GET {path} HTTP/1.1")),
            "sock_getpeeraddr / the request line: {line:?}\n{srv}"
        );
    }
    assert_eq!(srv.stderr(), "", "{srv}");
    env.run(&["delete", id.as_str()]).assert_ok();
    assert!(
        refused(loopback(port)),
        "port {port} still accepts connections after the container is gone"
    );
}

#[test]
fn http_hello_serves_in_a_network_namespace_joined_by_path() {
    let Some(env) = TestEnv::new("sock_http_netns") else {
        return;
    };
    let ns = NetNs::add("http");
    let port = free_port();
    let b = http_bundle(&env, port, Some(1)).edit(|c| {
        c["linux"]["namespaces"] = json!([
            { "type": "mount" },
            { "type": "pid" },
            { "type": "network", "path": path_str(&ns.path()) }
        ]);
    });
    let id = env.id("srv");
    let srv = start_server(&env, &id, &b, port);
    assert_eq!(
        ns_link(srv.pid, "net"),
        format!("net:[{}]", ns.inode()),
        "the container must join {}",
        ns.path().display()
    );

    // The server listens on the namespace's 0.0.0.0, not the host's.
    assert!(
        refused(loopback(port)),
        "port {port} of the host's loopback answers, but the server is in {}\n{srv}",
        ns.path().display()
    );
    let resp = in_netns(&ns.path(), || http_get(loopback(port), "/"))
        .unwrap_or_else(|e| panic!("GET / from 127.0.0.1:{port} in {}: {e}\n{srv}", ns.name));
    assert_http_hello(&resp, &srv);

    assert!(wait_pid_exit(srv.pid, 5 * SEC), "{srv}");
    assert!(srv.stdout().contains("request 1 from 127.0.0.1:"), "{srv}");
    env.run(&["delete", id.as_str()]).assert_ok();
}

#[test]
fn http_hello_serves_in_a_new_network_namespace() {
    let Some(env) = TestEnv::new("sock_http_newns") else {
        return;
    };
    let port = free_port();
    let b = http_bundle(&env, port, Some(1)).namespaces(&["mount", "pid", "network"]);
    let id = env.id("srv");
    let srv = start_server(&env, &id, &b, port);
    assert_ne!(ns_link(srv.pid, "net"), ns_link(0, "net"));

    // A new namespace's lo is down (as with runc): name the namespace and
    // bring lo up from outside, then connect from inside.
    let ns = NetNs::attach("newns", srv.pid);
    let resp = in_netns(&ns.path(), || http_get(loopback(port), "/"))
        .unwrap_or_else(|e| panic!("GET / from 127.0.0.1:{port} in {}: {e}\n{srv}", ns.name));
    assert_http_hello(&resp, &srv);
    assert!(wait_pid_exit(srv.pid, 5 * SEC), "{srv}");
    env.run(&["delete", id.as_str()]).assert_ok();
}

#[test]
fn tcp_client_exchanges_a_line_with_a_host_listener() {
    let Some(env) = TestEnv::new("sock_client_host") else {
        return;
    };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || echo_one_line(&listener));

    let b = client_bundle(&env, port, "hello from wasm").namespaces(&["mount", "pid"]);
    let id = env.id("cli");
    let out = env.run(&["run", "--bundle", path_str(&b.dir), id.as_str()]);
    let got = peer.join().expect("listener thread");
    assert_eq!(out.code(), 0, "{out}\nlistener: {got:?}");
    assert_eq!(
        out.stdout,
        format!("connected to 127.0.0.1:{port}\nreply: echo: hello from wasm\n"),
        "{out}"
    );
    assert_eq!(out.stderr, "", "{out}");
    assert_eq!(got.as_deref(), Ok("hello from wasm"), "{out}");
}

#[test]
fn tcp_client_in_a_network_namespace_reaches_a_listener_there() {
    let Some(env) = TestEnv::new("sock_client_netns") else {
        return;
    };
    let ns = NetNs::add("client");
    let listener = in_netns(&ns.path(), || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .expect("bind 127.0.0.1:0 in the namespace");
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || echo_one_line(&listener));

    let b = client_bundle(&env, port, "ping").edit(|c| {
        c["linux"]["namespaces"] = json!([
            { "type": "mount" },
            { "type": "network", "path": path_str(&ns.path()) }
        ]);
    });
    let id = env.id("cli");
    let out = env.run(&["run", "--bundle", path_str(&b.dir), id.as_str()]);
    let got = peer.join().expect("listener thread");
    assert_eq!(out.code(), 0, "{out}\nlistener: {got:?}");
    assert_eq!(
        out.stdout,
        format!("connected to 127.0.0.1:{port}\nreply: echo: ping\n"),
        "{out}"
    );
    assert_eq!(got.as_deref(), Ok("ping"), "{out}");
}

#[test]
fn tcp_client_reports_a_refused_connection() {
    let Some(env) = TestEnv::new("sock_client_refused") else {
        return;
    };
    let port = free_port();
    let b = client_bundle(&env, port, "nobody there");
    let id = env.id("cli");
    let out = env.run(&["run", "--bundle", path_str(&b.dir), id.as_str()]);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(out.stdout, "", "{out}");
    // WASI errno 14 is ECONNREFUSED.
    assert_eq!(out.stderr, "tcp_client: sock_connect: errno 14\n", "{out}");
}

#[test]
fn http_hello_reports_a_port_in_use() {
    let Some(env) = TestEnv::new("sock_http_inuse") else {
        return;
    };
    let taken = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind 0.0.0.0:0");
    let port = taken.local_addr().unwrap().port();
    let b = http_bundle(&env, port, Some(1));
    let id = env.id("srv");
    let out = env.run(&["run", "--bundle", path_str(&b.dir), id.as_str()]);
    assert_eq!(out.code(), 1, "{out}");
    // WASI errno 3 is EADDRINUSE.
    assert_eq!(out.stderr, "http_hello: sock_bind: errno 3\n", "{out}");
    drop(taken);
}

#[test]
fn a_serving_module_stops_at_once_on_sigterm() {
    let Some(env) = TestEnv::new("sock_http_term") else {
        return;
    };
    let port = free_port();
    // No request limit: the module serves until it is stopped.
    let b = http_bundle(&env, port, None).namespaces(&["mount", "pid"]);
    let id = env.id("srv");
    let mut bg = env.spawn_run(&id, &b);
    let ready = format!("listening on 0.0.0.0:{port}\n");
    assert!(
        wait_file_contains(&bg.stdout, &ready, 5 * SEC),
        "http_hello did not start: stdout {:?} stderr {:?}",
        bg.stdout_now(),
        bg.stderr_now()
    );
    let resp = http_get(loopback(port), "/").unwrap_or_else(|e| {
        panic!(
            "GET /: {e}\nstdout {:?} stderr {:?}",
            bg.stdout_now(),
            bg.stderr_now()
        )
    });
    assert_http_hello(&resp, &bg.stdout_now());

    // Blocked in sock_accept, a host call: SIGTERM still ends it at once.
    let sent = Instant::now();
    env.run(&["kill", id.as_str(), "TERM"]).assert_ok();
    let out = bg.wait_timeout(2 * SEC).unwrap_or_else(|| {
        panic!(
            "run did not end within 2 s of SIGTERM:\n{}",
            bg.kill_and_collect()
        )
    });
    assert_eq!(out.code(), 128 + libc::SIGTERM, "{out}");
    assert!(sent.elapsed() < 2 * SEC, "{:?}\n{out}", sent.elapsed());
    assert!(
        refused(loopback(port)),
        "port {port} still open after the stop"
    );
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A port no socket of the host's network namespace is bound to right now.
/// A bundle running `/http_hello.wasm PORT [N]`.
fn http_bundle(env: &TestEnv, port: u16, requests: Option<u32>) -> Bundle {
    let port = port.to_string();
    let mut args = vec!["/http_hello.wasm".to_string(), port];
    if let Some(n) = requests {
        args.push(n.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.bundle("http_hello")
        .module_at("/http_hello.wasm")
        .args(&args)
}

/// A bundle running `/tcp_client.wasm PORT MESSAGE`.
fn client_bundle(env: &TestEnv, port: u16, message: &str) -> Bundle {
    let port = port.to_string();
    env.bundle("tcp_client")
        .module_at("/tcp_client.wasm")
        .args(&["/tcp_client.wasm", port.as_str(), message])
}

/// A server container started with `run --detach`.
struct Server {
    pid: i32,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Server {
    fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "server pid {}: stdout {:?} stderr {:?}",
            self.pid,
            self.stdout(),
            self.stderr()
        )
    }
}

/// `run --detach --pid-file P --bundle B ID`, then waits until the module
/// prints that it listens on `port`.
#[track_caller]
fn start_server(env: &TestEnv, id: &str, b: &Bundle, port: u16) -> Server {
    let pid_file = env.tmp().join(format!("{id}.pid"));
    let rw = env.rw(&[
        "run",
        "--detach",
        "--pid-file",
        path_str(&pid_file),
        "--bundle",
        path_str(&b.dir),
        id,
    ]);
    let stdout = rw.stdout.clone();
    let stderr = rw.stderr.clone();
    let out = rw.run();
    out.assert_ok();
    let srv = Server {
        pid: read_pid_file(&pid_file),
        stdout,
        stderr,
    };
    let ready = format!("listening on 0.0.0.0:{port}\n");
    assert!(
        wait_file_contains(&srv.stdout, &ready, 5 * SEC),
        "http_hello never listened\n{srv}\n{out}"
    );
    srv
}

/// Accepts one connection (within [`CMD_TIMEOUT`]), reads one line, answers
/// `echo: LINE\n` and closes; returns the line.
fn echo_one_line(listener: &TcpListener) -> Result<String, String> {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("set_nonblocking: {e}"))?;
    let deadline = Instant::now() + CMD_TIMEOUT;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(format!("no connection within {CMD_TIMEOUT:?}"));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    let setup = || -> io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))
    };
    setup().map_err(|e| format!("socket setup: {e}"))?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| format!("read: {e}"))?;
    let line = line.trim_end_matches('\n').to_string();
    (&stream)
        .write_all(format!("echo: {line}\n").as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    Ok(line)
}

/// Runs `f` on a thread that first joins the network namespace `ns`
/// (`setns(CLONE_NEWNET)` affects only the calling thread, which ends with
/// `f`); sockets made by `f` stay in that namespace.
#[track_caller]
fn in_netns<T: Send>(ns: &Path, f: impl FnOnce() -> T + Send) -> T {
    let file = File::open(ns).unwrap_or_else(|e| panic!("open {}: {e}", ns.display()));
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns(2) has no memory-safety preconditions; the fd is
            // open for the duration of the call.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "setns({}, CLONE_NEWNET): {}",
                ns.display(),
                io::Error::last_os_error()
            );
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// A named network namespace (`/var/run/netns/NAME`) with `lo` up, deleted
/// with `ip netns delete` on drop (the namespace itself lives on while a
/// process is in it).
struct NetNs {
    name: String,
}

impl NetNs {
    /// A new namespace: `ip netns add`.
    fn add(tag: &str) -> NetNs {
        let ns = NetNs::named(tag);
        ip(&["netns", "add", &ns.name]).unwrap_or_else(|e| panic!("{e}"));
        ns.lo_up()
    }

    /// The namespace of process `pid`, named: `ip netns attach`.
    fn attach(tag: &str, pid: i32) -> NetNs {
        let ns = NetNs::named(tag);
        ip(&["netns", "attach", &ns.name, &pid.to_string()]).unwrap_or_else(|e| panic!("{e}"));
        ns.lo_up()
    }

    fn named(tag: &str) -> NetNs {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        NetNs {
            name: format!("rwit-{}-{n}-{tag}", std::process::id()),
        }
    }

    fn lo_up(self) -> NetNs {
        ip(&["-n", &self.name, "link", "set", "lo", "up"]).unwrap_or_else(|e| panic!("{e}"));
        self
    }

    fn path(&self) -> PathBuf {
        Path::new("/var/run/netns").join(&self.name)
    }

    /// The namespace's inode, as in `/proc/PID/ns/net` (`net:[INODE]`).
    fn inode(&self) -> u64 {
        fs::metadata(self.path())
            .unwrap_or_else(|e| panic!("stat {}: {e}", self.path().display()))
            .ino()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if self.path().exists() {
            if let Err(e) = ip(&["netns", "delete", &self.name]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// Runs `ip ARGS` (iproute2), killing it after 5 s; Err with its output
/// unless it exits 0.
fn ip(args: &[&str]) -> Result<(), String> {
    let what = format!("ip {}", args.join(" "));
    let mut child = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{what}` (iproute2 is needed): {e}"))?;
    let mut status = None;
    wait_until(5 * SEC, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("`{what}` did not finish within 5 s"));
    };
    if status.success() {
        return Ok(());
    }
    // The child has exited: the pipe holds all it wrote (a few lines).
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    Err(format!("`{what}` failed ({status}): {}", err.trim()))
}
