#!/bin/sh
# `pingyi analyze` against R's survey package on the same files, in one run (BENCHMARKS.md,
# "pingyi analyze end to end"): for 200,000 and 1,000,000 rows, three runs of
#   pingyi analyze --input FILE --value q1 --satisfied 4,5 --missing 9 --by unit,respondent_type
#                  --weight weight --strata stratum --cluster psu --output OURS
# (process start, read, estimate, write) and one run of benches/analyze/analyze_r.R (read.csv,
# svydesign, svyby), which also prints the largest differences from pingyi's numbers.
#   benches/analyze/run.sh [BIN (default target/release/pingyi)] [DIR (default /tmp/analyze)]
set -e
BIN=${1:-target/release/pingyi}
DIR=${2:-/tmp/analyze}
mkdir -p "$DIR"
for n in 200000 1000000; do
  f="$DIR/r$n.csv"
  [ -f "$f" ] || python3 benches/analyze/make_responses.py "$n" "$f"
  for i in 1 2 3; do
    /usr/bin/time -f "pingyi analyze, $n rows, run $i: %e s wall, %U s user, %M kB peak" \
      "$BIN" analyze --input "$f" --value q1 --satisfied 4,5 --missing 9 \
      --by unit,respondent_type --weight weight --strata stratum --cluster psu \
      --output "$DIR/ours$n.csv"
  done
  /usr/bin/time -f "Rscript (read.csv + svydesign + svyby), $n rows: %e s wall, %U s user, %M kB peak" \
    Rscript benches/analyze/analyze_r.R "$f" "$DIR/ours$n.csv"
done
