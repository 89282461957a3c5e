# A twenty-fourth held-out set, written in session 22 after its four changes (code at
# 708b974) and before recording, to measure them on recordings they have not seen: a
# leak into little room, bursts on their own leak beside another leak, bursts every 5 s
# on a leak; no OOM: growth that stops 4 GB short beside a process swinging batches.
# Files join tests/fixtures/traces/ without the s31_ prefix only after scoring. Not
# recorded in session 22 (its device time ran out); recorded in session 23 (H100) before
# any change of that session.
# Use:
#   EXTRA_SCENARIOS=bench/workloads/session31_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s31_leak_into_little_room() { # 120 MB/s in 8 MB chunks; 3 GB left
  bg "$1" $WL ballast --leave-gb 3 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 120 --chunk-mb 8 --seed 311 >>"$1"
}
s31_bursts_own_leak_beside_leak() { # 2.5 GB bursts every 3 s (on 40% of it) on a 40 MB/s leak, beside a 60 MB/s leak; 11 GB left
  bg "$1" $WL ballast --leave-gb 11 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2.5 --period 3 --duty 0.4 --leak-mb 40 --seed 312
  bg "$1" $WL leak --rate-mb 60 --chunk-mb 8 --seed 313
  wait_for_event "$1" oom 150
  sleep 1
}
s31_bursts_5s_on_leak() { # 3.5 GB bursts every 5 s (on 30% of it) on a 60 MB/s leak; 9 GB left
  bg "$1" $WL ballast --leave-gb 9 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 150 $WL burst-leak --burst-gb 3.5 --period 5 --duty 0.3 --leak-mb 60 --seed 314 >>"$1"
}
s31_stops_beside_swinger() { # 200 MB/s until 4 GB are left, held 15 s, beside batches of 1-4 GB every 1.2 s given back; 12 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL var-batch --base-gb 1 --min-gb 1 --max-gb 4 --period 1.2 --margin-gb 2 --duration 60 \
    --empty-cache --seed 315
  sleep 5
  timeout 90 $WL plateau --rate-mb 200 --chunk-mb 16 --stop-free-gb 4 --hold 15 >>"$1"
  sleep 3
}
held_out s31_leak_into_little_room:oom s31_bursts_own_leak_beside_leak:oom \
  s31_bursts_5s_on_leak:oom s31_stops_beside_swinger:no_oom
