#!/usr/bin/env bash
# Every GPU figure docs/BENCHMARKS.md leaves open, in one run of at most ~8 minutes on one GPU:
#   kws Xception-1d training clips/s (fp32 vs bf16, engine vs bare loop), forecast and TTS steps/s.
# On the lent machine, from the project root (after the wheel line of ../shared/device/wheels.sh):
#   bash recipes/gpu/check.sh            -> JSON lines on stdout and in $OUT/gpu-check.jsonl (or runs/)
#   bash recipes/gpu/check.sh --dry-run  -> the same paths on the CPU with tiny sizes (seconds): plumbing only
# Each part has its own time limit so one slow part cannot starve the others.
set -uo pipefail
cd "$(dirname "$0")/../.."
dry=()
[[ "${1:-}" == "--dry-run" ]] && dry=(--dry-run)
results="${OUT:-runs}/gpu-check.jsonl"
mkdir -p "$(dirname "$results")"
: > "$results"
python=${PYTHON:-python3}
status=0
scale=1
[[ ${#dry[@]} -gt 0 ]] && scale=4  # a shared CPU runs the dry run's tiny sizes slower than the GPU the full ones
run_part() {  # part, seconds on the GPU
  if ! timeout "$(( $2 * scale ))" "$python" recipes/gpu/throughput.py "$1" --results "$results" "${dry[@]}"; then
    echo "{\"figure\": \"$1\", \"error\": \"failed or ran past $(( $2 * scale )) s\"}" | tee -a "$results"
    status=1
  fi
}
if [[ ${#dry[@]} -eq 0 ]]; then
  "$python" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))" || exit 1
fi
run_part kws 180
run_part forecast 150
run_part tts 150
echo "results: $results"
exit $status
