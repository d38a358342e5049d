#!/usr/bin/env bash
# The forecasting benchmark of docs/BENCHMARKS.md on a CPU: simulate the realistic world, train the
# three models, evaluate them beside the baselines and the oracle. One thread per job (OpenMP threads
# fighting over shared cores are many times slower) and bf16 autocast (AMX/AVX512-BF16).
# Usage: recipes/forecast/benchmark.sh [DATA] [RUNS]
set -euo pipefail
data=${1:-/tmp/fc/realistic}
runs=${2:-runs/bench}
export OMP_NUM_THREADS=1
DLCLI=${DLCLI:-dlcli}
[[ -f $data/train.csv ]] || $DLCLI -q forecast synth-data "$data" --scale realistic --seed 0
for model in trimmed seq2seq transformer; do
  [[ -f $runs/$model/best.pt ]] && continue
  resume=()
  [[ -f $runs/$model/last.pt ]] && resume=(--resume)  # continue an interrupted run; --resume alone is an error
  nice $DLCLI --precision bf16 --seed 0 forecast train "$data" \
      --config "recipes/forecast/cpu-$model.yaml" --out "$runs/$model" "${resume[@]}"
done
nice $DLCLI forecast evaluate "$runs/trimmed" "$runs/seq2seq" "$runs/transformer" "$data" --out "$runs/evaluation"
