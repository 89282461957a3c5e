# A third held-out set of session 10, written after its last predictor change (memory
# given back once is room until taken again; a swinger's time down widens the slow
# end) and before recording, scored with the predictor as it then stands. Files join
# tests/fixtures/traces/ without the s14_ prefix only after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session14_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s14_two_swingers_beside_leak() { # a 100 MB/s leak; swingers of 2 GB (5 s of every 15) and 1.5 GB (4 s of every 11); 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL leak --rate-mb 100 --chunk-mb 8 --seed 141; sleep 6
  bg "$1" $WL burst-leak --burst-gb 2 --period 15 --duty 0.33 --leak-mb 0; sleep 6
  bg "$1" $WL burst-leak --burst-gb 1.5 --period 11 --duty 0.36 --leak-mb 0
  wait_for_event "$1" oom 120
}
s14_periodic_eval_beside_leak() { # a 100 MB/s leak; a process takes 3 GB for 6 s of every 30 (an evaluation); 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 150 $WL leak --rate-mb 100 --chunk-mb 8 --seed 142; sleep 8
  bg "$1" $WL burst-leak --burst-gb 3 --period 30 --duty 0.2 --leak-mb 0
  wait_for_event "$1" oom 150
}
held_out s14_two_swingers_beside_leak:oom s14_periodic_eval_beside_leak:oom
