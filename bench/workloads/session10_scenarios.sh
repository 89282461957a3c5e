# A third held-out set of session 8, written after all of the session's predictor
# changes and before recording (files join tests/fixtures/traces/ without the s10_
# prefix only after scoring). Use:
#   EXTRA_SCENARIOS=bench/workloads/session10_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s10_leak_with_arrivals() { # a 150 MB/s leak; idle 1 GB processes arrive 10 s and 20 s in and stay; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL leak --rate-mb 150 --chunk-mb 8 --seed 101; sleep 10
  bg "$1" $WL ballast --ballast-gb 1 --hold 300; sleep 10
  bg "$1" $WL ballast --ballast-gb 1 --hold 300
  wait_for_event "$1" oom 120
}
s10_accel_slow() {       # a leak from 40 MB/s, 5 MB/s faster every second (8 MB chunks), 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 40 --accel-mb 5 --chunk-mb 8 --jitter 0.2 --seed 102 >>"$1"
}
held_out s10_leak_with_arrivals:oom s10_accel_slow:oom
