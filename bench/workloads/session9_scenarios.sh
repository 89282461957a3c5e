# Held-out recordings of session 8's second set, written after the session-8 changes
# (acceleration's range, start-up) and before recording, scored with the predictor as
# it then stands (files join tests/fixtures/traces/ without the s9_ prefix only after
# scoring). Use:
#   EXTRA_SCENARIOS=bench/workloads/session9_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s9_accel_leak_c() {      # a leak from 20 MB/s, 10 MB/s faster every second, 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 20 --accel-mb 10 --chunk-mb 8 --jitter 0.2 --seed 91 >>"$1"
}
s9_train_leak_c() {      # a wide, shallow training loop keeping its outputs, 6 GB left
  bg "$1" $WL ballast --leave-gb 6 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL train-leak --width 4096 --layers 3 --batch 1024 --batch-jitter 0.4 \
    --period 0.15 --seed 92 >>"$1"
}
s9_leak_chunky() {       # 120 MB/s in 96 MB chunks, each 0.5-1.5x, 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 120 --chunk-mb 96 --jitter 0.3 --seed 93 >>"$1"
}
s9_leak_then_accel() {   # a 60 MB/s leak; 10 s later another from 20 MB/s, 8 MB/s faster each second; 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL leak --rate-mb 60 --chunk-mb 8 --seed 94; sleep 10
  timeout 120 $WL leak --rate-mb 20 --accel-mb 8 --chunk-mb 8 --seed 95 >>"$1"
}
s9_fast_load_short() {   # a 2 GB/s load in 128 MB chunks that stops 3 GB short of full: no OOM
  bg "$1" $WL ballast --leave-gb 25 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 2000 --chunk-mb 128 --stop-free-gb 3 --hold 20 >>"$1"
}
held_out s9_accel_leak_c:oom s9_train_leak_c:oom s9_leak_chunky:oom s9_leak_then_accel:oom \
  s9_fast_load_short:no_oom
