#!/usr/bin/env bash
# Full-scale figures of docs/BENCHMARKS.md: simulate ~125M rows (54 stores x 5,000 items x 1,688 days),
# build the arrays from train.csv and from train.parquet (time and peak memory), then forecast every
# series with a trimmed model warm-started on that data. Needs ~12 GB of disk under DIR; delete it after.
# ITEMS=1000 runs the same steps on a fifth of the items (~25M rows) when time is short.
# Usage: [ITEMS=N] recipes/forecast/scale.sh DIR MODEL   (MODEL: a trimmed checkpoint, e.g. runs/bench/trimmed)
set -euo pipefail
dir=${1:?usage: scale.sh DIR MODEL}
model=${2:?usage: scale.sh DIR MODEL}
items=${ITEMS:-5000}
# CPU time beside wall time, and the load average before each step: on a shared machine the wall time
# alone says little.
measure() { uptime; /usr/bin/time -f "wall %e s, user %U s, sys %S s, peak RSS %M KB" "$@"; }
[[ -f $dir/full/train.csv ]] || measure dlcli -q forecast synth-data "$dir/full" --scale full --items "$items" --seed 0
measure dlcli forecast prepare "$dir/full" --cache-dir "$dir/cache-csv"
mkdir -p "$dir/full-parquet" && cp "$dir"/full/{items,stores,oil,holidays_events,transactions,test}.csv "$dir/full-parquet/"
[[ -f $dir/full-parquet/train.parquet ]] || measure python -c "import polars as pl, sys; pl.scan_csv(sys.argv[1], schema_overrides={'date': pl.Date}).sink_parquet(sys.argv[2])" "$dir/full/train.csv" "$dir/full-parquet/train.parquet"
measure dlcli forecast prepare "$dir/full-parquet" --cache-dir "$dir/cache-parquet"
# a model with this data's items and stores: one warm-start step from MODEL (weights barely move at lr 1e-9)
dlcli -q --seed 0 forecast train "$dir/full" --cache-dir "$dir/cache-csv" --init-from "$model" --out "$dir/model" \
    --epochs 1 --steps-per-epoch 1 --lr 1e-9 --valid-days 0 --overwrite
for precision in fp32 bf16; do
  for threads in 1 2; do
    echo "predict: $precision, $threads thread(s)"
    OMP_NUM_THREADS=$threads measure dlcli --precision $precision forecast predict "$dir/model/last.pt" "$dir/full" \
        --cache-dir "$dir/cache-csv" --out "$dir/forecast-$precision-$threads.parquet" --json
  done
done
