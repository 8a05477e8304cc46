#!/bin/sh
# Run every harness: FUZZ_SECONDS each (default 600), corpora in fuzz/corpus/<target>.
# CI runs a short deterministic smoke instead: FUZZ_RUNS=300 fuzz/run_all.sh; FUZZ_TARGETS="archive html" picks some
set -u
cd "$(dirname "$0")"
PY=${PY:-../.venv/bin/python}
status=0
for target in ${FUZZ_TARGETS:-decode archive exchange exports telegram html capture assess api}; do
  mkdir -p "corpus/$target" "work/$target" "findings/$target"
  if [ -n "${FUZZ_RUNS:-}" ]; then
    limit="-runs=$FUZZ_RUNS -seed=1"
  else
    limit="-max_total_time=${FUZZ_SECONDS:-600}"
  fi
  echo "== fuzz_$target"
  # shellcheck disable=SC2086
  # new inputs go to work/ (not committed); the committed seeds in corpus/ are only read
  start=$(date +%s)
  $PY "fuzz_$target.py" "work/$target" "corpus/$target" $limit -rss_limit_mb=2048 -timeout=20 \
      -artifact_prefix="findings/$target/" -print_final_stats=1 > "work/$target.log" 2>&1
  echo "wall_seconds: $(( $(date +%s) - start ))" >> "work/$target.log"
  grep -aE "stat::number_of_executed_units|stat::peak_rss_mb|ERROR|Exception|DONE|wall_seconds" "work/$target.log" || true
  [ -n "$(ls "findings/$target" 2>/dev/null)" ] && { echo "findings in fuzz/findings/$target"; status=1; }
done
exit $status
