# Held-out recordings of the end of session 6, written after the session-6 changes and
# before recording, scored with the predictor as it stands then (files join
# tests/fixtures/traces/ without the s7_ prefix only after scoring). Use:
#   EXTRA_SCENARIOS=bench/workloads/session7_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s7_jax_leak_fast() {     # JAX, 400 MB/s of 32 MB arrays, XLA's allocator growing, 16 GB left
  bg "$1" $WL ballast --leave-gb 16 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL jax-leak --rate-mb 400 --chunk-mb 32 --jitter 0.3 --seed 71 >>"$1"
}
s7_bystanders_leave() {  # a 250 MB/s leak; two 3 GB processes exit 15 s apart; 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60
  bg "$1" $WL ballast --ballast-gb 3 --hold 18
  bg "$1" $WL ballast --ballast-gb 3 --hold 33; sleep 5
  timeout 120 $WL leak --rate-mb 250 --chunk-mb 16 --seed 72 >>"$1"
}
s7_grower_stops_late() { # 150 + 150 MB/s until 5 GB are left, then only one; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL plateau --rate-mb 150 --stop-free-gb 5 --hold 300
  timeout 120 $WL leak --rate-mb 150 --chunk-mb 8 --seed 73 >>"$1"
}
s7_slow_far_smooth() {   # 25 MB/s in 4 MB chunks for 50 s, 20 GB left (~13 min to full): no OOM
  bg "$1" $WL ballast --leave-gb 20 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL leak --rate-mb 25 --chunk-mb 4 --duration 50 --seed 74 >>"$1"
}
s7_train_leak_b() {      # a narrower, slower training loop keeping its outputs, 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL train-leak --width 2048 --layers 6 --batch 4096 --batch-jitter 0.3 \
    --period 0.25 --seed 75 >>"$1"
}
s7_decel_plateau_b() {   # growth from 600 MB/s halving every 4 s, ~1.7 GB short of full: no OOM
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 600 --halve-s 4 --stop-free-gb 0.8 --hold 15 >>"$1"
}
held_out s7_jax_leak_fast:oom s7_bystanders_leave:oom s7_grower_stops_late:oom \
  s7_slow_far_smooth:no_oom s7_train_leak_b:oom s7_decel_plateau_b:no_oom
