#!/usr/bin/env bash
# Runs runwasm's cargo-fuzz targets (fuzz/, see docs/fuzzing.md) for a set
# time each, one target at a time, one fuzzing process (one job) each.
#
#   bench/fuzz.sh [TARGET|all] [SECONDS]
#
# TARGET: config, id, signal, state, exec_process, module_layout, or all
# (the default);
# SECONDS per target, default 600. Needs the nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`). Not part of CI.
#
# Each target's corpus grows in fuzz/corpus/TARGET (kept between runs) from
# the seeds in fuzz/seeds/TARGET (and, for config and exec_process, the bad
# bundles of integration-tests/corpus/bad-configs); a crash is saved in
# fuzz/artifacts/TARGET/. The log of each run is bench/results/fuzz/TARGET.log
# and one summary line per target is printed at the end (run time,
# executions, corpus size, result). Exits non-zero if any target failed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
all=(config id signal state exec_process module_layout)
target=${1:-all}
secs=${2:-600}

if [[ $target == all ]]; then
    targets=("${all[@]}")
else
    case " ${all[*]} " in
    *" $target "*) targets=("$target") ;;
    *)
        echo "unknown target $target (one of: ${all[*]}, all)" >&2
        exit 2
        ;;
    esac
fi
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
    echo "SECONDS must be a positive number, got $secs" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "needs the nightly toolchain and cargo-fuzz: rustup toolchain install nightly; cargo install cargo-fuzz" >&2
    exit 2
fi

results=$here/bench/results/fuzz
mkdir -p "$results"
cd "$here/fuzz"
# Built once for all targets (release, with debug assertions and overflow
# checks, AddressSanitizer: cargo-fuzz's defaults).
cargo +nightly fuzz build

summary=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    seeds=("seeds/$t")
    dict=()
    max_len=16384
    case $t in
    config | exec_process)
        seeds+=("$here/integration-tests/corpus/bad-configs")
        dict=(-dict=dict/json.dict)
        ;;
    state) dict=(-dict=dict/json.dict) ;;
    module_layout) max_len=65536 ;;
    esac
    log=$results/$t.log
    echo "== $t: ${secs}s, log in $log"
    start=$(date +%s)
    set +e
    # One process, no forks or parallel jobs (libFuzzer's default: the same
    # as -jobs=1 without its log redirection); inputs of 16 KiB at most
    # (64 KiB for modules).
    cargo +nightly fuzz run "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1
    code=$?
    set -e
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    units=$(find "corpus/$t" -type f | wc -l)
    if [[ $code -eq 0 ]]; then
        result=ok
    else
        result="FAILED (exit $code; see $log and fuzz/artifacts/$t/)"
        failed=1
        tail -n 30 "$log" >&2
    fi
    summary+=("$(printf '%-13s %6ss %12s execs %6s corpus  %s' "$t" "$took" "${execs:-?}" "$units" "$result")")
done

echo
echo "target          time        executions    corpus  result"
printf '%s\n' "${summary[@]}"
exit $failed
