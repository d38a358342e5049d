#!/usr/bin/env bash
# Keyword-spotting benchmarks of docs/BENCHMARKS.md, stage by stage:
#   recipes/kws/benchmark.sh corpus | small ACTIVATION | xception ACTIVATION | digits | speed | export
# Runs go to runs/bench/ (resumable: a stage that stopped continues with the same command and RESUME=1).
# On a shared CPU machine one thread per process is fastest: OMP_NUM_THREADS=1 (the default here).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DLCLI=${DLCLI:-dlcli}
OUT=runs/bench
CORPUS=$OUT/corpus300
SHARED=${SHARED:-../shared/data}
NOISE=$SHARED/speech-commands-background-noise
RESUME=${RESUME:+--resume}
EPOCHS_SMALL=${EPOCHS_SMALL:-6}
EPOCHS_DIGITS=${EPOCHS_DIGITS:-10}
EPOCHS_TUNE=${EPOCHS_TUNE:-5}

case "${1:-}" in
corpus) # 300 voices x 35 words, speaker-disjoint 240/30/30
  $DLCLI -q kws synth-corpus $CORPUS --voices 300 --workers 2
  ;;
small) # the small model on the four tasks of the dissertation (TASKS="..." picks some; PARALLEL=1 runs them at once)
  activation=${2:-relu}
  small_task() {
    local run=$OUT/small-$activation-$1
    nice $DLCLI -q kws train $CORPUS --out $run --model small --task $1 --activation $activation \
      --epochs $EPOCHS_SMALL ${RESUME:---overwrite}
    $DLCLI -q kws evaluate $run $CORPUS --negatives $NOISE --json > $run/test.json
  }
  for task in ${TASKS:-35-words 20-commands 10-commands left-right}; do
    if [[ -n ${PARALLEL:-} ]]; then small_task $task & else small_task $task; fi
  done
  wait
  ;;
xception) # Xception-1d within a bounded CPU budget: 35 words, 3200 training clips, 2 epochs
  activation=${2:-relu}
  run=$OUT/x1d-$activation-35-words
  nice $DLCLI -q kws train $CORPUS --out $run --task 35-words --activation $activation --epochs 2 \
    --max-train-clips 3200 --max-validation-clips 350 ${RESUME:---overwrite}
  $DLCLI -q kws evaluate $run $CORPUS --json > $run/test.json
  ;;
digits) # synthetic -> real: 4 real speakers to train, the other 2 to test
  ${PYTHON:-python3} recipes/kws/fsdd_layout.py $SHARED/free-spoken-digit/recordings $OUT/fsdd --test-speakers lucas,theo
  nice $DLCLI -q kws train $CORPUS --out $OUT/digits-synthetic --model small --task digits \
    --background $NOISE --epochs $EPOCHS_DIGITS ${RESUME:---overwrite}
  nice $DLCLI -q kws train $OUT/fsdd --out $OUT/digits-real --model small --task digits \
    --background $NOISE --epochs $EPOCHS_DIGITS ${RESUME:---overwrite}
  nice $DLCLI -q kws train $OUT/fsdd --out $OUT/digits-synthetic-then-real --model small --task digits \
    --background $NOISE --epochs $EPOCHS_TUNE --init $OUT/digits-synthetic/best.pt ${RESUME:---overwrite}
  for run in digits-synthetic digits-real digits-synthetic-then-real; do
    $DLCLI -q kws evaluate $OUT/$run $OUT/fsdd --negatives $NOISE --json > $OUT/$run/test-real.json
  done
  $DLCLI -q kws evaluate $OUT/digits-synthetic $CORPUS --negatives $NOISE --json > $OUT/digits-synthetic/test-synthetic.json
  ;;
speed) # clips/s on this machine (2 threads): torch vs ONNX Runtime, end-to-end infer vs the model alone (after digits)
  # throughput does not depend on the weights: without a trained Xception-1d, one step on 32 clips makes one
  [[ -f $OUT/x1d-relu-35-words/best.pt ]] || $DLCLI -q kws train $CORPUS --out $OUT/x1d-relu-35-words \
    --task 35-words --epochs 1 --max-train-clips 32 --max-validation-clips 32 --augment none --overwrite
  for run in small-relu-35-words x1d-relu-35-words; do
    clips=512 rounds=9; [[ $run == x1d* ]] && clips=64 rounds=3
    # the real digit recordings: 8 kHz FLAC of assorted lengths, so decoding and resampling are part of the work
    OMP_NUM_THREADS=${SPEED_THREADS:-2} $DLCLI -q kws bench $OUT/$run --folder $OUT/fsdd --clips $clips \
      --rounds $rounds --batch-size 32 --json > $OUT/$run/speed.json
  done
  ;;
export) # ONNX and int8 exports with the accuracy and speed of each (after small relu and digits)
  $DLCLI -q kws export $OUT/small-relu-35-words --onnx $OUT/small-relu-35-words/model.onnx --int8 \
    --data $CORPUS --json > $OUT/small-relu-35-words/export.json
  $DLCLI -q kws export $OUT/digits-synthetic-then-real --onnx $OUT/digits-synthetic-then-real/model.onnx --int8 \
    --data $OUT/fsdd --json > $OUT/digits-synthetic-then-real/export.json
  ;;
*)
  echo "usage: $0 corpus | small ACTIVATION | xception ACTIVATION | digits | speed | export" >&2
  exit 2
  ;;
esac
