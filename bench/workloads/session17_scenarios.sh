# A tenth held-out set, written in session 12 after its changes (39af3ac) and before
# recording it: a periodic evaluation beside a faster leak, two evaluations of
# different rhythms beside a leak, growth stopping short beside a slow swinger, and a
# training loop of very uneven batches. Scored with the predictor as it then stands.
# Files join tests/fixtures/traces/ without the s17_ prefix only after scoring. Use:
#   EXTRA_SCENARIOS=bench/workloads/session17_scenarios.sh bench/workloads/record_all.sh OUT [NAME ...]
s17_eval_beside_fast_leak() { # a process takes 2.5 GB for 4 s of every 15; 20 s later a 150 MB/s leak starts beside it; 11 GB left
  bg "$1" $WL ballast --leave-gb 11 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2.5 --period 15 --duty 0.27 --leak-mb 0; sleep 20
  bg "$1" timeout 100 $WL leak --rate-mb 150 --chunk-mb 16 --seed 171
  wait_for_event "$1" oom 100
}
s17_two_evals_beside_leak() { # a 100 MB/s leak beside processes taking 3 GB for 8 s of every 24 and 1.5 GB for 3 s of every 9; 13 GB left
  bg "$1" $WL ballast --leave-gb 13 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 3 --period 24 --duty 0.33 --leak-mb 0
  bg "$1" $WL burst-leak --burst-gb 1.5 --period 9 --duty 0.33 --leak-mb 0; sleep 12
  bg "$1" timeout 120 $WL leak --rate-mb 100 --chunk-mb 8 --seed 172
  wait_for_event "$1" oom 120
}
s17_swinger_plateau_long() { # a process takes 2 GB for 5 s of every 20; beside it 120 MB/s growth stopping 3 GB short; no OOM
  bg "$1" $WL ballast --leave-gb 11 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  bg "$1" $WL burst-leak --burst-gb 2 --period 20 --duty 0.25 --leak-mb 0 --duration 110; sleep 25
  bg "$1" $WL plateau --rate-mb 120 --chunk-mb 8 --stop-free-gb 3 --hold 20
  wait_for_event "$1" plateau 100; sleep 20
}
s17_train_leak_uneven() { # a training loop of very uneven batches keeping its outputs, 8 GB left
  bg "$1" $WL ballast --leave-gb 8 --hold 300; wait_for_event "$1" ballast 60; sleep 2
  timeout 120 $WL train-leak --width 4096 --layers 3 --batch 1536 --batch-jitter 0.8 \
    --period 0.25 --seed 174 >>"$1"
}
held_out s17_eval_beside_fast_leak:oom s17_two_evals_beside_leak:oom \
  s17_swinger_plateau_long:no_oom s17_train_leak_uneven:oom
