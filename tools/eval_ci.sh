#!/usr/bin/env bash
# The reference accuracy eval (issue 11 §7; the eval step of .ci/run). Starts ONE long-lived
# reference server (as a real endpoint is long-lived; llama.cpp keeps the prompts in its cache, so
# the later passes cost ~a third of the first), then:
#   1. pytest --eval SETS --eval-save-baseline OUT/baseline --eval-baseline conformance/evals/baselines/reference
#      each set asked twice (the flip rate goes into the saved baseline) and gated against the
#      stored reference baseline: a rerun of the same configuration must not be flagged;
#   2. pytest --eval SETS --eval-baseline OUT/baseline: must PASS (not flagged);
#   3. with "planted" as third argument: run 2 again through the fault proxy with
#      eval-answers-corrupted (a fifth of the answers corrupted): must FAIL (exit 1, gate FAIL).
# Writes OUT/{save,rerun,planted}/ reports (evals/accuracy.md, evals/<set>.json) and OUT/eval-ci.md.
# Usage: tools/eval_ci.sh [OUT] [SETS] [planted]    (defaults: reports/evals-ci lookup)
# Needs the venv active and `python -m conformance.reference prepare` done.
set -uo pipefail
out=${1:-reports/evals-ci}
sets=${2:-lookup}
planted=${3:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)
LLMCONF_EVAL_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(18))')"
export LLMCONF_EVAL_KEY
port_args=()
if [ -n "${EVAL_CI_PORT:-}" ]; then port_args=(--port "$EVAL_CI_PORT"); fi
python -m conformance.reference serve --api-key-env LLMCONF_EVAL_KEY "${port_args[@]}" \
  --log "$out/reference-server.log" > "$out/serve.out" 2> "$out/serve.err" &
server=$!
proxy=""
cleanup() {
  if [ -n "$proxy" ]; then kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null; fi
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null
}
trap cleanup EXIT
url=""
for _ in $(seq 1 240); do
  url=$(sed -n 's/^REFERENCE_URL=//p' "$out/serve.out" 2>/dev/null)
  [ -n "$url" ] && break
  kill -0 $server 2>/dev/null || break
  sleep 0.5
done
if [ -z "$url" ]; then echo "eval-ci: the reference server did not start"; cat "$out/serve.err"; exit 1; fi
common=(-p no:cacheprovider -q --profile reference --api-key-env LLMCONF_EVAL_KEY --eval="$sets")
rc=0
t0=$(date +%s)
pytest "${common[@]}" --endpoint "$url" --eval-save-baseline="$out/baseline" \
  --eval-baseline=conformance/evals/baselines/reference --reports-dir="$out/save" > "$out/save.log" 2>&1 \
  || { echo "eval-ci: the saving run failed (or was flagged against the stored reference baseline)"; rc=1; }
t1=$(date +%s)
pytest "${common[@]}" --endpoint "$url" --eval-baseline="$out/baseline" --reports-dir="$out/rerun" \
  > "$out/rerun.log" 2>&1 || { echo "eval-ci: the rerun against the fresh baseline was flagged"; rc=1; }
t2=$(date +%s)
summary=("# Reference accuracy eval" "" "sets: $sets; save (2 passes) $((t1 - t0)) s, rerun $((t2 - t1)) s" "")
if [ "$planted" = planted ]; then
  python -m conformance.faults --upstream "$url" --fault eval-answers-corrupted --quiet \
    > "$out/proxy.out" 2> "$out/proxy.err" &
  proxy=$!
  purl=""
  for _ in $(seq 1 40); do
    purl=$(sed -n 's/^FAULT_PROXY_URL=//p' "$out/proxy.out" 2>/dev/null)
    [ -n "$purl" ] && break
    sleep 0.25
  done
  if pytest "${common[@]}" --endpoint "$purl" --eval-baseline="$out/baseline" --reports-dir="$out/planted" \
      > "$out/planted.log" 2>&1; then
    echo "eval-ci: the planted regression was NOT flagged"; rc=1
  elif ! grep -q '"state": "FAIL"' "$out/planted/evals/"*.json; then
    echo "eval-ci: the planted run failed without a FAIL gate"; rc=1
  fi
  summary+=("planted regression run $(($(date +%s) - t2)) s" "")
fi
for run in save rerun planted; do
  [ -f "$out/$run/evals/accuracy.md" ] || continue
  summary+=("## $run" "" "$(sed -n '/^| set /,/^$/p' "$out/$run/evals/accuracy.md")" \
            "$(grep -h '^- verdict' "$out/$run/evals/accuracy.md")" "")
done
printf '%s\n' "${summary[@]}" > "$out/eval-ci.md"
cat "$out/eval-ci.md"
exit $rc
