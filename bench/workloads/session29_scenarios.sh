# A twenty-second held-out set, written in session 20 before any change to the predictor
# (it stands as at c71ce86), to measure it on recordings it has not seen: a slow leak
# beside a process whose batches swing 1-5 GB every 2 s, stop-go leaks resting 4 and 6 s,
# irregular allocator steps of 30-570 MB, a leak that starts after the same process loads
# a 4 GB model, an accelerating leak, a JAX leak with noisy chunks, a leak beside a
# process that bursts on its own small leak; no OOM: growth whose rate halves every 5 s
# until it stops about 2 GB short, and a leak that stops after 25 s beside a swinging process.
# Files join tests/fixtures/traces/ without the s29_ prefix only after scoring.
# Use:
#   EXTRA_SCENARIOS=bench/workloads/session29_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s29_leak_beside_swinger_2s() { # a 70 MB/s leak beside batches of 1-5 GB given back every 2 s, 1 GB spare; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 1 --min-gb 1 --max-gb 5 --period 2 --margin-gb 1 --duration 200 \
    --empty-cache --seed 291
  sleep 6
  bg "$1" $WL leak --rate-mb 70 --chunk-mb 8 --seed 292
  wait_for_event "$1" oom 200
  sleep 1
}
s29_stop_go_rest4() { # 200 MB/s for 6 s, then 4 s still, again and again; 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 200 --chunk-mb 16 --run-s 6 --pause-s 4 --seed 293 >>"$1"
}
s29_stop_go_rest6() { # 300 MB/s for 4 s, then 6 s still, again and again; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 300 --chunk-mb 16 --run-s 4 --pause-s 6 --seed 294 >>"$1"
}
s29_steps_irregular() { # steps of about 30-570 MB at random gaps averaging 2.5 s (120 MB/s on average); 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL step-leak --mean-rate-mb 120 --min-mb 50 --max-mb 900 --mean-gap 2.5 --seed 295 >>"$1"
}
s29_leak_after_load() { # the process loads 4 GB, then leaks 90 MB/s; 11 GB left before the load
  bg "$1" $WL ballast --leave-gb 11 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --ballast-gb 4 --rate-mb 90 --chunk-mb 8 --seed 296 >>"$1"
}
s29_leak_accel() { # 30 MB/s at first, 4 MB/s faster every second; 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 30 --accel-mb 4 --chunk-mb 8 --seed 297 >>"$1"
}
s29_jax_leak_noisy() { # a JAX leak of 140 MB/s in 24 MB arrays, each +-40%; 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL jax-leak --rate-mb 140 --chunk-mb 24 --jitter 0.4 --seed 298 >>"$1"
}
s29_leak_beside_bursts() { # a 60 MB/s leak beside 2 GB bursts every 2 s (half held) on a 30 MB/s leak; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2 --period 2 --duty 0.5 --leak-mb 30 --seed 299
  sleep 4
  bg "$1" $WL leak --rate-mb 60 --chunk-mb 8 --seed 300
  wait_for_event "$1" oom 150
  sleep 1
}
s29_growth_halving() { # 400 MB/s halving every 5 s until it stops (about 2.7 GB in all), held 15 s; 5 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 90 $WL plateau --rate-mb 400 --chunk-mb 16 --stop-free-gb 1 --hold 15 --halve-s 5 >>"$1"
}
s29_leak_stops_beside_swinger() { # a 150 MB/s leak for 25 s (then it exits) beside batches of 1-4 GB every 1.5 s; 12 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 1 --min-gb 1 --max-gb 4 --period 1.5 --margin-gb 1 --duration 60 \
    --empty-cache --seed 301
  sleep 5
  timeout 90 $WL leak --rate-mb 150 --chunk-mb 16 --duration 25 --seed 302 >>"$1"
  sleep 20
}
held_out s29_leak_beside_swinger_2s:oom s29_stop_go_rest4:oom s29_stop_go_rest6:oom \
  s29_steps_irregular:oom s29_leak_after_load:oom s29_leak_accel:oom s29_jax_leak_noisy:oom \
  s29_leak_beside_bursts:oom s29_growth_halving:no_oom s29_leak_stops_beside_swinger:no_oom
