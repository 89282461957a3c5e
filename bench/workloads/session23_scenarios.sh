# A sixteenth held-out set, written in session 16 after its third change (swings that
# climb together are a consistent floor, f62da32) and before recording: bursts whose
# floor climbs a few steps and then holds (what that change could get wrong), bursts
# on a leak of other periods and sizes (what it was for), and freed random batches in
# little room. Files join tests/fixtures/traces/ without the s23_ prefix only after
# scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session23_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s23_bursts_climb_then_hold() { # 3 GB bursts every 1.5 s whose floor rises 0.3 GB a step for 6 steps, then holds; 3 GB spare; no OOM
  bg "$1" $WL ballast --leave-gb 8.3 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 90 $WL burst-leak --burst-gb 3 --period 1.5 --duty 0.5 --leak-mb 200 --leak-steps 6 --duration 55 >>"$1"
}
s23_fast_bursts_leak() { # 2 GB bursts every 1.2 s on a 100 MB/s leak; 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 100 $WL burst-leak --burst-gb 2 --period 1.2 --duty 0.5 --leak-mb 100 >>"$1"
}
s23_big_bursts_slow_leak() { # 8 GB bursts every 5 s on a 60 MB/s leak; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 100 $WL burst-leak --burst-gb 8 --period 5 --duty 0.5 --leak-mb 60 >>"$1"
}
s23_freed_batches_tight() { # random batches of 1-10 GB every 0.8 s, given back each step, 1.5 GB kept spare; no OOM
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 90 $WL var-batch --base-gb 2 --min-gb 1 --max-gb 10 --period 0.8 --margin-gb 1.5 --empty-cache --duration 55 --seed 231 >>"$1"
}
held_out s23_bursts_climb_then_hold:no_oom s23_fast_bursts_leak:oom s23_big_bursts_slow_leak:oom \
  s23_freed_batches_tight:no_oom
