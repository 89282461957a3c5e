# A twenty-fifth held-out set, written in session 23 before any change (code at dc97b6d),
# of kinds the issue names as harder: irregular allocator steps of 64 MB to 1 GB, three
# processes leaking at once, a JAX leak beside a process swinging batches, a steep noisy
# leak; no OOM: growth halving its rate every 12 s that stops about 2 GB short of full.
# Files join tests/fixtures/traces/ without the s32_ prefix only after scoring.
# Recorded in session 23 (H100); three_leakers joined as three_leakers_b (the name was
# taken).
# Use:
#   EXTRA_SCENARIOS=bench/workloads/session32_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s32_step_leak_wide() { # irregular steps of 64-1024 MB, 180 MB/s on average, a step every 2.5 s on average; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL step-leak --mean-rate-mb 180 --min-mb 64 --max-mb 1024 --mean-gap 2.5 --seed 321 >>"$1"
}
s32_three_leakers() { # 40 MB/s; 70 MB/s from 8 s later; 90 MB/s from 16 s later; 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 40 --chunk-mb 8 --seed 322
  sleep 8
  bg "$1" $WL leak --rate-mb 70 --chunk-mb 8 --seed 323
  sleep 8
  bg "$1" $WL leak --rate-mb 90 --chunk-mb 8 --seed 324
  wait_for_event "$1" oom 150
  sleep 1
}
s32_jax_leak_beside_swinger() { # a JAX leak of 100 MB/s in 16 MB chunks beside batches of 1-3 GB every second given back; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 1 --min-gb 1 --max-gb 3 --period 1 --margin-gb 1 --duration 200 \
    --empty-cache --seed 325
  sleep 4
  bg "$1" $WL jax-leak --rate-mb 100 --chunk-mb 16 --seed 326
  wait_for_event "$1" oom 150
  sleep 1
}
s32_leak_600_noisy() { # 600 MB/s in 64 MB chunks, each +-60%; 20 GB left
  bg "$1" $WL ballast --leave-gb 20 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 600 --chunk-mb 64 --jitter 0.6 --seed 327 >>"$1"
}
s32_halving_stops_short() { # 300 MB/s halving every 12 s (4.9 GB in all), about 2 GB short of full, held 20 s; 7 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL plateau --rate-mb 300 --chunk-mb 16 --halve-s 12 --stop-free-gb 2 --hold 20 >>"$1"
}
held_out s32_step_leak_wide:oom s32_three_leakers:oom s32_jax_leak_beside_swinger:oom \
  s32_leak_600_noisy:oom s32_halving_stops_short:no_oom
