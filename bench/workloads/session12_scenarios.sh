# A fifth held-out set, written in session 9 after the change that sets a still
# process's load aside (02d0604) and before recording, scored with the predictor as it
# then stands and with 02d0604 (96f0837 and b98284a came after it was written; no
# device machine could be had to record it in session 9). Files join
# tests/fixtures/traces/ without the s12_ prefix only after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session12_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s12_load_beside_leak() {  # a 120 MB/s leak; 15 s in, a process loads ~3 GB at 1.5 GB/s and holds it; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL leak --rate-mb 120 --chunk-mb 8 --seed 121; sleep 15
  bg "$1" $WL plateau --rate-mb 1500 --chunk-mb 128 --stop-free-gb 6.5 --hold 300
  wait_for_event "$1" oom 120
}
s12_swinger_beside_leak() { # a 100 MB/s leak; 10 s in, a process holds 3 GB for 10 s of every 20; 12 GB left
  bg "$1" $WL ballast --leave-gb 12 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL leak --rate-mb 100 --chunk-mb 8 --seed 122; sleep 10
  bg "$1" $WL burst-leak --burst-gb 3 --period 20 --duty 0.5 --leak-mb 0
  wait_for_event "$1" oom 120
}
s12_train_leak_arrival() { # a training loop keeping its outputs; 12 s in, an idle 2 GB process arrives; 10 GB left
  bg "$1" $WL ballast --leave-gb 10 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" timeout 120 $WL train-leak --width 2048 --layers 4 --batch 2048 --batch-jitter 0.3 \
    --period 0.2 --seed 123; sleep 12
  bg "$1" $WL ballast --ballast-gb 2 --hold 300
  wait_for_event "$1" oom 120
}
s12_plateau_with_arrival() { # 80 MB/s growth stopping 2.5 GB short; 15 s in, an idle 1 GB process arrives; no OOM
  bg "$1" $WL ballast --leave-gb 7 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL plateau --rate-mb 80 --chunk-mb 8 --stop-free-gb 2.5 --hold 20; sleep 15
  bg "$1" $WL ballast --ballast-gb 1 --hold 300
  wait_for_event "$1" plateau 120; sleep 20
}
held_out s12_load_beside_leak:oom s12_swinger_beside_leak:oom s12_train_leak_arrival:oom \
  s12_plateau_with_arrival:no_oom
