#!/usr/bin/env bash
# The distillation experiment of the dissertation's chapter 4, on keyword spotting (35 words):
# three teachers of different sizes and seeds and a small student learn from 80 labelled voices;
# the student is then distilled on clips of 120 other voices, unlabeled, with every blend method
# and several seeds; early stopping on the validation voices, the report on the testing voices.
#
#   recipes/distill/kws.sh data | teachers | student | distill | cost | cost-xception | all
#
# Runs go to runs/distill/ (a stage that stopped continues where it was with the same command).
# On a shared CPU machine one thread per process is fastest: OMP_NUM_THREADS=1 (the default here).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DLCLI=${DLCLI:-dlcli}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-runs/distill}
CORPUS=${CORPUS:-$OUT/corpus}          # any Speech Commands-layout corpus with validation/testing lists
SPLIT=$OUT/split
EPOCHS=${EPOCHS:-15}                   # teacher pre-training
STUDENT_EPOCHS=${STUDENT_EPOCHS:-20}   # student pre-training (on the same labelled voices)
SEEDS=${SEEDS:-3}                      # distillation repetitions per blend
DISTILL_EPOCHS=${DISTILL_EPOCHS:-15}
LR=${LR:-1e-4}                         # the paper's 1e-6 fine-tunes ImageNet models; small models need more

train() { # train RUN SEED WIDTH EPOCHS [MODEL]
  local run=$OUT/$1
  if [[ -f $run/last.pt ]]; then resume=--resume; else resume=--overwrite; fi
  nice $DLCLI -q --seed "$2" kws train "$SPLIT/labelled" --out "$run" --model "${5:-small}" --width "$3" \
    --task 35-words --epochs "$4" --lr 3e-3 $resume
  $DLCLI -q kws evaluate "$run" "$SPLIT/labelled" --json > "$run/test.json"
}

cost() { # cost NAME TRANSFER TEACHER... : the same distillation with the cache, then with the teachers every batch
  local name=$1 transfer=$2; shift 2
  local teachers=() mode flag start end
  for t in "$@"; do teachers+=(--teacher "$t"); done
  for mode in cached naive; do
    flag=; [[ $mode == naive ]] && flag=--no-teacher-cache
    rm -rf "$OUT/$name-$mode"
    start=$(date +%s.%N)
    $DLCLI -q --seed 0 distill "${teachers[@]}" \
      --student $OUT/student-w0.25/best.pt --unlabeled "$transfer" --dev "$SPLIT/labelled" \
      --blend mean --seeds 1 --epochs 10 --early-stopping 100 --lr "$LR" $flag --out "$OUT/$name-$mode"
    end=$(date +%s.%N)
    echo "$mode $(echo "$end - $start" | bc) s" | tee -a "$OUT/$name.txt"
  done
}

stage() {
  case "$1" in
  data) # 300 synthetic voices x 35 words (240/30/30 by voice), then the voice split
    [[ -d $CORPUS ]] || $DLCLI -q kws synth-corpus "$CORPUS" --voices 300 --workers 2
    $PYTHON recipes/distill/kws_split.py "$CORPUS" "$SPLIT" --labelled-voices 80 --transfer-voices 120
    ;;
  teachers) # different sizes and seeds
    train teacher-w1.5 1 1.5 "$EPOCHS"
    train teacher-w1.0 2 1.0 "$EPOCHS"
    train teacher-w0.75 3 0.75 "$EPOCHS"
    ;;
  student) # a small pre-trained student (about a tenth of the largest teacher's weights)
    train student-w0.25 4 0.25 "$STUDENT_EPOCHS"
    ;;
  distill) # every blend method, $SEEDS seeds; --restart is not passed, so finished runs are kept
    nice $DLCLI --seed 0 distill \
      --teacher $OUT/teacher-w1.5/best.pt --teacher $OUT/teacher-w1.0/best.pt --teacher $OUT/teacher-w0.75/best.pt \
      --student $OUT/student-w0.25/best.pt --unlabeled "$SPLIT/transfer" \
      --dev "$SPLIT/labelled" --test "$SPLIT/labelled" --blend all --seeds "$SEEDS" \
      --epochs "$DISTILL_EPOCHS" --lr "$LR" --out $OUT/blends
    ;;
  cost) # wall time: teacher cache vs running the three teachers on every batch, 10 epochs, one blend
    cost cost "$SPLIT/transfer" $OUT/teacher-w1.5/best.pt $OUT/teacher-w1.0/best.pt $OUT/teacher-w0.75/best.pt
    ;;
  cost-xception) # the same with three Xception-1d teachers (width 0.25, 2.0M weights, 1 epoch each: timing
    # only, their accuracy does not matter) on a quarter of the transfer set (1,050 clips)
    for seed in 5 6 7; do
      [[ -f $OUT/teacher-x1d-$seed/best.pt ]] || train teacher-x1d-$seed $seed 0.25 1 xception1d
    done
    mkdir -p "$SPLIT/transfer-1050"
    mapfile -t clips < <(find "$SPLIT/transfer" -maxdepth 1 -name '*.wav' | sort)
    for f in "${clips[@]:0:1050}"; do ln -sfn "$(realpath "$f")" "$SPLIT/transfer-1050/${f##*/}"; done
    cost cost-xception "$SPLIT/transfer-1050" $OUT/teacher-x1d-{5,6,7}/best.pt
    ;;
  all)
    for s in data teachers student distill cost; do stage $s; done
    ;;
  *)
    echo "usage: $0 data|teachers|student|distill|cost|cost-xception|all" >&2
    exit 2
    ;;
  esac
}

stage "${1:-}"
