//! `features`: the runtime-spec features document. It states only what
//! this build really does.

use runwasm_runtime::linux::{caps, mountopts, seccomp};
use runwasm_runtime::{Error, Result};

use super::lifecycle::println_out;

pub fn features() -> Result<u8> {
    let doc = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": runwasm_runtime::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mountopts::known_options().collect::<Vec<_>>(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps::known_names().map(|n| format!("CAP_{n}")).collect::<Vec<_>>(),
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                "actions": seccomp::ACTIONS,
                "operators": seccomp::OPERATORS,
                "archs": [
                    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
                    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
                    "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
                    "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
                    "SCMP_ARCH_RISCV64"
                ],
                "supportedFlags": seccomp::FLAGS,
            },
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
