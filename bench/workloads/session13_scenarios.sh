# A sixth held-out set, written in session 10 after the change that holds what a still
# process gives back beside a growth (e32e906) and before recording it: processes that
# give memory back beside a leak and take it again, or do not, or leave; and one where
# growth stops short beside a swinger. Scored with the predictor as it then stands.
# Files join tests/fixtures/traces/ without the s13_ prefix only after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session13_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s13_short_bursts_beside_leak() { # a 120 MB/s leak; 10 s in, a process takes 2.5 GB for 3 s of every 12; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL leak --rate-mb 120 --chunk-mb 8 --seed 131; sleep 10
  bg "$1" $WL burst-leak --burst-gb 2.5 --period 12 --duty 0.25 --leak-mb 0
  wait_for_event "$1" oom 120
}
s13_oneshot_beside_leak() { # a 100 MB/s leak; 12 s in, a process takes 4 GB for 10 s, gives it back and stays; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 150 $WL leak --rate-mb 100 --chunk-mb 8 --seed 132; sleep 12
  bg "$1" $WL burst-leak --burst-gb 4 --period 200 --duty 0.05 --leak-mb 0
  wait_for_event "$1" oom 150
}
s13_swinger_plateau() { # 80 MB/s growth stopping 4 GB short; beside it a process takes 2 GB for 8 s of every 16; no OOM
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2 --period 16 --duty 0.5 --leak-mb 0 --duration 110; sleep 6
  bg "$1" $WL plateau --rate-mb 80 --chunk-mb 8 --stop-free-gb 4 --hold 20
  wait_for_event "$1" plateau 120; sleep 20
}
s13_swinger_departs() { # a 100 MB/s leak; a process taking 3 GB for 10 s of every 20 beside it leaves after ~40 s; 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 160 $WL leak --rate-mb 100 --chunk-mb 8 --seed 134; sleep 8
  bg "$1" $WL burst-leak --burst-gb 3 --period 20 --duty 0.5 --leak-mb 0 --duration 35
  wait_for_event "$1" oom 160
}
s13_swinger_arrives_late() { # a 100 MB/s leak; 35 s in, a process taking 2 GB for 3 s of every 10 arrives; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL leak --rate-mb 100 --chunk-mb 8 --seed 135; sleep 35
  bg "$1" $WL burst-leak --burst-gb 2 --period 10 --duty 0.3 --leak-mb 0
  wait_for_event "$1" oom 120
}
held_out s13_short_bursts_beside_leak:oom s13_oneshot_beside_leak:oom s13_swinger_plateau:no_oom \
  s13_swinger_departs:oom s13_swinger_arrives_late:oom
