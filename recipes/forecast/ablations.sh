#!/usr/bin/env bash
# The paper's ablations on simulated data with the trimmed model: the random max time step trick on/off,
# history 0/1/10/75/200; and this implementation's own switches (decoder inputs, level normalisation).
# Usage: recipes/forecast/ablations.sh [DATA] [RUNS]
set -euo pipefail
data=${1:-/tmp/fc/realistic}
runs=${2:-runs/ablations}
export OMP_NUM_THREADS=1
train() {  # name, options...
  local name=$1; shift
  [[ -f $runs/$name/best.pt ]] || nice dlcli -q --precision bf16 --seed 0 forecast train "$data" \
      --config recipes/forecast/cpu-ablation.yaml --out "$runs/$name" --resume "$@"
}
for history in 0 1 10 75 200; do train "history-$history" --history "$history"; done
train no-trick --history 75 --no-random-present
train no-decoder-inputs --history 75 --no-decoder-inputs
train no-normalize --history 75 --no-normalize
nice dlcli forecast evaluate "$runs"/history-{0,1,10,75,200} "$runs"/no-trick "$runs"/no-decoder-inputs \
    "$runs"/no-normalize "$data" --out "$runs/evaluation" --baselines seasonal-naive,lightgbm
