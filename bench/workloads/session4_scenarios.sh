# Held-out recordings of session 4, recorded and scored before the predictor saw them
# (files join tests/fixtures/traces/ without the s4_ prefix only after scoring). Use:
#   EXTRA_SCENARIOS=bench/workloads/session4_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s4_burst_leak_slow() {   # 6 GB bursts every 6 s (half the time) on a 120 MB/s leak, 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL burst-leak --burst-gb 6 --period 6 --leak-mb 120 --seed 41 >>"$1"
}
s4_two_leakers_unequal() { # 300 and 30 MB/s leaks starting together, 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 30 --chunk-mb 2 --seed 42
  bg "$1" $WL leak --rate-mb 300 --chunk-mb 16 --seed 43
  wait_for_event "$1" oom 150
  sleep 1
}
s4_step_leak_d() {       # steps of 200-1500 MB at exponential gaps (mean 4 s), 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL step-leak --mean-rate-mb 150 --min-mb 200 --max-mb 1500 --mean-gap 4 \
    --seed 44 >>"$1"
}
s4_leak_2000() {         # a 2 GB/s leak in 128 MB chunks, 30 GB left: OOM after ~15 s
  bg "$1" $WL ballast --leave-gb 30 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 2000 --chunk-mb 128 --seed 45 >>"$1"
}
s4_var_batch_near_full() { # batches of 1-22 GB kept by the caching allocator, peak ~2 GB short
  bg "$1" $WL ballast --leave-gb 26 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL var-batch --base-gb 2 --min-gb 1 --max-gb 22 --period 0.8 --duration 45 --seed 46 >>"$1"
}
held_out s4_burst_leak_slow:oom s4_two_leakers_unequal:oom s4_step_leak_d:oom \
  s4_leak_2000:oom s4_var_batch_near_full:no_oom
