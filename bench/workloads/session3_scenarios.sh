# Held-out recordings of session 3: kinds no earlier recording covers, recorded and
# scored before the predictor saw them (files in tests/fixtures/traces/ without the
# s3_ prefix once they join the tests). Use:
#   EXTRA_SCENARIOS=bench/workloads/session3_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s3_leak_900_jitter() {   # a steep, noisy leak: 900 MB/s in 64 MB chunks, 40% jitter, 42 GB left
  bg "$1" $WL ballast --leave-gb 42 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 900 --chunk-mb 64 --jitter 0.4 --seed 31 >>"$1"
}
s3_step_leak_c() {       # irregular steps of 10-800 MB at exponential gaps (mean 2 s), 5 GB left
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL step-leak --mean-rate-mb 100 --min-mb 10 --max-mb 800 --mean-gap 2 \
    --seed 32 >>"$1"
}
s3_three_leakers() {     # 50, 80 and 110 MB/s leaks starting 8 s apart, 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 50 --chunk-mb 4 --seed 33
  sleep 8
  bg "$1" $WL leak --rate-mb 80 --chunk-mb 4 --seed 34
  sleep 8
  bg "$1" $WL leak --rate-mb 110 --chunk-mb 4 --seed 35
  wait_for_event "$1" oom 150
  sleep 1
}
s3_load_then_leak() {    # one process loads ~22 GB at 3 GB/s and holds; another then leaks 150 MB/s
  bg "$1" $WL ballast --leave-gb 30 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL plateau --rate-mb 3000 --chunk-mb 256 --stop-free-gb 8 --hold 200
  wait_for_event "$1" plateau 60
  timeout 150 $WL leak --rate-mb 150 --chunk-mb 8 --seed 36 >>"$1"
}
s3_var_batch_cached_c() { # random batches (1-22 GB, 0.8 s) kept by the caching allocator: no OOM
  bg "$1" $WL ballast --leave-gb 30 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL var-batch --base-gb 5 --min-gb 1 --max-gb 22 --period 0.8 --duration 45 --seed 37 >>"$1"
}
s3_staircase_near_full() { # six 5.5 GB model loads 6 s apart, ending ~4 GB short of full: no OOM
  bg "$1" $WL ballast --leave-gb 40 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  local i
  for i in 1 2 3 4 5 6; do
    bg "$1" $WL ballast --ballast-gb 5.5 --hold 200
    sleep 6
  done
  # The last load is in: growth stops here (only alerts standing 5 s later count).
  printf '{"unix": %s, "event": "plateau", "pid": 0}\n' "$(date +%s.%N)" >>"$1"
  sleep 12
}
s3_plateau_slow() {      # 120 MB/s growth that stops 1.5 GB short of full and holds: no OOM
  bg "$1" $WL ballast --leave-gb 7.5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 120 --chunk-mb 8 --stop-free-gb 1.5 --hold 15 >>"$1"
}
held_out s3_leak_900_jitter:oom s3_step_leak_c:oom s3_three_leakers:oom \
  s3_load_then_leak:oom s3_var_batch_cached_c:no_oom s3_staircase_near_full:no_oom \
  s3_plateau_slow:no_oom
