//! `features`: the runtime-spec features document. It states only what
//! this build really does.

use runwasm_runtime::{Error, Result};

use super::lifecycle::println_out;

pub fn features() -> Result<u8> {
    let doc = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": runwasm_runtime::OCI_VERSION,
        "hooks": [],
        "mountOptions": [],
        "linux": {
            "namespaces": [],
            "capabilities": [],
            "cgroup": { "v1": false, "v2": false, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": {
            "io.github.runwasm.wasm.engine": "wasmedge",
            "io.github.runwasm.wasm.detection": "run.oci.handler=wasm, module.wasm.image/variant=compat|compat-smart, *.wasm, \\0asm magic",
        },
    });
    let json = serde_json::to_string_pretty(&doc).map_err(|e| Error::other(e.to_string()))?;
    println_out(&json)
}
