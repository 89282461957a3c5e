# A twenty-first held-out set, written in session 19 after that session's three changes
# to the predictor (it stands as at 43221ff) and before recording, to test them on
# recordings they have not seen: a leak beside random batches given back every step
# (other sizes and pace than set 20's), stop-go leaks whose rests are 3 and 5 s, a
# leaker starting soon after another process's last allocation; and kinds already
# known at new parameters: a leak of 100 MB/s in 32 MB chunks, two leakers 5 s apart,
# bursts on a leak; no OOM: growth that stops 3 GB short after about 20 s, random
# batches given back each step beside a flat process. Files join
# tests/fixtures/traces/ without the s28_ prefix only after scoring.
# Use:
#   EXTRA_SCENARIOS=bench/workloads/session28_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s28_leak_beside_freed_batches() { # a 120 MB/s leak beside random batches of 2-6 GB given back each step (1.3 s), 1 GB spare; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 1.5 --min-gb 2 --max-gb 6 --period 1.3 --margin-gb 1 --duration 150 \
    --empty-cache --seed 281
  sleep 5
  bg "$1" $WL leak --rate-mb 120 --chunk-mb 8 --seed 282
  wait_for_event "$1" oom 150
  sleep 1
}
s28_stop_go_rest3() { # 250 MB/s for 5 s, then 3 s still, again and again; 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 250 --chunk-mb 16 --run-s 5 --pause-s 3 --seed 283 >>"$1"
}
s28_stop_go_rest5() { # 150 MB/s for 7 s, then 5 s still, again and again; 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 150 --chunk-mb 16 --run-s 7 --pause-s 5 --seed 284 >>"$1"
}
s28_leak_right_after() { # a 1.5 GB process allocates its last block, and 1 s later a 110 MB/s leak starts beside it; 6 GB left
  bg "$1" $WL ballast --leave-gb 7.5 --hold 300; wait_for_event "$1" ballast 60
  bg "$1" $WL ballast --ballast-gb 1.5 --hold 300; wait_for_count "$1" ballast 2 60; sleep 1
  timeout 120 $WL leak --rate-mb 110 --chunk-mb 8 --seed 285 >>"$1"
}
s28_leak_100_chunky() { # 100 MB/s in 32 MB chunks, each +-30%; 6 GB left
  bg "$1" $WL ballast --leave-gb 6 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 100 --chunk-mb 32 --jitter 0.3 --seed 286 >>"$1"
}
s28_two_leakers_5s() { # 60 and 140 MB/s leaks (8 MB chunks) starting 5 s apart; 11 GB left
  bg "$1" $WL ballast --leave-gb 11 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 60 --chunk-mb 8 --seed 287
  sleep 5
  bg "$1" $WL leak --rate-mb 140 --chunk-mb 8 --seed 288
  wait_for_event "$1" oom 120
  sleep 1
}
s28_bursts_3s_leak() { # 4 GB bursts every 3 s held 40% of it, on an 80 MB/s leak; 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL burst-leak --burst-gb 4 --period 3 --duty 0.4 --leak-mb 80 >>"$1"
}
s28_growth_stops_3gb() { # 300 MB/s that stops with 3 GB free (about 20 s of growth) and holds 15 s; 9 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 300 --chunk-mb 16 --stop-free-gb 3 --hold 15 >>"$1"
}
s28_freed_batches_beside_flat() { # random batches of 1-7 GB given back each step (0.8 s), 2 GB spare, beside a flat 3 GB process; no OOM
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60
  bg "$1" $WL ballast --ballast-gb 3 --hold 300; wait_for_count "$1" ballast 2 60; sleep 2
  timeout 90 $WL var-batch --base-gb 1 --min-gb 1 --max-gb 7 --period 0.8 --margin-gb 2 --duration 45 --empty-cache --seed 289 >>"$1"
}
held_out s28_leak_beside_freed_batches:oom s28_stop_go_rest3:oom s28_stop_go_rest5:oom \
  s28_leak_right_after:oom s28_leak_100_chunky:oom s28_two_leakers_5s:oom s28_bursts_3s_leak:oom \
  s28_growth_stops_3gb:no_oom s28_freed_batches_beside_flat:no_oom
