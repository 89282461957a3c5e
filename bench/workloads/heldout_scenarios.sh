# Held-out recordings of session 2 (scored before they joined tests/fixtures/traces/, their
# files there without the h_ prefix; step_leak_b in open/). Use:
#   EXTRA_SCENARIOS=bench/workloads/heldout_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
h_leak_250_jitter() {  # 250 MB/s in jittered 16 MB chunks, 15 GB left
  bg "$1" $WL ballast --leave-gb 15 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 250 --chunk-mb 16 --jitter 0.5 --seed 21 >>"$1"
}
h_leak_40() {          # a slow 40 MB/s leak in 2 MB chunks, 2.8 GB left
  bg "$1" $WL ballast --leave-gb 2.8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 40 --chunk-mb 2 >>"$1"
}
h_burst_fast() {       # 4 GB bursts every second on a 150 MB/s leak, 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL burst-leak --burst-gb 4 --period 1 --leak-mb 150 >>"$1"
}
h_two_leakers_b() {    # 60 MB/s, then 180 MB/s from 15 s later, 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 60 --chunk-mb 8 --seed 5
  sleep 15
  bg "$1" $WL leak --rate-mb 180 --chunk-mb 8 --seed 6
  wait_for_event "$1" oom 150
  sleep 1
}
h_step_leak_b() {      # rarer, larger irregular steps (50-1500 MB, mean gap 3 s), 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL step-leak --mean-rate-mb 120 --min-mb 50 --max-mb 1500 --mean-gap 3 \
    --seed 11 >>"$1"
}
h_var_batch_cached() { # random batches, the caching allocator keeps its blocks: no OOM
  bg "$1" $WL ballast --leave-gb 35 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL var-batch --base-gb 4 --min-gb 2 --max-gb 25 --period 1.0 --duration 45 --seed 12 >>"$1"
}
h_var_batch_b() {      # fast random batches returned each step: no OOM
  bg "$1" $WL ballast --leave-gb 28 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL var-batch --base-gb 6 --min-gb 1 --max-gb 18 --period 0.5 --empty-cache \
    --duration 40 --seed 9 >>"$1"
}
h_plateau_fast() {     # 600 MB/s growth stopping 2 GB short of full, then holding: no OOM
  bg "$1" $WL ballast --leave-gb 20 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 600 --stop-free-gb 2 --hold 15 >>"$1"
}
held_out h_leak_250_jitter:oom h_leak_40:oom h_burst_fast:oom h_two_leakers_b:oom \
  h_step_leak_b:oom h_var_batch_cached:no_oom h_var_batch_b:no_oom h_plateau_fast:no_oom
