# Held-out recordings of session 6, written before they were recorded and scored before
# the predictor saw them (files join tests/fixtures/traces/ without the s6_ prefix only
# after scoring). Use:
#   EXTRA_SCENARIOS=bench/workloads/session6_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s6_train_leak() {        # a real MLP training loop keeping every step's outputs, 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL train-leak --width 4096 --layers 4 --batch 2048 --batch-jitter 0.5 \
    --period 0.2 --seed 61 >>"$1"
}
s6_jax_leak() {          # 150 MB/s of JAX arrays, XLA's allocator growing on demand, 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL jax-leak --rate-mb 150 --chunk-mb 16 --jitter 0.3 --seed 62 >>"$1"
}
s6_decel_plateau() {     # growth from 400 MB/s halving every 6 s, ~2.7 GB short of full: no OOM
  bg "$1" $WL ballast --leave-gb 6 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 400 --halve-s 6 --stop-free-gb 1 --hold 20 >>"$1"
}
s6_leak_after_release() { # a 200 MB/s leak; another process frees its 4 GB 20 s in; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60
  bg "$1" $WL ballast --ballast-gb 4 --hold 24; sleep 4
  timeout 150 $WL leak --rate-mb 200 --chunk-mb 16 --seed 64 >>"$1"
}
s6_leaker_stops() {      # 200 + 100 MB/s until 6 GB are left, then only the 100; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL plateau --rate-mb 200 --stop-free-gb 6 --hold 300
  timeout 150 $WL leak --rate-mb 100 --chunk-mb 8 --seed 65 >>"$1"
}
s6_leak_800_small() {    # a steep leak in little room: 800 MB/s in 32 MB chunks, 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 800 --chunk-mb 32 --jitter 0.3 --seed 66 >>"$1"
}
s6_slow_noisy_far() {    # 40 MB/s in 64 MB chunks of 0-3x, 25 GB left, stops after 60 s: no OOM
  bg "$1" $WL ballast --leave-gb 25 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL leak --rate-mb 40 --chunk-mb 64 --jitter 1.0 --duration 60 --seed 67 >>"$1"
}
held_out s6_train_leak:oom s6_jax_leak:oom s6_decel_plateau:no_oom \
  s6_leak_after_release:oom s6_leaker_stops:oom s6_leak_800_small:oom \
  s6_slow_noisy_far:no_oom
