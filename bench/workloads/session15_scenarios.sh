# An eighth held-out set, written in session 11 after the change that reads a swing up
# and all the way back while another process grows as a swing (07d0cd8) and before
# recording it: swingers that were already swinging when the growth began, and a short
# swinger beside growth that stops short. Scored with the predictor as it then stands.
# Files join tests/fixtures/traces/ without the s15_ prefix only after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session15_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s15_swinger_then_leak() { # a process takes 2.5 GB for 2 s of every 6; 20 s later a 100 MB/s leak starts beside it; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2.5 --period 6 --duty 0.33 --leak-mb 0; sleep 20
  bg "$1" timeout 120 $WL leak --rate-mb 100 --chunk-mb 8 --seed 151
  wait_for_event "$1" oom 120
}
s15_slow_swinger_then_leak() { # a process takes 3 GB for 10 s of every 20; 15 s later an 80 MB/s leak starts beside it; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 3 --period 20 --duty 0.5 --leak-mb 0; sleep 15
  bg "$1" timeout 150 $WL leak --rate-mb 80 --chunk-mb 8 --seed 152
  wait_for_event "$1" oom 150
}
s15_short_swinger_plateau() { # a process takes 2.5 GB for 2 s of every 6; beside it, 100 MB/s growth stopping 4 GB short; no OOM
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2.5 --period 6 --duty 0.33 --leak-mb 0 --duration 100; sleep 7
  bg "$1" $WL plateau --rate-mb 100 --chunk-mb 8 --stop-free-gb 4 --hold 20
  wait_for_event "$1" plateau 120; sleep 20
}
held_out s15_swinger_then_leak:oom s15_slow_swinger_then_leak:oom s15_short_swinger_plateau:no_oom
