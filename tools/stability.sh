#!/usr/bin/env bash
# Stability: no verdict may depend on timing, load or server history. Starts ONE long-lived
# reference server and runs the full suite against it once per MODE, then compares every run's
# verdicts (tools/compare_runs.py; any difference fails).
#
#   tools/stability.sh OUTDIR MODE... [-- EXTRA_CONFORMANCE_JSON...]
#   MODE: idle | loaded (two busy loops load both cores for the whole run)
#         | concurrent (a second full suite runs against the same server at the same time; its
#           verdicts are compared too)
#         | parallel (pytest -n 4: four workers share the server's four slots; issue 13 §3)
#         | loaded-parallel (both at once: pytest -n 4 while two busy loops load both cores; CI's
#           one run for both properties, the busiest the machine gets)
#
# Needs an activated environment with the suite installed and `python -m conformance.reference
# prepare` done. Writes OUTDIR/<n>-<mode>/ reports, OUTDIR/stability.md and the server log.
set -uo pipefail
out=$1; shift
modes=(); extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  modes+=("$1"); shift
done
mkdir -p "$out"
LLMCONF_STABILITY_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(18))')"
export LLMCONF_STABILITY_KEY
# Four slots (each with the serial run's window), so that a `parallel` run has one per worker.
python -m conformance.reference serve --slots 4 --api-key-env LLMCONF_STABILITY_KEY --log "$out/reference-server.log" \
  > "$out/serve.out" 2> "$out/serve.err" &
server=$!
url=""
for _ in $(seq 1 180); do
  url=$(sed -n 's/^REFERENCE_URL=//p' "$out/serve.out" 2>/dev/null)
  [ -n "$url" ] && break
  kill -0 $server 2>/dev/null || break
  sleep 1
done
if [ -z "$url" ]; then echo "stability: the reference server did not start"; cat "$out/serve.err"; kill $server 2>/dev/null; exit 1; fi
common=(--endpoint "$url" --profile reference --api-key-env LLMCONF_STABILITY_KEY)
rc=0; runs=(); n=0
# `loaded CMD...`: run CMD while two busy loops load both cores (the loops end with it).
loaded() {
  ( while :; do :; done ) & local l1=$!
  ( while :; do :; done ) & local l2=$!
  "$@"; local status=$?
  kill $l1 $l2 2>/dev/null; wait $l1 $l2 2>/dev/null
  return $status
}
for mode in "${modes[@]}"; do
  n=$((n + 1)); dir="$out/$n-$mode"; runs+=("$dir/conformance.json")
  start=$(date +%s)
  case $mode in
    idle)
      pytest -q "${common[@]}" --reports-dir="$dir" > "$dir.log" 2>&1 || rc=1 ;;
    loaded)
      loaded pytest -q "${common[@]}" --reports-dir="$dir" > "$dir.log" 2>&1 || rc=1 ;;
    parallel)
      pytest -q -n 4 "${common[@]}" --reports-dir="$dir" > "$dir.log" 2>&1 || rc=1 ;;
    loaded-parallel)
      loaded pytest -q -n 4 "${common[@]}" --reports-dir="$dir" > "$dir.log" 2>&1 || rc=1 ;;
    concurrent)
      pytest -q "${common[@]}" --reports-dir="$dir-second" > "$dir-second.log" 2>&1 & second=$!
      pytest -q "${common[@]}" --reports-dir="$dir" > "$dir.log" 2>&1 || rc=1
      wait $second || rc=1
      runs+=("$dir-second/conformance.json") ;;
    *) echo "stability: unknown mode $mode"; rc=1; continue ;;
  esac
  echo "stability run $n ($mode): $(tail -1 "$dir.log") [$(( $(date +%s) - start )) s]"
done
kill $server 2>/dev/null; wait $server 2>/dev/null
python tools/compare_runs.py "${extra[@]}" "${runs[@]}" --markdown "$out/stability.md" || rc=1
exit $rc
