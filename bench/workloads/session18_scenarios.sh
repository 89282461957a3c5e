# An eleventh held-out set, written in session 13 before any change of that session
# and before recording it: a training loop of very uneven batches (set 10's fourth
# scenario, cut short then), a slow leak beside two swingers of different rhythms, a
# stop-go leak beside a swinger, two swingers beside growth that stops short, and a
# process whose own slow swing rides on its own leak. Scored with the predictor as it
# then stands (216e5cf). Files join tests/fixtures/traces/ without the s18_ prefix only
# after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session18_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s18_train_leak_uneven() { # a training loop of very uneven batches keeping its outputs, 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 130 $WL train-leak --width 4096 --layers 3 --batch 1536 --batch-jitter 0.8 \
    --period 0.25 --seed 181 >>"$1"
}
s18_two_swingers_slow_leak() { # a 90 MB/s leak beside processes taking 2 GB for 5 s of every 16 and 1 GB for 2 s of every 7; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2 --period 16 --duty 0.31 --leak-mb 0
  bg "$1" $WL burst-leak --burst-gb 1 --period 7 --duty 0.29 --leak-mb 0; sleep 15
  bg "$1" timeout 130 $WL leak --rate-mb 90 --chunk-mb 8 --seed 182
  wait_for_event "$1" oom 130
}
s18_stop_go_beside_swinger() { # 300 MB/s for 3 s, then 5 s still, beside a process taking 1.5 GB for 4 s of every 12; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 1.5 --period 12 --duty 0.33 --leak-mb 0; sleep 14
  bg "$1" timeout 130 $WL leak --rate-mb 300 --chunk-mb 16 --run-s 3 --pause-s 5 --seed 183
  wait_for_event "$1" oom 130
}
s18_two_swingers_plateau() { # 100 MB/s growth stopping 4 GB short beside 1.5 GB for 4 s of every 14 and 1 GB for 3 s of every 9; 13 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 13 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 1.5 --period 14 --duty 0.29 --leak-mb 0 --duration 150
  bg "$1" $WL burst-leak --burst-gb 1 --period 9 --duty 0.33 --leak-mb 0 --duration 150; sleep 15
  bg "$1" $WL plateau --rate-mb 100 --chunk-mb 8 --stop-free-gb 4 --hold 20
  wait_for_event "$1" plateau 120; sleep 25
}
s18_slow_swing_own_leak() { # one process takes 3 GB for 5 s of every 12 and keeps 100 MB/s; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 140 $WL burst-leak --burst-gb 3 --period 12 --duty 0.42 --leak-mb 100 >>"$1"
}
held_out s18_train_leak_uneven:oom s18_two_swingers_slow_leak:oom s18_stop_go_beside_swinger:oom \
  s18_two_swingers_plateau:no_oom s18_slow_swing_own_leak:oom
