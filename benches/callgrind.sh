#!/usr/bin/env bash
# Instruction profiles of our stack against the bare hyper-util client, with callgrind.
#
#   bash benches/callgrind.sh [calls]          # default 20000 calls per variant
#
# Builds benches/callgrind.rs with line tables (CARGO_PROFILE_BENCH_DEBUG, no change to
# Cargo.toml), then runs each variant under callgrind with only the measured loop
# collected (callgrind::measure*); the server runs in a child process that callgrind
# does not trace. Prints instructions per call for each variant, and writes the raw
# profiles and the annotated (inclusive) reports to $OUT (default
# $CARGO_TARGET_DIR/callgrind, else target/callgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
calls="${1:-20000}"
target="${CARGO_TARGET_DIR:-target}"
out="${OUT:-$target/callgrind}"
mkdir -p "$out"

export CARGO_PROFILE_BENCH_DEBUG=line-tables-only
# FEATURES=metrics bash benches/callgrind.sh …: the same with the crate's features on
# (the metrics layers in the stack; m15/m16 profile them without and with a recorder).
features=()
[[ -n "${FEATURES:-}" ]] && features=(--features "$FEATURES")
bin=$(cargo bench --bench callgrind --no-run "${features[@]}" --message-format=json 2>/dev/null |
    python3 -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "callgrind" and m.get("executable"):
        print(m["executable"])')
echo "binary: $bin"

variants=(bare_hyper bare_hyper_json stack_cancel_run stack_service_oneshot stack_app_warm)
layers=(m0_request_new m0_decode_only m0_http_inner m1_api_call m2_collect m3_auth_fixed m4_base_uri m5_attempt_timeout
    m6_attempt_span m7_retry m8_overall_timeout m9_operation_span m10_full_typed
    m11_full_boxed m12_full_app_warm)
[[ ",${FEATURES:-}," == *,metrics,* ]] && layers+=(m15_full_metrics m16_full_prometheus)

# name=variant[@subscriber level]
subscribed=(m10_full_typed@info m10_full_typed@debug stack_cancel_run@info)

printf '%-24s %12s %14s\n' variant calls 'Ir/call'
for name in "${variants[@]}" "${layers[@]}" "${subscribed[@]}"; do
    v="${name%@*}"
    sub=""
    [[ "$name" == *@* ]] && sub="${name#*@}"
    n="$calls"
    file="$out/callgrind.$name.out"
    AILY_PROFILE="$v" AILY_PROFILE_SUBSCRIBER="$sub" AILY_PROFILE_CALLS="$n" timeout 900 valgrind --tool=callgrind \
        --callgrind-out-file="$file" --collect-atstart=no \
        --toggle-collect='callgrind::measure*' "$bin" 2>"$out/$name.log" >/dev/null
    total=$(grep -E '^(summary|totals):' "$file" | head -1 | awk '{print $2}')
    printf '%-24s %12s %14.0f\n' "$name" "$n" "$(echo "$total / $n" | bc -l)"
    callgrind_annotate --auto=no --inclusive=yes --threshold=99.9 "$file" >"$out/$name.inclusive.txt" 2>/dev/null || true
    callgrind_annotate --auto=no --threshold=100 "$file" >"$out/$name.self.txt" 2>/dev/null || true
done
echo "reports: $out/<variant>.inclusive.txt and .self.txt"
echo "compare two: python3 benches/callgrind_diff.py $out/bare_hyper_json.self.txt $calls $out/stack_cancel_run.self.txt $calls"
