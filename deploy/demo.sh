#!/usr/bin/env bash
# `make demo`: the whole pipeline on a local Kafka. Generates a catalog and events with planted
# interest drift, starts a worker, streams the events at a steady rate, and shows live
# recommendations and drift alerts. Stops cleanly on Ctrl-C, or after DEMO_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
export KAFKA_PORT="${KAFKA_PORT:-9092}"
export IT_BOOTSTRAP="${IT_BOOTSTRAP:-127.0.0.1:$KAFKA_PORT}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
DEMO_SECONDS="${DEMO_SECONDS:-0}"
DEMO_USERS="${DEMO_USERS:-400}"
DEMO_ITEMS="${DEMO_ITEMS:-2000}"
DEMO_RATE="${DEMO_RATE:-400}"
METRICS_PORT="${IT_METRICS_PORT:-9464}"
OUT="${DEMO_OUT:-demo-out}"
run="demo$(date +%s)"  # fresh topics and consumer group for every run
export IT_APP_ID="${IT_APP_ID:-interest-tracker-$run}"
export IT_TOPIC_PREFIX="${IT_TOPIC_PREFIX:-$run.}"

pids=()
started_kafka=0
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping..." >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $started_kafka == 1 ]]; then bash deploy/kafka/kafka.sh down; fi
  echo "demo: stopped. Worker log: $OUT/worker.log" >&2
}
trap cleanup INT TERM EXIT

if ! bash deploy/kafka/kafka.sh status; then started_kafka=1; fi
bash deploy/kafka/kafka.sh up
$PY -m streams topics create >/dev/null
echo "demo: topics ready (prefix '$IT_TOPIC_PREFIX') on $IT_BOOTSTRAP" >&2

rm -rf "$OUT" && mkdir -p "$OUT"
$PY -m streams generate --users "$DEMO_USERS" --items "$DEMO_ITEMS" --drift-fraction 0.3 \
  --out "$OUT/data" >&2

# the catalog first: the worker reads it whole (and encodes it) before it takes events
$PY -m streams produce --items "$OUT/data/items.jsonl" >"$OUT/produce-items.log" 2>&1

$PY -m streams worker --state-dir "$OUT/state" --metrics-port "$METRICS_PORT" \
  >"$OUT/worker.log" 2>&1 &
pids+=($!)
echo "demo: worker starting (log: $OUT/worker.log)" >&2
echo "demo: waiting for the worker to load the model and the catalog..." >&2
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$METRICS_PORT/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then tail -30 "$OUT/worker.log" >&2; exit 1; fi
  sleep 0.5
done
echo "demo: metrics at http://127.0.0.1:$METRICS_PORT/metrics  health at http://127.0.0.1:$METRICS_PORT/health" >&2

$PY -m streams produce --events "$OUT/data/events.jsonl" --rate "$DEMO_RATE" \
  >"$OUT/produce.log" 2>&1 &
pids+=($!)

$PY -m streams tail --topic recommendations --topic interest-drift --from-end &
pids+=($!)

if [[ "$DEMO_SECONDS" -gt 0 ]]; then
  sleep "$DEMO_SECONDS"
  echo "demo: $DEMO_SECONDS s passed" >&2
  # the counts so far (the series of every known label start at 0: only those counted show)
  curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" \
    | grep -E '^interest_tracker_(events_total|recommendations_published_total|drift_alerts_published_total|events_rejected_total)' \
    | grep -v ' 0\.0$' >&2 || true
else
  wait "${pids[1]}" || true
  echo "demo: all events sent; still showing live output (Ctrl-C to stop)" >&2
  wait
fi
