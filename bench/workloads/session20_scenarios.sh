# A thirteenth held-out set, written in session 14 before recording it, with the
# predictor as it stands at aa987ff (no predictor change this session before it was
# scored). It looks at what synthetic runs of this session showed as false alarms —
# training start-ups whose batch sizes vary, with and without the caching allocator,
# and bursts whose floor climbs for a few steps and then holds — and at big steps per
# burst on a leak. Files join tests/fixtures/traces/ without the s20_ prefix only
# after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session20_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s20_cached_batches_wide() { # batches of 1-16 GB every 0.8 s, the allocator caching them; 3 GB spare; no OOM
  bg "$1" $WL ballast --leave-gb 22 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 100 $WL var-batch --base-gb 2 --min-gb 1 --max-gb 16 --period 0.8 --margin-gb 3 --duration 80 --seed 201 >>"$1"
}
s20_freed_batches_wide() { # batches of 2-12 GB every 0.7 s, given back each step; 3 GB spare; no OOM
  bg "$1" $WL ballast --leave-gb 18 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 100 $WL var-batch --base-gb 2 --min-gb 2 --max-gb 12 --period 0.7 --margin-gb 3 --empty-cache --duration 80 --seed 202 >>"$1"
}
s20_warmup_bursts() { # 3 GB bursts every 3 s whose floor rises 0.9 GB a step for 3 steps, then holds; 4 GB spare; no OOM
  bg "$1" $WL ballast --leave-gb 10.5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 100 $WL burst-leak --burst-gb 3 --period 3 --duty 0.5 --leak-mb 300 --leak-steps 3 --duration 80 >>"$1"
}
s20_big_step_bursts() { # 3 GB bursts every 4 s on a leak of 0.8 GB a step (200 MB/s); 11 GB left
  bg "$1" $WL ballast --leave-gb 11 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 130 $WL burst-leak --burst-gb 3 --period 4 --duty 0.5 --leak-mb 200 >>"$1"
}
s20_leak_beside_cached_batches() { # a 70 MB/s leak beside batches of 1-6 GB every 1 s (cached); 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 1 --min-gb 1 --max-gb 6 --period 1 --margin-gb 1 --duration 200 --seed 203; sleep 12
  bg "$1" timeout 150 $WL leak --rate-mb 70 --chunk-mb 8 --seed 204
  wait_for_event "$1" oom 150
}
held_out s20_cached_batches_wide:no_oom s20_freed_batches_wide:no_oom s20_warmup_bursts:no_oom \
  s20_big_step_bursts:oom s20_leak_beside_cached_batches:oom
