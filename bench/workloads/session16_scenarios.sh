# A ninth held-out set, written in session 12 before any change of that session and
# before recording it: a slower leak beginning beside a swinger already swinging, an
# irregular step leak beside a swinger, a leak whose pauses are longer than its runs,
# a training loop beside a periodic evaluation, two growers that both stop short, and
# a swinger beside no growth at all with little room. Scored with the predictor as it
# then stands (6b5fee8). Files join tests/fixtures/traces/ without the s16_ prefix only
# after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session16_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s16_swinger_then_slow_leak() { # a process takes 2 GB for 4 s of every 10; 25 s later an 80 MB/s leak starts beside it; 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2 --period 10 --duty 0.4 --leak-mb 0; sleep 25
  bg "$1" timeout 130 $WL leak --rate-mb 80 --chunk-mb 8 --seed 161
  wait_for_event "$1" oom 130
}
s16_step_leak_beside_swinger() { # a process takes 2.5 GB for 5 s of every 15; 10 s later irregular steps of 50-600 MB (~150 MB/s); 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2.5 --period 15 --duty 0.33 --leak-mb 0; sleep 10
  bg "$1" timeout 120 $WL step-leak --mean-rate-mb 150 --min-mb 50 --max-mb 600 --mean-gap 1.5 --seed 162
  wait_for_event "$1" oom 120
}
s16_long_pause_leak() {  # 400 MB/s for 4 s, then 8 s still, again and again; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL leak --rate-mb 400 --chunk-mb 16 --run-s 4 --pause-s 8 --seed 163 >>"$1"
}
s16_train_leak_beside_eval() { # a training loop keeping its outputs; beside it a process takes 2 GB for 5 s of every 20; 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2 --period 20 --duty 0.25 --leak-mb 0; sleep 3
  bg "$1" timeout 130 $WL train-leak --width 4096 --layers 3 --batch 1536 --batch-jitter 0.4 \
    --period 0.2 --seed 164
  wait_for_event "$1" oom 130
}
s16_two_growers_stop() { # 100 MB/s growth stopping 4 GB short, beside a 60 MB/s leak that exits after 30 s; 12 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL leak --rate-mb 60 --chunk-mb 8 --duration 30 --seed 165
  bg "$1" $WL plateau --rate-mb 100 --chunk-mb 8 --stop-free-gb 4 --hold 20
  wait_for_event "$1" plateau 120; sleep 20
}
s16_swinger_near_full() { # no growth: a process takes 3.5 GB for 5 s of every 12 with 5 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 3.5 --period 12 --duty 0.42 --leak-mb 0 --duration 60
  sleep 62
}
held_out s16_swinger_then_slow_leak:oom s16_step_leak_beside_swinger:oom s16_long_pause_leak:oom \
  s16_train_leak_beside_eval:oom s16_two_growers_stop:no_oom s16_swinger_near_full:no_oom
