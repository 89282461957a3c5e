# A nineteenth held-out set, written in session 18 before any change to the predictor
# in that session (it stands as at 8b608e6). Each is a kind the issue names at
# parameters no recording has: a coarse jittered leak, two leakers starting together,
# small bursts a little slower than the 1 Hz refresh on a slow leak, a real training
# loop keeping its outputs (a smaller model, a longer run), irregular allocator steps
# of a middling size, a leak that speeds up; and two no-OOM ones: growth that
# plateaus 2 GB short of full after some 40 s, and random batches returned every
# step. Files join tests/fixtures/traces/ without the s26_ prefix only after scoring.
# Use:
#   EXTRA_SCENARIOS=bench/workloads/session26_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s26_leak_200_coarse() { # 200 MB/s in 64 MB chunks, each +-40%; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 200 --chunk-mb 64 --jitter 0.4 --seed 261 >>"$1"
}
s26_two_leakers_together() { # 70 and 110 MB/s leaks (8 MB chunks) starting 1 s apart; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 70 --chunk-mb 8 --seed 262
  sleep 1
  bg "$1" $WL leak --rate-mb 110 --chunk-mb 8 --seed 263
  wait_for_event "$1" oom 120
  sleep 1
}
s26_small_bursts_slow_leak() { # 1 GB bursts every 1.2 s on a 60 MB/s leak; 5 GB left
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL burst-leak --burst-gb 1 --period 1.2 --duty 0.5 --leak-mb 60 >>"$1"
}
s26_train_leak_long() { # an MLP of 6 layers of 2048 under Adam keeping its outputs (1536-row batches +-30%, a step every 0.2 s); 5 GB left
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL train-leak --width 2048 --layers 6 --batch 1536 --batch-jitter 0.3 --period 0.2 --seed 264 >>"$1"
}
s26_step_leak_mid() { # irregular allocator steps of 50-500 MB, 1.8 s apart on average, ~180 MB/s; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL step-leak --mean-rate-mb 180 --min-mb 50 --max-mb 500 --mean-gap 1.8 --seed 265 >>"$1"
}
s26_accel_from_40() { # a leak of 40 MB/s speeding up by 6 MB/s each second; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 40 --accel-mb 6 --chunk-mb 8 --seed 266 >>"$1"
}
s26_plateau_slow() { # 120 MB/s that stops with 2 GB free (about 40 s of growth) and holds 15 s; 7 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 120 --chunk-mb 8 --stop-free-gb 2 --hold 15 >>"$1"
}
s26_batches_returned() { # random batches of 1-12 GB every 0.9 s, returned each step, 3 GB kept spare; no OOM
  bg "$1" $WL ballast --leave-gb 20 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 90 $WL var-batch --base-gb 2 --min-gb 1 --max-gb 12 --period 0.9 --margin-gb 3 --duration 45 --empty-cache --seed 267 >>"$1"
}
held_out s26_leak_200_coarse:oom s26_two_leakers_together:oom s26_small_bursts_slow_leak:oom \
  s26_train_leak_long:oom s26_step_leak_mid:oom s26_accel_from_40:oom \
  s26_plateau_slow:no_oom s26_batches_returned:no_oom
