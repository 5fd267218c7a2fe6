#!/usr/bin/env bash
# Run every HTTP-stack candidate alone, interleaved, ROUNDS times; print Markdown tables of medians.
# Usage: PYTHON=/path/to/venv/bin/python ROUNDS=3 [ONLY=regex] ./run.sh [results.jsonl]
# Needs: wrk on PATH; $PYTHON with requirements.txt installed.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
ROUNDS=${ROUNDS:-3}
ONLY=${ONLY:-.}
OUT=${1:-$(mktemp -t http_stack.XXXXXX.jsonl)}
PORT=18080

candidates=(
  "uvicorn|serve_uvicorn.py"
  "uvicorn (asyncio loop)|serve_uvicorn.py --loop asyncio"
  "granian ASGI|serve_granian.py --interface asgi"
  "granian RSGI|serve_granian.py --interface rsgi"
  "granian RSGI mt|serve_granian.py --interface rsgi --runtime-mode mt"
  "custom httptools+uvloop|serve_custom.py"
  "custom httptools+asyncio|serve_custom.py --loop asyncio"
)

for round in $(seq "$ROUNDS"); do
  for entry in "${candidates[@]}"; do
    name=${entry%%|*}
    grep -qE "$ONLY" <<<"$name" || continue
    read -ra script <<<"${entry#*|}"
    PORT=$((PORT + 1))  # fresh port each run: no TIME_WAIT/lingering-listener interference
    echo "round $round: $name" >&2
    "$PY" measure.py "$name" "$PORT" -- "$PY" "${script[@]}" --port "$PORT" --workers 2 >>"$OUT"
    sleep 1
  done
done

echo "results: $OUT" >&2
echo "### HTTP stacks (medians of $ROUNDS runs; wrk -t2 -c16 -d10s after 2 s warm-up)"
"$PY" report.py "$OUT"
echo
echo "### JSON codecs and bare workload"
"$PY" microbench.py
