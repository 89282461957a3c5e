# A fifteenth held-out set, written in session 16 after its change (a trend once made
# is not withdrawn by a bigger rise or a later trough, 949f60c) and before recording:
# what that change could get wrong (bursts whose floor climbs a few steps and then
# holds, bursts on a leak that stops) and what it was for (coarse steps, bursts on a
# leak), and the kind SYNTHETIC runs still fear (random batches kept by the caching
# allocator, little room). Files join tests/fixtures/traces/ without the s22_ prefix
# only after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session22_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s22_warmup_bursts_long() { # 4 GB bursts every 2 s whose floor rises 0.5 GB a step for 4 steps, then holds; 2.5 GB spare; no OOM
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 100 $WL burst-leak --burst-gb 4 --period 2 --duty 0.5 --leak-mb 250 --leak-steps 4 --duration 70 >>"$1"
}
s22_bursts_leak_stops() { # 2 GB bursts every 4 s on a 100 MB/s leak that stops after 8 steps (3.2 GB); 2.3 GB spare; no OOM
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 100 $WL burst-leak --burst-gb 2 --period 4 --duty 0.5 --leak-mb 100 --leak-steps 8 --duration 70 >>"$1"
}
s22_coarse_steps_b() { # irregular steps of 200-1200 MB, 2.5 s apart on average, ~200 MB/s; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 110 $WL step-leak --mean-rate-mb 200 --min-mb 200 --max-mb 1200 --mean-gap 2.5 --seed 221 >>"$1"
}
s22_burst_leak_mid() { # 3 GB bursts every 2.5 s on a 150 MB/s leak; 11 GB left
  bg "$1" $WL ballast --leave-gb 11 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 110 $WL burst-leak --burst-gb 3 --period 2.5 --duty 0.5 --leak-mb 150 >>"$1"
}
s22_cached_batches_tight() { # random batches of 1-12 GB every 1 s kept by the caching allocator, 1.5 GB kept spare; no OOM
  bg "$1" $WL ballast --leave-gb 16 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 100 $WL var-batch --base-gb 2 --min-gb 1 --max-gb 12 --period 1 --margin-gb 1.5 --duration 80 --seed 222 >>"$1"
}
held_out s22_warmup_bursts_long:no_oom s22_bursts_leak_stops:no_oom s22_coarse_steps_b:oom \
  s22_burst_leak_mid:oom s22_cached_batches_tight:no_oom
