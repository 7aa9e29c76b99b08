//! The JSON configuration `runwasm_wasm_instantiate` receives, and its
//! conversion to the strings WasmEdge's WASI module takes.
//!
//! ```json
//! {"args":["/m.wasm","a"],"env":["K=V"],
//!  "preopens":[{"guest":"/","host":"/abs"}],"max_memory_pages":null}
//! ```
//!
//! The guest sees exactly these arguments, environment and directories:
//! nothing is inherited from the host process.

use std::path::Path;

use serde::Deserialize;

use crate::Error;

/// One preopened directory: `host` is visible to the guest as `guest`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preopen {
    pub guest: String,
    pub host: String,
}

/// What a WASI instance is configured from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// argv, `args[0]` included.
    pub args: Vec<String>,
    /// The whole environment, as `KEY=VALUE` strings.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub preopens: Vec<Preopen>,
    /// Caps every linear memory at this many 64 KiB pages.
    #[serde(default)]
    pub max_memory_pages: Option<u32>,
}

impl Config {
    /// Parses and checks the JSON config.
    pub fn from_json(json: &[u8]) -> Result<Self, Error> {
        let config: Config = serde_json::from_slice(json)
            .map_err(|e| Error::Config(format!("invalid config JSON: {e}")))?;
        config.check()?;
        Ok(config)
    }

    /// Rejects what WasmEdge would silently mangle or drop.
    fn check(&self) -> Result<(), Error> {
        if self.args.is_empty() {
            return Err(Error::Config("args must not be empty".into()));
        }
        if let Some(e) = self.env.iter().find(|e| !e.contains('=')) {
            return Err(Error::Config(format!(
                "environment variable {e:?} is not KEY=VALUE"
            )));
        }
        for p in &self.preopens {
            // WasmEdge splits "GUEST:HOST[:readonly]" on ':'.
            if p.guest.contains(':') || p.host.contains(':') {
                return Err(Error::Config(format!(
                    "preopen {:?} -> {:?}: paths must not contain ':'",
                    p.guest, p.host
                )));
            }
            if p.guest.is_empty() || p.host.is_empty() {
                return Err(Error::Config("preopen paths must not be empty".into()));
            }
            // WasmEdge skips a directory it cannot open without telling the
            // caller; fail instead, naming the directory.
            match Path::new(&p.host).metadata() {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::Config(format!(
                        "preopen {:?}: not a directory",
                        p.host
                    )))
                }
                Err(e) => return Err(Error::Config(format!("preopen {:?}: {e}", p.host))),
            }
        }
        Ok(())
    }

    /// The strings for `WasiModule::create`, which panics on a NUL byte
    /// (it makes C strings of them): such a string is an error here.
    pub(crate) fn wasi_strings(&self) -> Result<WasiStrings<'_>, Error> {
        let strings = WasiStrings {
            args: self.args.iter().map(String::as_str).collect(),
            env: self.env.iter().map(String::as_str).collect(),
            preopens: self
                .preopens
                .iter()
                .map(|p| format!("{}:{}", p.guest, p.host))
                .collect(),
        };
        let all = strings.args.iter().chain(&strings.env).copied();
        if let Some(s) = all
            .chain(strings.preopens.iter().map(String::as_str))
            .find(|s| s.contains('\0'))
        {
            return Err(Error::Config(format!(
                "config string {s:?} contains a NUL byte"
            )));
        }
        Ok(strings)
    }
}

/// argv, environment and preopens (`GUEST:HOST`) for the WASI module.
pub(crate) struct WasiStrings<'a> {
    pub args: Vec<&'a str>,
    pub env: Vec<&'a str>,
    pub preopens: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let dir = std::env::temp_dir();
        let json = format!(
            r#"{{"args":["/m.wasm","a"],"env":["K=V"],"preopens":[{{"guest":"/","host":{:?}}}],"max_memory_pages":null}}"#,
            dir.to_string_lossy()
        );
        let c = Config::from_json(json.as_bytes()).expect("valid config");
        assert_eq!(c.args, ["/m.wasm", "a"]);
        assert_eq!(c.env, ["K=V"]);
        assert_eq!(c.preopens.len(), 1);
        assert_eq!(c.max_memory_pages, None);
        let s = c.wasi_strings().expect("WASI strings");
        assert_eq!(s.args, ["/m.wasm", "a"]);
        assert_eq!(s.env, ["K=V"]);
        assert_eq!(s.preopens, [format!("/:{}", dir.to_string_lossy())]);
    }

    #[test]
    fn optional_fields_default() {
        let c = Config::from_json(br#"{"args":["x"],"max_memory_pages":3}"#).expect("valid");
        assert!(c.env.is_empty() && c.preopens.is_empty());
        assert_eq!(c.max_memory_pages, Some(3));
        assert!(c.wasi_strings().expect("WASI strings").env.is_empty());
    }

    #[test]
    fn rejects_bad_configs() {
        for (json, want) in [
            (&br#"{"args":[]}"#[..], "args must not be empty"),
            (br#"{"args":["x"],"env":["NOEQ"]}"#, "not KEY=VALUE"),
            (br#"{"args":["x"],"bogus":1}"#, "unknown field"),
            (
                br#"{"args":["x"],"preopens":[{"guest":"/a:b","host":"/"}]}"#,
                "':'",
            ),
            (
                br#"{"args":["x"],"preopens":[{"guest":"/","host":"/nonexistent-runwasm"}]}"#,
                "No such file",
            ),
            (
                br#"{"args":["x"],"max_memory_pages":-1}"#,
                "invalid config JSON",
            ),
            (b"not json", "invalid config JSON"),
        ] {
            let err = Config::from_json(json)
                .expect_err("must be rejected")
                .to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        }
        for json in [
            &br#"{"args":["a\u0000b"]}"#[..],
            br#"{"args":["a"],"env":["K=\u0000"]}"#,
        ] {
            let c = Config::from_json(json).expect("JSON is valid");
            let err = c.wasi_strings().err().expect("NUL is rejected").to_string();
            assert!(err.contains("contains a NUL byte"), "{err}");
        }
    }
}
