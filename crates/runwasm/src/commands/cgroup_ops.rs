//! ps, pause, resume, update, events.

use std::io::Read;
use std::time::Duration;

use runwasm_runtime::container::ops;
use runwasm_runtime::state::StateStore;
use runwasm_runtime::{Error, Result};
use serde_json::{json, Map, Value};

use super::lifecycle::println_out;
use crate::cli::{Cli, EventsArgs, ListFormat, PsArgs, UpdateArgs};

fn store(cli: &Cli) -> StateStore {
    StateStore::existing(&cli.root)
}

/// `ps`: JSON is only the array of host pids; the table is ps(1)'s output
/// (default `-ef`) cut to the container's processes, as runc does.
pub fn ps(cli: &Cli, a: &PsArgs) -> Result<u8> {
    let pids = ops::pids(&store(cli), &a.id)?;
    if a.format == ListFormat::Json {
        return println_out(
            &serde_json::to_string(&pids).map_err(|e| Error::other(e.to_string()))?,
        );
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::other(format!("run ps {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(Error::other(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::other("ps output has no PID column"))?;
    let mut shown = vec![header.to_string()];
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            shown.push(line.to_string());
        }
    }
    println_out(&shown.join("\n"))
}

pub fn pause(cli: &Cli, id: &str) -> Result<u8> {
    ops::pause(&store(cli), id)?;
    Ok(0)
}

pub fn resume(cli: &Cli, id: &str) -> Result<u8> {
    ops::resume(&store(cli), id)?;
    Ok(0)
}

/// Bytes from `128m`, `1g`, `512k`, `4096`, or -1.
pub fn bytes(flag: &str, s: &str) -> Result<i64> {
    let bad = || Error::other(format!("--{flag}: invalid size {s:?}"));
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as i64)
}

/// `update`: `--resources FILE|-` (LinuxResources JSON) with runc's
/// single-value flags laid over it.
pub fn update(cli: &Cli, a: &UpdateArgs) -> Result<u8> {
    let mut res: Value = match a.resources.as_deref() {
        None => json!({}),
        Some(src) => {
            let mut text = String::new();
            if src == "-" {
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| Error::io("read resources from stdin", e))?;
            } else {
                text = std::fs::read_to_string(src)
                    .map_err(|e| Error::path("read", std::path::Path::new(src), e))?;
            }
            serde_json::from_str(&text)
                .map_err(|e| Error::other(format!("--resources {src}: invalid JSON: {e}")))?
        }
    };
    if !res.is_object() {
        return Err(Error::other(
            "--resources: must be a JSON object (LinuxResources)",
        ));
    }
    let mut set = |section: &str, key: &str, v: Value| {
        let obj = res.as_object_mut().expect("object");
        let sec = obj
            .entry(section)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = sec.as_object_mut() {
            m.insert(key.to_string(), v);
        }
    };
    if let Some(v) = a.blkio_weight {
        set("blockIO", "weight", json!(v));
    }
    if let Some(v) = a.cpu_period {
        set("cpu", "period", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        set("cpu", "quota", json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        set("cpu", "realtimePeriod", json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        set("cpu", "realtimeRuntime", json!(v));
    }
    if let Some(v) = a.cpu_shares {
        set("cpu", "shares", json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        set("cpu", "cpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        set("cpu", "mems", json!(v));
    }
    if let Some(v) = &a.memory {
        set("memory", "limit", json!(bytes("memory", v)?));
    }
    if let Some(v) = &a.memory_reservation {
        set(
            "memory",
            "reservation",
            json!(bytes("memory-reservation", v)?),
        );
    }
    if let Some(v) = &a.memory_swap {
        set("memory", "swap", json!(bytes("memory-swap", v)?));
    }
    if let Some(v) = a.pids_limit {
        set("pids", "limit", json!(v));
    }
    let resources: oci_spec::runtime::LinuxResources =
        serde_json::from_value(res).map_err(|e| Error::other(format!("resources: {e}")))?;
    ops::update(&store(cli), &a.id, &resources)?;
    Ok(0)
}

fn duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::other(format!(
            "--interval: invalid duration {s:?} (e.g. 5s, 500ms)"
        ))
    };
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if secs <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `events --stats`: one stats object; otherwise one every `--interval`
/// until the container stops.
pub fn events(cli: &Cli, a: &EventsArgs) -> Result<u8> {
    let interval = duration(&a.interval)?;
    let store = store(cli);
    let mut first = true;
    loop {
        let v = match ops::stats(&store, &a.id) {
            Ok(v) => v,
            // The container stopped (or went away) while we watched: done.
            Err(_) if !first && !a.stats => return Ok(0),
            Err(e) => return Err(e),
        };
        first = false;
        println_out(&v.to_string())?;
        if a.stats {
            return Ok(0);
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(bytes("memory", "128m").unwrap(), 128 << 20);
        assert_eq!(bytes("memory", "1g").unwrap(), 1 << 30);
        assert_eq!(bytes("memory", "4096").unwrap(), 4096);
        assert_eq!(bytes("memory", "-1").unwrap(), -1);
        assert!(bytes("memory", "lots").is_err());
        assert_eq!(duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(duration("0s").is_err());
    }
}
