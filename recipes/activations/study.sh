#!/usr/bin/env bash
# The activation study of the dissertation's chapter 3 on the real image sets available offline.
#
#   recipes/activations/study.sh quick | bench | digits | spoken-digits | full
#
#   quick          3 seeds x 20 epochs, FC/Conv2/Conv6 on the handwritten digits (minutes)
#   bench          forward+backward time vs ReLU and saved bytes per element, 2^24 elements
#   digits         the figures of docs/BENCHMARKS.md: 10 seeds x 30 epochs, FC and Conv2
#   spoken-digits  the same on log-mel images of the free spoken digits (FSDD_DIR, 3,000 recordings)
#   full           the paper's protocol: 30 seeds x 100 epochs, FC/Conv2/Conv6 (a day of CPU; a GPU helps)
#
# A stopped study continues where it was with the same command (finished runs are kept).
# On a shared CPU machine one thread per process is fastest: OMP_NUM_THREADS=1 (the default here).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DLCLI=${DLCLI:-dlcli}
OUT=${OUT:-runs}
FSDD_DIR=${FSDD_DIR:-../shared/data/free-spoken-digit/recordings}

case "${1:-}" in
quick) $DLCLI activations study --quick --out "$OUT/activations-quick" ;;
bench) $DLCLI activations bench --elements 16777216 --rounds 9 ;;
digits)
  $DLCLI -q activations study --seeds 10 --epochs 30 --architectures fc,conv2 \
    --bench-elements 4194304 --out "$OUT/activations-digits-10x30"
  ;;
spoken-digits)
  $DLCLI -q activations study --dataset spoken-digits --data-dir "$FSDD_DIR" --seeds 5 --epochs 30 \
    --architectures fc,conv2 --bench-elements 0 --out "$OUT/activations-spoken-digits-5x30"
  ;;
full)
  $DLCLI -q activations study --seeds 30 --epochs 100 --architectures fc,conv2,conv6 --out "$OUT/activations-full"
  ;;
*)
  echo "usage: $0 quick|bench|digits|spoken-digits|full" >&2
  exit 2
  ;;
esac
