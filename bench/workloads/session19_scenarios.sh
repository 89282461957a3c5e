# A twelfth held-out set, written in session 13 after its changes (ab89228) and before
# recording it: a stop-go leak of another rhythm, a staircase leak (a step every 10 s,
# nothing between), a leak beside three swingers, a process whose 8 s swing rides on its
# own leak, and three swingers beside each other with no growth and little room. Scored
# with the predictor as it then stands. Files join tests/fixtures/traces/ without the
# s19_ prefix only after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session19_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s19_stop_go_other() { # 300 MB/s for 6 s, then 8 s still, again and again; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 130 $WL leak --rate-mb 300 --chunk-mb 16 --run-s 6 --pause-s 8 --seed 191 >>"$1"
}
s19_staircase_leak() { # 1.2 GB at once every 10 s (2.4 GB/s for 0.5 s, 9.5 s still); 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 130 $WL leak --rate-mb 2400 --chunk-mb 64 --run-s 0.5 --pause-s 9.5 --seed 192 >>"$1"
}
s19_three_swingers_leak() { # a 100 MB/s leak beside 2 GB for 5 s of 15, 1 GB for 2 s of 6, 1.5 GB for 4 s of 20; 13 GB left
  bg "$1" $WL ballast --leave-gb 13 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2 --period 15 --duty 0.33 --leak-mb 0
  bg "$1" $WL burst-leak --burst-gb 1 --period 6 --duty 0.33 --leak-mb 0
  bg "$1" $WL burst-leak --burst-gb 1.5 --period 20 --duty 0.2 --leak-mb 0; sleep 15
  bg "$1" timeout 130 $WL leak --rate-mb 100 --chunk-mb 8 --seed 193
  wait_for_event "$1" oom 130
}
s19_swing_own_leak_fast() { # one process takes 2 GB for 4 s of every 8 and keeps 150 MB/s; 11 GB left
  bg "$1" $WL ballast --leave-gb 11 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 130 $WL burst-leak --burst-gb 2 --period 8 --duty 0.5 --leak-mb 150 >>"$1"
}
# (Recorded in session 13 with 5 GB left, it ran out at t=11.4 s: the three CUDA
# contexts take 0.5 GB each beside the 4.5 GB of swings. Not kept; 8 GB leaves room.)
s19_three_swingers_still() { # no growth: 2 GB for 5 s of 15, 1 GB for 2 s of 6, 1.5 GB for 4 s of 20, 8 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2 --period 15 --duty 0.33 --leak-mb 0 --duration 80
  bg "$1" $WL burst-leak --burst-gb 1 --period 6 --duty 0.33 --leak-mb 0 --duration 80
  bg "$1" $WL burst-leak --burst-gb 1.5 --period 20 --duty 0.2 --leak-mb 0 --duration 80
  sleep 82
}
held_out s19_stop_go_other:oom s19_staircase_leak:oom s19_three_swingers_leak:oom \
  s19_swing_own_leak_fast:oom s19_three_swingers_still:no_oom
