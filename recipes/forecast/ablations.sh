#!/usr/bin/env bash
# The paper's ablations on simulated data with the trimmed model: the random max time step trick on/off,
# history 0/1/10/75/200; and this implementation's own switches (decoder inputs, level normalisation).
# Usage: [SEED=N] recipes/forecast/ablations.sh [DATA] [RUNS] [all|trick|history|switches]
#   trick     history 75 with and without the trick (2 runs, ~15 min each on one core)
#   history   history 0/1/10/75/200 (5 runs)
#   switches  history 75 without decoder inputs / without normalisation (2 runs, plus history-75)
# Finished runs are kept, so parts can be run one after another; the evaluation covers every finished run.
# docs/BENCHMARKS.md: SEED=0, 1 and 2 into runs/ablations, runs/ablations-seed1, runs/ablations-seed2.
set -euo pipefail
data=${1:-/tmp/fc/realistic}
runs=${2:-runs/ablations}
part=${3:-all}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DLCLI=${DLCLI:-dlcli}
[[ -f $data/train.csv ]] || $DLCLI -q forecast synth-data "$data" --scale realistic --seed 0
train() {  # name, options...: a finished run is kept, an interrupted one resumed, a new one started
  local name=$1 resume=(); shift
  [[ -f $runs/$name/best.pt ]] && return
  [[ -f $runs/$name/last.pt ]] && resume=(--resume)
  nice $DLCLI -q --precision bf16 --seed "${SEED:-0}" forecast train "$data" \
      --config recipes/forecast/cpu-ablation.yaml --out "$runs/$name" "${resume[@]}" "$@"
}
case $part in
all | history) for history in 0 1 10 75 200; do train "history-$history" --history "$history"; done ;;&
all | trick | switches) train history-75 --history 75 ;;&
all | trick) train no-trick --history 75 --no-random-present ;;&
all | switches)
  train no-decoder-inputs --history 75 --no-decoder-inputs
  train no-normalize --history 75 --no-normalize
  ;;&
all | trick | history | switches) ;;
*) echo "usage: $0 [DATA] [RUNS] [all|trick|history|switches]" >&2; exit 2 ;;
esac
finished=()
for name in history-{0,1,10,75,200} no-trick no-decoder-inputs no-normalize; do
  [[ -f $runs/$name/best.pt ]] && finished+=("$runs/$name")
done
nice $DLCLI forecast evaluate "${finished[@]}" "$data" --out "$runs/evaluation-$part" \
    --baselines "${BASELINES:-seasonal-naive,lightgbm}"
