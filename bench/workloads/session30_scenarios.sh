# A twenty-third held-out set, written in session 21 after its first change (a pause held
# until it and the sample to come span 5 s; code at 3fea73e) and before any other, to
# measure the predictor on recordings it has not seen: a steep noisy leak, two leakers
# starting 15 s apart, a real training loop keeping its outputs, bursts every 4 s on a
# slow leak, a fast stop-go leak resting 3 s, a leak beside batches the caching allocator
# keeps; no OOM: growth that stops 1.5 GB short of full and holds, and a load of 7 GB in
# 5 s that stops 2 GB short.
# Files join tests/fixtures/traces/ without the s30_ prefix only after scoring.
# Recorded in session 22 (H100); leak_250_jitter joined as leak_250_jitter_b and
# train_leak_mid as open/train_leak_mid_b (the names were taken).
# Use:
#   EXTRA_SCENARIOS=bench/workloads/session30_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s30_leak_250_jitter() { # 250 MB/s in 32 MB chunks, each +-50%; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 250 --chunk-mb 32 --jitter 0.5 --seed 303 >>"$1"
}
s30_two_leakers_staggered() { # 60 MB/s, and from 15 s later 120 MB/s beside it; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 60 --chunk-mb 8 --seed 304
  sleep 15
  bg "$1" $WL leak --rate-mb 120 --chunk-mb 8 --seed 305
  wait_for_event "$1" oom 150
  sleep 1
}
s30_train_leak_mid() { # an MLP of 2 layers of 8192 training on batches of 307-1229 every 0.2 s, keeping its outputs (~125 MB/s); 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL train-leak --width 8192 --layers 2 --batch 768 --batch-jitter 0.6 --period 0.2 \
    --seed 306 >>"$1"
}
s30_bursts_4s_on_leak() { # 3 GB bursts every 4 s (held 30% of it) on a 70 MB/s leak; 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL burst-leak --burst-gb 3 --period 4 --duty 0.3 --leak-mb 70 --seed 307 >>"$1"
}
s30_stop_go_fast() { # 400 MB/s for 3 s, then 3 s still, again and again; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 400 --chunk-mb 32 --run-s 3 --pause-s 3 --seed 308 >>"$1"
}
s30_leak_beside_cached() { # a 100 MB/s leak beside batches of 2-6 GB every second that the allocator keeps; 14 GB left
  bg "$1" $WL ballast --leave-gb 14 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 1 --min-gb 2 --max-gb 6 --period 1 --margin-gb 1 --duration 200 \
    --seed 309
  sleep 6
  bg "$1" $WL leak --rate-mb 100 --chunk-mb 8 --seed 310
  wait_for_event "$1" oom 150
  sleep 1
}
s30_stops_near_full() { # 120 MB/s until 1.5 GB are left, then held 20 s; 7 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL plateau --rate-mb 120 --chunk-mb 8 --stop-free-gb 1.5 --hold 20 >>"$1"
}
s30_fast_load_stops() { # 1.5 GB/s in 64 MB chunks until 2 GB are left, then held 20 s; 9 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 90 $WL plateau --rate-mb 1500 --chunk-mb 64 --stop-free-gb 2 --hold 20 >>"$1"
}
held_out s30_leak_250_jitter:oom s30_two_leakers_staggered:oom s30_train_leak_mid:oom \
  s30_bursts_4s_on_leak:oom s30_stop_go_fast:oom s30_leak_beside_cached:oom \
  s30_stops_near_full:no_oom s30_fast_load_stops:no_oom
