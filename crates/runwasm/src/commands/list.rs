//! `list`: runc's table (tabwriter, min width 12, padding 3), `--format
//! json` (an array of state objects) or `-q` (ids).

use std::os::unix::fs::MetadataExt;

use runwasm_runtime::container::{self, OciState};
use runwasm_runtime::state::StateStore;
use runwasm_runtime::{Error, Result};

use super::lifecycle::println_out;
use crate::cli::{Cli, ListArgs, ListFormat};

pub fn list(cli: &Cli, a: &ListArgs) -> Result<u8> {
    let store = StateStore::existing(&cli.root);
    let states: Vec<OciState> = container::list(&store)?
        .iter()
        .map(|c| {
            let uid = std::fs::metadata(&c.dir.path).map(|m| m.uid()).unwrap_or(0);
            c.oci_state(user_name(uid))
        })
        .collect();
    if a.quiet {
        for s in &states {
            println_out(&s.id)?;
        }
        return Ok(0);
    }
    match a.format {
        ListFormat::Json => {
            // runc prints `null` for an empty list (a nil Go slice).
            let json = if states.is_empty() {
                "null".to_string()
            } else {
                serde_json::to_string(&states).map_err(|e| Error::other(e.to_string()))?
            };
            println_out(&json)
        }
        ListFormat::Table => {
            let mut rows =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
            for s in &states {
                rows.push([
                    s.id.clone(),
                    s.pid.to_string(),
                    s.status.to_string(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            println_out(&table(&rows).join("\n"))
        }
    }
}

/// Pads every column but the last to max(12, widest + 3), as Go's tabwriter
/// does for runc.
fn table(rows: &[[String; 6]]) -> Vec<String> {
    let mut widths = [0usize; 6];
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count() + 3).max(12);
        }
    }
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                if i + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}", w = widths[i]));
                }
            }
            line
        })
        .collect()
}

/// The name of `uid` from /etc/passwd, or the number.
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| format!("#{uid}"))
}
