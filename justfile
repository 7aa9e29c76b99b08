# runwasm tasks. `scripts/demo.sh` and `scripts/test.sh` install what is
# missing first (scripts/setup.sh) and then run `just demo` / `just test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

prefix := "/usr/local"

# List the recipes.
default:
    @just --list

# Install build and test dependencies (Debian, as root; idempotent).
setup:
    bash scripts/setup.sh

# Build the runwasm binary and the Wasm executor library (release).
build:
    cargo build --release -p runwasm -p runwasm-wasm

# Build a module from C, make a bundle, and run it with runwasm.
demo: build
    #!/usr/bin/env bash
    set -euo pipefail
    work=$(mktemp -d /tmp/runwasm-demo.XXXXXX)
    mkdir -p "$work/bundle/rootfs/etc"
    echo "this file lives in the container's rootfs" > "$work/bundle/rootfs/etc/motd"
    clang --target=wasm32-wasi -O2 -o "$work/bundle/rootfs/hello.wasm" examples/hello.c
    cat > "$work/bundle/config.json" <<JSON
    {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
     "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
                 "args": ["/hello.wasm", "3"], "env": ["GREETING=hi", "PATH=/bin"]}}
    JSON
    echo "+ runwasm --root $work/state run --bundle $work/bundle demo"
    set +e
    ./target/release/runwasm --root "$work/state" run --bundle "$work/bundle" "demo-$$"
    code=$?
    set -e
    echo "exit code: $code (the module returned 3)"
    rm -rf "$work"
    [ "$code" -eq 3 ]

# The whole test suite: unit tests and end-to-end tests on the built binary
# (and on the fault-injection build, for the crash tests).
test: build-fault
    cargo test --workspace --no-fail-fast -- --test-threads=2

# target/debug/runwasm-fault: runwasm with its test-only crash points
# (feature fault-injection, RUNWASM_FAULT), for the crash tests; then the
# plain debug build again, so target/debug/runwasm has no crash points.
build-fault:
    cargo build -p runwasm --features fault-injection
    cp target/debug/runwasm target/debug/runwasm-fault
    cargo build -p runwasm -p runwasm-wasm

# Formatting and lints, as CI expects them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Install the binary and the executor library under {{prefix}}.
install: build
    install -D -m 0755 target/release/runwasm {{prefix}}/bin/runwasm
    install -D -m 0644 target/release/librunwasm_wasm.so {{prefix}}/lib/runwasm/librunwasm_wasm.so

# Soak test: 1,000 run cycles of a Wasm and of a native container, then
# leftovers and the RSS trend (bench/soak.sh; options go to bench/soak.py).
soak *ARGS:
    bash bench/soak.sh {{ARGS}}

# Side-by-side benchmark against runc, crun and the wasmedge CLI (bench/README.md).
bench *ARGS:
    bash bench/run.sh {{ARGS}}
