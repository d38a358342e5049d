#!/usr/bin/env bash
# Real weekly retail data: Dominick's refrigerated orange juice (913 store x brand series, 121 weeks).
# 1. oj_weekly.parquet + stores.csv -> one long-format file (price/deal/feat known in advance, store and
#    brand static categories, the store demographics numeric static); absent weeks were not recorded,
#    so the data is read with --missing unknown (never trained on, never scored).
# 2. Tuning: a backtest on 3 rolling origins that all end before the final 8 weeks (--holdout 8: never read).
# 3. The reported figures: one origin, the final 8 weeks, every model and baseline, each trained on the
#    weeks before it only. Same defaults as `dlcli forecast train` with only the column options.
# 4. (ABLATE=1) the ablations of docs/BENCHMARKS.md on the last tuning origin, 3 seeds.
# Usage: recipes/forecast/dominicks.sh [SOURCE_FOLDER] [RUNS]     (about 40 minutes on 2 busy cores; ABLATE=1: +40)
set -euo pipefail
source_folder=${1:-../shared/data/dominicks-orange-juice}
runs=${2:-runs/dominicks}
DLCLI=${DLCLI:-dlcli}
PYTHON=${PYTHON:-python}
export OMP_NUM_THREADS=1
[[ -f $source_folder/oj_weekly.parquet ]] || { echo "$source_folder/oj_weekly.parquet: not found" >&2; exit 2; }
data=$runs/oj_long.parquet
[[ -f $data ]] || $PYTHON recipes/forecast/dominicks_long.py "$source_folder" "$data"
columns=(--series-col series --date-col date --value-col units --static-cols store,brand
         --future-cols price,deal,feat --missing unknown
         --static-numeric-cols age60,educ,ethnic,income,hhlarge,workwom,hval150,sstrdist,sstrvol,cpdist5,cpwvol5)
all=net,lightgbm,lightgbm-l2,lightgbm-fixed,seasonal-naive,naive,blend,autoets,autotheta
tuning=net,lightgbm,lightgbm-l2,lightgbm-fixed,seasonal-naive,naive,blend  # statsforecast: final period only (slow)
[[ -f $runs/tune/report.md ]] || nice $DLCLI --seed 0 forecast backtest "$data" "${columns[@]}" --horizon 8 \
    --origins 3 --holdout 8 --models "${MODELS:-$tuning}" --out "$runs/tune"
[[ -f $runs/final/report.md ]] || nice $DLCLI --seed 0 forecast backtest "$data" "${columns[@]}" --horizon 8 \
    --origins 1 --holdout 0 --models "${MODELS:-$all}" --out "$runs/final"
cat "$runs/final/report.md"
if [[ ${ABLATE:-0} == 1 ]]; then
  # each variant x 3 seeds, one network (--ensemble 1) unless the variant is the ensemble, on the last tuning origin,
  # with the early-stopping patience of 5 that was the default when docs/BENCHMARKS.md's table was measured
  declare -A variants=(
    [default-single]="--ensemble 1 --early-stopping 5"
    [loss-mse-log1p]="--ensemble 1 --early-stopping 5 --loss mse-log1p"
    [loss-mae-units]="--ensemble 1 --early-stopping 5 --loss mae"
    [no-seasonal-input]="--ensemble 1 --early-stopping 5 --no-seasonal-input"
    [no-early-stopping]="--ensemble 1 --early-stopping 1000 --epochs 30"
    [ensemble-3]="--ensemble 3 --early-stopping 5"
  )
  for name in "${!variants[@]}"; do
    for seed in 0 1 2; do
      folder=$runs/ablation/$name-seed$seed
      # shellcheck disable=SC2086
      [[ -f $folder/report.md ]] || nice $DLCLI -q --seed $seed forecast backtest "$data" "${columns[@]}" --horizon 8 \
          --origins 1 --holdout 8 --models net ${variants[$name]} --out "$folder"
    done
  done
  $PYTHON recipes/forecast/backtest_table.py "$runs"/ablation/*
fi
