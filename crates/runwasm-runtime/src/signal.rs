//! Signal names and numbers as `kill` accepts them: `15`, `TERM`, `SIGTERM`
//! (case-insensitive), runc's forms.

use crate::{Error, Result};

const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Signals that would otherwise end runwasm wherever it is.
const TERMINATING: [i32; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
];

/// Blocks the terminating signals for the rest of this process's life, as
/// runc's `create` catches every signal (and drops them when it detaches):
/// a `create` or `exec` is never cut short half-way by SIGTERM or Ctrl-C,
/// it finishes (or fails and cleans up) and exits. What stays pending is
/// discarded at exit, or read from a signalfd by a foreground `run`/`exec`
/// and forwarded to the container. Processes runwasm forks reset their
/// mask (init, exec helpers, `std::process::Command` children).
pub fn defer_termination() {
    // SAFETY: building a sigset and blocking it for this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in TERMINATING {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Parses `15`, `TERM`, `SIGTERM`, `sigterm`, `RTMIN+3`.
pub fn parse(s: &str) -> Result<i32> {
    let unknown = || Error::other(format!("unknown signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        // 0 checks that the process exists, as kill(2) and runc allow.
        return if (0..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(unknown())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = SIGNALS.iter().find(|(k, _)| *k == name) {
        return Ok(n);
    }
    let rt = |base: i32, off: &str| -> Option<i32> {
        let off: i32 = if off.is_empty() { 0 } else { off.parse().ok()? };
        let n = base.checked_add(off)?;
        (libc::SIGRTMIN()..=libc::SIGRTMAX())
            .contains(&n)
            .then_some(n)
    };
    if let Some(off) = name.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), off.trim_start_matches('+')).ok_or_else(unknown);
    }
    if let Some(off) = name.strip_prefix("RTMAX") {
        if let Some(off) = off.strip_prefix('-') {
            let off: i32 = off.parse().map_err(|_| unknown())?;
            return rt(libc::SIGRTMAX(), &(-off).to_string()).ok_or_else(unknown);
        }
        return rt(libc::SIGRTMAX(), off).ok_or_else(unknown);
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_runc_forms() {
        for s in ["15", "TERM", "SIGTERM", "sigterm", "term"] {
            assert_eq!(parse(s).unwrap(), libc::SIGTERM, "{s}");
        }
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("RTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert_eq!(parse("SIGRTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
    }

    #[test]
    fn rejects_unknown() {
        for s in [
            "FOO",
            "-1",
            "99",
            "SIG",
            "",
            "RTMIN+99",
            "RTMIN+2147483647",
            "RTMAX-2147483647",
        ] {
            let e = parse(s).unwrap_err().to_string();
            assert!(e.contains("unknown signal"), "{s}: {e}");
        }
    }
}
