# Held-out recordings of session 5, written before they were recorded and scored before
# the predictor saw them (files join tests/fixtures/traces/ without the s5_ prefix only
# after scoring). Use:
#   EXTRA_SCENARIOS=bench/workloads/session5_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s5_accel_leak() {        # a leak from 30 MB/s, 15 MB/s faster every second, 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 30 --accel-mb 15 --chunk-mb 8 --seed 51 >>"$1"
}
s5_stop_go_leak() {      # 250 MB/s for 8 s, then 6 s still, again and again; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 250 --chunk-mb 16 --run-s 8 --pause-s 6 --seed 52 >>"$1"
}
s5_leak_beside_batches() { # a 200 MB/s leak beside cached batches of 1-10 GB, 24 GB left
  bg "$1" $WL ballast --leave-gb 24 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 2 --min-gb 1 --max-gb 10 --period 0.8 --duration 150 \
    --seed 53
  sleep 8
  bg "$1" $WL leak --rate-mb 200 --chunk-mb 8 --seed 54
  wait_for_event "$1" oom 150
  sleep 1
}
s5_leak_noisy_big() {    # 180 MB/s in 64 MB chunks, each 0-3x its size, 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 180 --chunk-mb 64 --jitter 1.0 --seed 55 >>"$1"
}
s5_two_batchers_near_full() { # two cached-batch trainers sharing 30 GB, 3 GB kept free
  bg "$1" $WL ballast --leave-gb 30 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 2 --min-gb 1 --max-gb 14 --period 0.8 --duration 45 \
    --margin-gb 3 --seed 56
  $WL var-batch --base-gb 2 --min-gb 1 --max-gb 14 --period 1.1 --duration 45 \
    --margin-gb 3 --seed 57 >>"$1"
}
held_out s5_accel_leak:oom s5_stop_go_leak:oom s5_leak_beside_batches:oom \
  s5_leak_noisy_big:oom s5_two_batchers_near_full:no_oom
