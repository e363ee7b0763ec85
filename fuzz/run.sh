#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, on the stable toolchain.
#
#   fuzz/run.sh 60                     # every target, 60 s each
#   fuzz/run.sh 600 poller webhook     # two targets, 10 min each
#
# Needs `cargo install cargo-fuzz --locked`. Stable has no sanitizers, so targets run with
# `--sanitizer none`; debug assertions (and so integer-overflow checks) are on. Each target
# reads its committed seeds (fuzz/seeds/<target>) and grows its own corpus in
# fuzz/corpus/<target> (git-ignored); crashes land in fuzz/artifacts/<target>. A summary line
# per target (executions, corpus size, crash or not) is appended to fuzz/artifacts/summary.txt.
set -uo pipefail

cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p artifacts
cargo fuzz build --sanitizer none --debug-assertions || exit 2
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    log="artifacts/$t.log"
    echo "== $t: ${secs}s"
    cargo fuzz run "$t" "corpus/$t" "seeds/$t" --sanitizer none --debug-assertions -- \
        -max_total_time="$secs" -dict="$PWD/json.dict" -max_len=16384 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    corpus=$(find "corpus/$t" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        result="no findings"
    else
        result="FINDING (exit $rc): $(grep -m1 -E "panicked at|ERROR: libFuzzer" "$log")"
        status=1
    fi
    line="$(date -u +%FT%TZ) $t ${secs}s execs=${execs:-?} corpus=$corpus $result"
    echo "$line" | tee -a artifacts/summary.txt
done
exit $status
