# An eighteenth held-out set, written in session 17 after its change (a young growth's
# pause of up to 3 s with the sample to come is a rest, ecf059a) and before recording,
# to test it: stop-go leaks with short rests at other rates (what it was for), a growth
# that stops short of full after a few seconds (what it could get wrong: an alert that
# stands two samples longer), and an ordinary leak. Files join tests/fixtures/traces/
# without the s25_ prefix only after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session25_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s25_stop_go_brief() { # 300 MB/s for 3 s, then 2 s still, again and again; 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 300 --chunk-mb 16 --run-s 3 --pause-s 2 --seed 251 >>"$1"
}
s25_stop_go_slow() { # 120 MB/s for 5 s, then 3 s still, again and again; 5 GB left
  bg "$1" $WL ballast --leave-gb 5 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 120 --chunk-mb 8 --run-s 5 --pause-s 3 --seed 252 >>"$1"
}
s25_short_growth_stops() { # 350 MB/s that stops with 2 GB free (about 10 s of growth) and holds 15 s; 6 GB left; no OOM
  bg "$1" $WL ballast --leave-gb 6 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  $WL plateau --rate-mb 350 --chunk-mb 16 --stop-free-gb 2 --hold 15 >>"$1"
}
s25_leak_150_steady() { # 150 MB/s in 8 MB chunks; 7 GB left
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL leak --rate-mb 150 --chunk-mb 8 --seed 253 >>"$1"
}
held_out s25_stop_go_brief:oom s25_stop_go_slow:oom s25_short_growth_stops:no_oom \
  s25_leak_150_steady:oom
