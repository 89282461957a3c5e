# A twentieth held-out set, written in session 19 before any change to the predictor
# in that session (it stands as at 415488c). Each is a kind the issue names at
# parameters no recording has: a slow fine leak in little room, a steep noisy leak,
# a leak beside random batches returned every step, bursts of short duty on a
# leak, coarse irregular allocator steps, a stop-go leak with long runs, a JAX leak
# of middling rate; and two no-OOM ones: a fast growth that stops 2.5 GB short of
# full, and batches kept by the caching allocator with 2 GB spare. Files join
# tests/fixtures/traces/ without the s27_ prefix only after scoring.
# Use:
#   EXTRA_SCENARIOS=bench/workloads/session27_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s27_leak_60_fine() { # 60 MB/s in 4 MB chunks; 4 GB left
  bg "$1" $WL ballast --leave-gb 4 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 60 --chunk-mb 4 --seed 271 >>"$1"
}
s27_leak_600_jitter() { # 600 MB/s in 48 MB chunks, each +-50%; 20 GB left
  bg "$1" $WL ballast --leave-gb 20 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 600 --chunk-mb 48 --jitter 0.5 --seed 272 >>"$1"
}
s27_leak_beside_returned() { # a 130 MB/s leak beside random batches of 1-6 GB returned each step (0.7 s); 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 1 --min-gb 1 --max-gb 6 --period 0.7 --margin-gb 0.3 --duration 150 \
    --empty-cache --seed 273
  sleep 6
  bg "$1" $WL leak --rate-mb 130 --chunk-mb 8 --seed 274
  wait_for_event "$1" oom 150
  sleep 1
}
s27_short_bursts_leak() { # 2.5 GB bursts every 2 s held 30% of it, on a 120 MB/s leak; 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL burst-leak --burst-gb 2.5 --period 2 --duty 0.3 --leak-mb 120 >>"$1"
}
s27_step_leak_coarse() { # irregular allocator steps of 100-800 MB, 2.5 s apart on average, ~220 MB/s; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL step-leak --mean-rate-mb 220 --min-mb 100 --max-mb 800 --mean-gap 2.5 --seed 275 >>"$1"
}
s27_stop_go_long() { # 180 MB/s for 6 s, then 4 s still, again and again; 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 180 --chunk-mb 16 --run-s 6 --pause-s 4 --seed 276 >>"$1"
}
s27_jax_leak_250() { # JAX, 250 MB/s of 24 MB arrays +-30%, XLA's allocator growing; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL jax-leak --rate-mb 250 --chunk-mb 24 --jitter 0.3 --seed 277 >>"$1"
}
s27_fast_growth_stops() { # 500 MB/s that stops with 2.5 GB free (about 19 s of growth) and holds 15 s; 12 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 500 --chunk-mb 16 --stop-free-gb 2.5 --hold 15 >>"$1"
}
s27_cached_batches_2gb() { # random batches of 1-9 GB every 1.1 s kept by the caching allocator, 2 GB kept spare; no OOM
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 90 $WL var-batch --base-gb 2 --min-gb 1 --max-gb 9 --period 1.1 --margin-gb 2 --duration 45 --seed 278 >>"$1"
}
held_out s27_leak_60_fine:oom s27_leak_600_jitter:oom s27_leak_beside_returned:oom \
  s27_short_bursts_leak:oom s27_step_leak_coarse:oom s27_stop_go_long:oom s27_jax_leak_250:oom \
  s27_fast_growth_stops:no_oom s27_cached_batches_2gb:no_oom
