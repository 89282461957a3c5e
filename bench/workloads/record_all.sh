#!/usr/bin/env bash
# Record OOM-prediction traces on a real GPU (an 80 GB H100; about 8 minutes in all).
#
#   bench/workloads/record_all.sh [OUT_DIR] [SCENARIO ...]
#
# For each scenario: `vramtop record` runs in the background at 10 Hz, the workload
# processes run (their stdout is their events, with wall-clock times), the recorder
# is stopped, and bench/workloads/merge_events.py puts the events into the trace
# (t = unix - start_unix). Recordings are written compressed (NAME.jsonl.gz).
# OUT_DIR defaults to tests/fixtures/traces/new; copy the ones you keep into
# tests/fixtures/traces/ and add them to its README table. Tests and
# bench/oom_accuracy.py pick up every tests/fixtures/traces/*.jsonl[.gz] by its
# meta.expected.
#
# Needs: vramtop on PATH (pip install -e .), PyTorch with CUDA, an idle GPU 0.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$ROOT/tests/fixtures/traces/new}"
shift || true
PY="${PYTHON:-python3}"
WL="$PY $HERE/memory_workloads.py"
export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

BG_PIDS=()

# run_scenario NAME EXPECTED DESCRIPTION -- then the body as a function name
record_scenario() {
  local name="$1" expected="$2" body="$3"
  local trace="$OUT/$name.jsonl.gz" events="$WORK/$name.events"
  : >"$events"
  echo "== $name ($expected)" >&2
  vramtop record "$trace" --interval 0.1 --scenario "$name" --expected "$expected" --force &
  local rec=$!
  sleep 3  # NVML up, header and first samples written
  BG_PIDS=()
  "$body" "$events" || true
  # stop everything the scenario left running (the ballast). TERM, not INT: a
  # non-interactive shell starts background jobs with SIGINT ignored.
  for p in "${BG_PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${BG_PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  sleep 2  # the memory coming back is part of the recording
  kill -INT "$rec" 2>/dev/null || true
  wait "$rec" 2>/dev/null || true
  "$PY" "$HERE/merge_events.py" "$trace" "$events"
}

bg() {  # bg EVENTS cmd...: a workload in the background, its events appended
  local events="$1"; shift
  "$@" >>"$events" &
  BG_PIDS+=("$!")
}

wait_for_event() {  # wait_for_event EVENTS NAME TIMEOUT_S: until a workload reports NAME
  local events="$1" name="$2" deadline=$((SECONDS + $3))
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -q "\"event\": \"$name\"" "$events" && return 0
    sleep 0.5
  done
  echo "no '$name' event within $3 s" >&2
  return 1
}

wait_for_count() {  # wait_for_count EVENTS NAME N TIMEOUT_S: until N workloads reported NAME
  # (a second process's `ballast`, say, where wait_for_event would see the first's)
  local deadline=$((SECONDS + $4))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(grep -c "\"event\": \"$2\"" "$1")" -ge "$3" ] && return 0
    sleep 0.5
  done
  echo "fewer than $3 '$2' events within $4 s" >&2
  return 1
}

# --- scenarios (each ~60 s of growth; OOM comes from a ballast leaving little room) ---

s_leak_60() {        # 60 MB/s steady leak, 3.6 GB left: OOM after ~60 s
  bg "$1" $WL ballast --leave-gb 3.6 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 60 --chunk-mb 4 >>"$1"
}
s_leak_400() {       # 400 MB/s leak with jittered chunks, 24 GB left: OOM after ~60 s
  bg "$1" $WL ballast --leave-gb 24 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 400 --chunk-mb 32 --jitter 0.3 >>"$1"
}
s_burst_leak() {     # 6 GB per-step bursts every 2 s on a 100 MB/s leak, 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL burst-leak --burst-gb 6 --period 2 --leak-mb 100 >>"$1"
}
s_two_leakers() {    # 90 MB/s, and 120 MB/s starting 10 s later, 12 GB left; ends at the first OOM
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 90 --chunk-mb 8 --seed 1
  sleep 10
  bg "$1" $WL leak --rate-mb 120 --chunk-mb 8 --seed 2
  wait_for_event "$1" oom 150
  sleep 1
}
s_step_leak() {      # irregular allocator steps (20-600 MB, exponential gaps), ~150 MB/s
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL step-leak --mean-rate-mb 150 --min-mb 20 --max-mb 600 --mean-gap 1.5 \
    --seed 3 >>"$1"
}
s_var_batch() {      # random batch sizes, activations returned each step: no OOM
  bg "$1" $WL ballast --leave-gb 30 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL var-batch --base-gb 4 --min-gb 2 --max-gb 20 --period 0.7 --empty-cache \
    --duration 45 --seed 4 >>"$1"
}
s_plateau() {        # 250 MB/s growth that stops 3 GB short of full, then holds: no OOM
  bg "$1" $WL ballast --leave-gb 15.5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 250 --stop-free-gb 3 --hold 12 >>"$1"
}

declare -A EXPECTED=(
  [leak_60]=oom [leak_400]=oom [burst_leak]=oom [two_leakers]=oom [step_leak]=oom
  [var_batch]=no_oom [plateau_near_full]=no_oom
)
declare -A BODY=(
  [leak_60]=s_leak_60 [leak_400]=s_leak_400 [burst_leak]=s_burst_leak
  [two_leakers]=s_two_leakers [step_leak]=s_step_leak [var_batch]=s_var_batch
  [plateau_near_full]=s_plateau
)
ORDER=(leak_60 leak_400 burst_leak two_leakers step_leak var_batch plateau_near_full)

# held_out NAME:EXPECTED ...: the scenarios to record, in this order, each run by the
# function of its name (what a file of EXTRA_SCENARIOS ends with).
held_out() {
  ORDER=()
  local spec name
  for spec in "$@"; do
    name="${spec%%:*}"
    EXPECTED[$name]="${spec#*:}"
    BODY[$name]="$name"
    ORDER+=("$name")
  done
}

# More scenarios (a held-out set, say) from a file that defines them with the helpers
# above and names them with held_out.
if [ -n "${EXTRA_SCENARIOS:-}" ]; then
  # shellcheck source=/dev/null
  source "$EXTRA_SCENARIOS"
fi

if [ "$#" -gt 0 ]; then ORDER=("$@"); fi
for name in "${ORDER[@]}"; do
  if [ -z "${BODY[$name]:-}" ]; then echo "unknown scenario: $name" >&2; exit 2; fi
  record_scenario "$name" "${EXPECTED[$name]}" "${BODY[$name]}"
done
echo "recordings in $OUT; score them with: python bench/oom_accuracy.py --dir $OUT" >&2
