# A fourteenth held-out set, written in session 16 before any change of that session,
# with the predictor as it stands at 9bfdf21. Earlier held-out sets went after the kinds
# the predictor found hardest; this one is mostly the ordinary kinds at parameters no
# recording has (a chunky leak, a steep noisy one, two leakers close together, a real
# training loop that keeps its outputs, JAX, an accelerating leak, small bursts on a
# leak, coarse allocator steps), to measure how the predictor does on what users meet
# most, and two no-OOM ones (growth that stops 1.5 GB short, and set 13's freed wide
# batches, not recorded then). Files join tests/fixtures/traces/ without the s21_ or
# s20_ prefix only after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session21_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
# shellcheck source=/dev/null
source "$HERE/session20_scenarios.sh"
s21_leak_120_chunky() { # 120 MB/s in 48 MB chunks, each +-50%; 6 GB left
  bg "$1" $WL ballast --leave-gb 6 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 120 --chunk-mb 48 --jitter 0.5 --seed 211 >>"$1"
}
s21_leak_700_steep() { # 700 MB/s in 64 MB chunks, each +-40%; 32 GB left
  bg "$1" $WL ballast --leave-gb 32 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 700 --chunk-mb 64 --jitter 0.4 --seed 212 >>"$1"
}
s21_two_leakers_close() { # 60 MB/s, and 100 MB/s starting 5 s later; 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 60 --chunk-mb 8 --seed 213
  sleep 5
  bg "$1" $WL leak --rate-mb 100 --chunk-mb 8 --seed 214
  wait_for_event "$1" oom 120
  sleep 1
}
s21_train_leak_wide() { # an MLP of width 8192 under Adam keeping its outputs (1024-row batches +-80%, a step every 0.3 s); 11 GB left
  bg "$1" $WL ballast --leave-gb 11 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL train-leak --width 8192 --layers 4 --batch 1024 --batch-jitter 0.8 --period 0.3 --seed 215 >>"$1"
}
s21_jax_leak_mid() { # JAX, 200 MB/s of 24 MB arrays (+-50%), XLA's allocator growing, 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL jax-leak --rate-mb 200 --chunk-mb 24 --jitter 0.5 --seed 216 >>"$1"
}
s21_accel_from_20() { # a leak from 20 MB/s, 8 MB/s faster every second (8 MB chunks); 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 20 --accel-mb 8 --chunk-mb 8 --seed 217 >>"$1"
}
s21_small_bursts_leak() { # 1.5 GB bursts every 1.5 s on a 120 MB/s leak; 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL burst-leak --burst-gb 1.5 --period 1.5 --duty 0.5 --leak-mb 120 >>"$1"
}
s21_coarse_steps() { # irregular allocator steps of 100-1500 MB, 3 s apart on average, ~180 MB/s; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL step-leak --mean-rate-mb 180 --min-mb 100 --max-mb 1500 --mean-gap 3 --seed 218 >>"$1"
}
s21_plateau_close() { # 300 MB/s that stops 1.5 GB short of full and holds 20 s; 14 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 300 --chunk-mb 16 --stop-free-gb 1.5 --hold 20 >>"$1"
}
held_out s21_leak_120_chunky:oom s21_leak_700_steep:oom s21_two_leakers_close:oom \
  s21_train_leak_wide:oom s21_jax_leak_mid:oom s21_accel_from_20:oom s21_small_bursts_leak:oom \
  s21_coarse_steps:oom s21_plateau_close:no_oom s20_freed_batches_wide:no_oom
