# A seventeenth held-out set, written in session 17 before any change of that session,
# with the predictor as it stands at af191fa. Each is a kind the issue names at
# parameters no recording has: a slow smooth leak and a steep noisy one, three leakers
# arriving one after another, a stop-go leak of short runs, bursts on a leak, fine
# irregular allocator steps, a real training loop keeping its outputs; and two no-OOM
# ones: growth that slows by halves and stops short of full, and random batches kept by
# the caching allocator. Files join tests/fixtures/traces/ without the s24_ prefix only
# after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session24_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s24_leak_80() { # 80 MB/s in 16 MB chunks, each +-20%; 5 GB left
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 80 --chunk-mb 16 --jitter 0.2 --seed 241 >>"$1"
}
s24_leak_450_noisy() { # 450 MB/s in 96 MB chunks, each +-60%; 25 GB left
  bg "$1" $WL ballast --leave-gb 25 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 450 --chunk-mb 96 --jitter 0.6 --seed 242 >>"$1"
}
s24_three_leakers_stagger() { # 30, 50 and 70 MB/s leaks starting 8 s apart; 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 30 --chunk-mb 8 --seed 243
  sleep 8
  bg "$1" $WL leak --rate-mb 50 --chunk-mb 8 --seed 244
  sleep 8
  bg "$1" $WL leak --rate-mb 70 --chunk-mb 8 --seed 245
  wait_for_event "$1" oom 120
  sleep 1
}
s24_stop_go_short() { # 220 MB/s for 4 s, then 3 s still, again and again; 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 220 --chunk-mb 16 --run-s 4 --pause-s 3 --seed 246 >>"$1"
}
s24_bursts_leak_mid() { # 3 GB bursts every 2.5 s on a 90 MB/s leak; 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL burst-leak --burst-gb 3 --period 2.5 --duty 0.5 --leak-mb 90 >>"$1"
}
s24_step_leak_fine() { # irregular allocator steps of 20-400 MB, 1.2 s apart on average, ~120 MB/s; 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL step-leak --mean-rate-mb 120 --min-mb 20 --max-mb 400 --mean-gap 1.2 --seed 247 >>"$1"
}
s24_train_leak_mid() { # an MLP of width 4096 under Adam keeping its outputs (2048-row batches +-40%, a step every 0.25 s); 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL train-leak --width 4096 --layers 4 --batch 2048 --batch-jitter 0.4 --period 0.25 --seed 248 >>"$1"
}
# As recorded, the halving never ran its course: `plateau` stops at 3 GB free unless
# --stop-free-gb says otherwise, which came after 3.6 s and 1.9 GB; the recording is
# tests/fixtures/traces/fast_growth_stops_short.jsonl. Kept as it ran.
s24_plateau_halving() { # 400 MB/s halving every 6 s, stopping at a twentieth (about 3.3 GB in all); 5 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 400 --chunk-mb 16 --halve-s 6 --hold 20 >>"$1"
}
s24_cached_batches_mid() { # random batches of 1-7 GB every 0.6 s kept by the caching allocator, 2.5 GB kept spare; no OOM
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 90 $WL var-batch --base-gb 2 --min-gb 1 --max-gb 7 --period 0.6 --margin-gb 2.5 --duration 50 --seed 249 >>"$1"
}
held_out s24_leak_80:oom s24_leak_450_noisy:oom s24_three_leakers_stagger:oom \
  s24_stop_go_short:oom s24_bursts_leak_mid:oom s24_step_leak_fine:oom s24_train_leak_mid:oom \
  s24_plateau_halving:no_oom s24_cached_batches_mid:no_oom
