# Held-out recordings of session 8, written before they were recorded and scored with
# the predictor as it stood at the end of session 6 (c37892c) before any change (files
# join tests/fixtures/traces/ without the s8_ prefix only after scoring). Use:
#   EXTRA_SCENARIOS=bench/workloads/session8_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s8_leak_300_noisy() {    # 300 MB/s in 48 MB chunks, each 0-2x its size, 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 300 --chunk-mb 48 --jitter 1.0 --seed 81 >>"$1"
}
s8_two_leakers_late() {  # an 80 MB/s leak; 15 s later a 200 MB/s one joins; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL leak --rate-mb 80 --chunk-mb 8 --seed 82; sleep 15
  timeout 120 $WL leak --rate-mb 200 --chunk-mb 16 --seed 83 >>"$1"
}
s8_burst_leak_fast() {   # 4 GB bursts every second (half of it) on a 150 MB/s leak, 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL burst-leak --burst-gb 4 --period 1 --leak-mb 150 >>"$1"
}
s8_step_leak_e() {       # steps of 30-900 MB at exponential gaps (mean 2.5 s), ~200 MB/s, 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL step-leak --mean-rate-mb 200 --min-mb 30 --max-mb 900 --mean-gap 2.5 \
    --seed 84 >>"$1"
}
s8_plateau_near() {      # 300 MB/s growth that stops sharply 1.2 GB short of full: no OOM
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 300 --chunk-mb 16 --stop-free-gb 1.2 --hold 20 >>"$1"
}
s8_jax_leak_slow() {     # JAX, 80 MB/s of 16 MB arrays, XLA's allocator growing, 5 GB left
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL jax-leak --rate-mb 80 --chunk-mb 16 --jitter 0.3 --seed 86 >>"$1"
}
s8_accel_leak_b() {      # a leak from 50 MB/s, 20 MB/s faster every second, 20 GB left
  bg "$1" $WL ballast --leave-gb 20 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 50 --accel-mb 20 --chunk-mb 16 --seed 87 >>"$1"
}
s8_var_batch_leak() {    # cached random batches (1-8 GB) beside a 120 MB/s leak, 16 GB left
  bg "$1" $WL ballast --leave-gb 16 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 1 --min-gb 1 --max-gb 8 --period 0.8 \
    --duration 200 --seed 88
  timeout 120 $WL leak --rate-mb 120 --chunk-mb 8 --seed 89 >>"$1"
}
held_out s8_leak_300_noisy:oom s8_two_leakers_late:oom s8_burst_leak_fast:oom \
  s8_step_leak_e:oom s8_plateau_near:no_oom s8_jax_leak_slow:oom s8_accel_leak_b:oom \
  s8_var_batch_leak:oom
