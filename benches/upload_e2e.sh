#!/usr/bin/env bash
# Firm upload end to end: `pingyi import` of a 1,000,000-row, 30-column CSV into a fresh
# demo database (validate + commit), timed with /usr/bin/time -v, on SQLite and PostgreSQL.
#
#   cargo build --release --bin pingyi
#   benches/upload_e2e.sh                      # SQLite, then PostgreSQL if PINGYI_BENCH_POSTGRES is set
#   ROWS=100000 benches/upload_e2e.sh
#   PINGYI_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres benches/upload_e2e.sh
#   SKIP_SQLITE=1 PINGYI_BENCH_POSTGRES=… benches/upload_e2e.sh   # PostgreSQL only
#
# The CSV is written by benches/gen_upload.py for the bench-only questionnaire
# benches/surveys/bench30.toml (8 fixed columns + 22 questions = 30 columns). A second, different
# file of the same size is then imported into the same database, to show the cost once the
# evaluation already holds a million uploaded rows (cross-batch duplicate check, larger B-trees).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/pingyi}
ROWS=${ROWS:-1000000}
WORK=${WORK:-/tmp/pingyi-upload-bench}
mkdir -p "$WORK"
A="$WORK/upload_${ROWS}_a.csv"
B="$WORK/upload_${ROWS}_b.csv"
[ -s "$A" ] || python3 benches/gen_upload.py --rows "$ROWS" --out "$A" --seed 1
[ -s "$B" ] || python3 benches/gen_upload.py --rows "$ROWS" --out "$B" --seed 2
export PINGYI_LOG=${PINGYI_LOG:-info,sqlx=warn,pingyi::store=debug}

demo_db() { # URL: create the schema and the demo data (serve --demo on a free port, then stop)
  local url=$1 log="$WORK/serve.log"
  "$BIN" serve --demo --bind 127.0.0.1:0 --database "$url" >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do
    grep -q "listening" "$log" && break
    kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.2
  done
  kill $pid; wait $pid 2>/dev/null || true
}

run() { # BACKEND URL
  local name=$1 url=$2
  demo_db "$url"
  local key
  key=$("$BIN" firm create --name bench --evaluation 2 --database "$url" | tail -1)
  for f in "$A" "$B"; do
    echo "== $name: import $(basename "$f")"
    /usr/bin/time -v "$BIN" import --evaluation 2 --firm "$key" --questionnaire bench30 \
      --method door_to_door --surveys benches/surveys "$f" --database "$url" \
      2>&1 >/dev/null | grep -E "upload:|stored in|Elapsed|User time|System time|Maximum resident"
  done
}

if [ -z "${SKIP_SQLITE:-}" ]; then
  rm -f "$WORK"/bench.db*
  run SQLite "sqlite://$WORK/bench.db"
fi

if [ -n "${PINGYI_BENCH_POSTGRES:-}" ]; then
  base=${PINGYI_BENCH_POSTGRES%/*}
  psql -q "$PINGYI_BENCH_POSTGRES" -c "DROP DATABASE IF EXISTS pingyi_upload_bench" -c "CREATE DATABASE pingyi_upload_bench"
  run PostgreSQL "$base/pingyi_upload_bench"
fi
