#!/usr/bin/env bash
# The demo: install what is missing, build runwasm, compile a C program to
# wasm32-wasi, make an OCI bundle around it and `runwasm run` it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec just demo
