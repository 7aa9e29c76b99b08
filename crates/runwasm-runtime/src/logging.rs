//! runwasm's log, in runc's formats: `--log-format json` writes one
//! `{"level","msg","time"}` object a line, `text` writes logrus-style
//! `time="…" level=… msg="…"` lines. Without `--log`, only `--debug` output
//! goes to stderr (errors are printed there by the CLI itself, once).
//!
//! A tiny `tracing` subscriber, so that libraries log through `tracing` and
//! the forked init process can switch the log off before it closes fds.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

static ENABLED: AtomicBool = AtomicBool::new(true);
static SINK: Mutex<Option<Box<dyn Write + Send>>> = Mutex::new(None);
/// The log file's descriptor, if there is one.
static LOG_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

struct LogSubscriber {
    format: Format,
    max: Level,
}

/// Sets the global logger. `path`: `--log`; `debug`: `--debug`. Returns true
/// when log lines go to stderr (so the caller does not print errors twice).
pub fn init(path: Option<&Path>, format: Format, debug: bool) -> Result<bool> {
    let sink: Option<Box<dyn Write + Send>> = match path {
        Some(p) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o644)
                .custom_flags(libc::O_CLOEXEC)
                .open(p)
                .map_err(|e| Error::path("open log file", p, e))?;
            LOG_FD.store(std::os::fd::AsRawFd::as_raw_fd(&f), Ordering::SeqCst);
            Some(Box::new(f))
        }
        None if debug => Some(Box::new(std::io::stderr())),
        None => None,
    };
    let has_sink = sink.is_some();
    let to_stderr = path.is_none() && debug;
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = sink;
    if has_sink {
        let max = if debug { Level::DEBUG } else { Level::WARN };
        // A second init (tests) keeps the first subscriber; harmless.
        let _ = tracing::subscriber::set_global_default(LogSubscriber { format, max });
    }
    Ok(to_stderr)
}

/// Stops all logging in this process (init calls it right after fork,
/// before closing inherited descriptors). Returns the log file's fd, which
/// the caller closes.
pub fn disable() -> Option<i32> {
    ENABLED.store(false, Ordering::SeqCst);
    // After fork the child is single-threaded, so the lock
    // cannot be held by anyone else.
    if let Ok(mut s) = SINK.try_lock() {
        // Leak rather than close: the fd is closed with the others, and a
        // close here could race nothing but costs a syscall.
        if let Some(w) = s.take() {
            std::mem::forget(w);
        }
    }
    let fd = LOG_FD.swap(-1, Ordering::SeqCst);
    (fd >= 0).then_some(fd)
}

struct MessageVisitor {
    msg: String,
    extra: String,
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.msg, "{value:?}");
        } else {
            let _ = write!(self.extra, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else {
            let _ = write!(self.extra, " {}={value:?}", field.name());
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// Formats one log line (with its newline).
pub fn format_line(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        Format::Json => {
            let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
            format!(
                "{{\"level\":{},\"msg\":{},\"time\":{}}}\n",
                q(level),
                q(msg),
                q(time)
            )
        }
        Format::Text => format!("time={:?} level={level} msg={:?}\n", time, msg),
    }
}

impl Subscriber for LogSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if !ENABLED.load(Ordering::Relaxed) {
            return false;
        }
        // Other crates' chatter (libcgroups warns about every controller
        // this kernel lacks) only with --debug: callers parse the log and
        // expect nothing but our own lines in it.
        let ours = metadata.target().starts_with("runwasm");
        let max = if ours {
            self.max
        } else {
            self.max.min(Level::DEBUG)
        };
        *metadata.level() <= max && (ours || self.max == Level::DEBUG)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if !ENABLED.load(Ordering::Relaxed) {
            return;
        }
        let mut v = MessageVisitor {
            msg: String::new(),
            extra: String::new(),
        };
        event.record(&mut v);
        v.msg.push_str(&v.extra);
        let line = format_line(
            self.format,
            level_name(event.metadata().level()),
            &v.msg,
            &crate::time::now_rfc3339(),
        );
        if let Ok(mut sink) = SINK.lock() {
            if let Some(w) = sink.as_mut() {
                let _ = w.write_all(line.as_bytes());
            }
        }
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_shape() {
        let l = format_line(Format::Json, "error", "a \"b\"\n", "T");
        let v: serde_json::Value = serde_json::from_str(l.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "a \"b\"\n");
        assert_eq!(v["time"], "T");
        assert!(l.ends_with("}\n") && l.matches('\n').count() == 1);
    }

    #[test]
    fn text_line_shape() {
        let l = format_line(Format::Text, "error", "x y", "T");
        assert_eq!(l, "time=\"T\" level=error msg=\"x y\"\n");
    }
}
