# A fourth held-out set, written at the start of session 9, before any predictor change
# of that session, and scored with the predictor as session 8 left it (files join
# tests/fixtures/traces/ without the s11_ prefix only after scoring). Use:
#   EXTRA_SCENARIOS=bench/workloads/session11_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s11_leak_steep_noisy() { # 500 MB/s in 64 MB chunks, each 0.5-1.5x, 25 GB left
  bg "$1" $WL ballast --leave-gb 25 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 500 --chunk-mb 64 --jitter 0.5 --seed 111 >>"$1"
}
s11_two_leakers_uneven() { # a 40 MB/s leak; 5 s later a 150 MB/s one beside it; 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL leak --rate-mb 40 --chunk-mb 4 --seed 112; sleep 5
  timeout 120 $WL leak --rate-mb 150 --chunk-mb 16 --jitter 0.2 --seed 113 >>"$1"
}
s11_burst_slow_leak() {  # 4 GB bursts every 3 s (40% of it held) on an 80 MB/s leak, 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL burst-leak --burst-gb 4 --period 3 --duty 0.4 --leak-mb 80 --seed 114 >>"$1"
}
s11_step_leak_f() {      # irregular steps of 50-400 MB, about 1 s apart, 120 MB/s on average, 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL step-leak --mean-rate-mb 120 --min-mb 50 --max-mb 400 --mean-gap 1 \
    --seed 115 >>"$1"
}
s11_train_leak_d() {     # a deep, narrow training loop keeping its outputs, 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL train-leak --width 1024 --layers 8 --batch 4096 --batch-jitter 0.3 \
    --period 0.1 --seed 116 >>"$1"
}
s11_plateau_slow_near() { # growth of 100 MB/s that stops 1.5 GB short of full and holds: no OOM
  bg "$1" $WL ballast --leave-gb 6 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 100 --chunk-mb 8 --stop-free-gb 1.5 --hold 20 >>"$1"
}
held_out s11_leak_steep_noisy:oom s11_two_leakers_uneven:oom s11_burst_slow_leak:oom \
  s11_step_leak_f:oom s11_train_leak_d:oom s11_plateau_slow_near:no_oom
