#!/usr/bin/env bash
# Real-time factor of `dlcli tts synth` (vocoder included) on 20 generated sentences (grammar seed 4321), the model loaded once.
#   bash recipes/tts/rtf.sh [OUT_DIR] [extra synth options, e.g. --model runs/tts-default]
set -euo pipefail
out=${1:-runs/tts-rtf}
shift || true
mkdir -p "$out"
python -c "from dlcli.tts.sentences import SentenceGrammar; print('\n'.join(SentenceGrammar(4321).sentences(20)))" >"$out/sentences.txt"
dlcli -q tts synth --input "$out/sentences.txt" --out "$out/utt.wav" --json "$@" >"$out/reports.jsonl"
python - "$out/reports.jsonl" <<'PY'
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1])]
audio = sum(r["seconds_audio"] for r in rows)
wall = sum(r["seconds_compute"] for r in rows)
cpu = sum(r["cpu_seconds"] for r in rows)
steady = rows[1:]
steady_rtf = sum(r["seconds_compute"] for r in steady) / sum(r["seconds_audio"] for r in steady)
print(
    f"{len(rows)} utterances, {audio:.1f} s of audio: real-time factor {wall / audio:.3f} wall "
    f"({steady_rtf:.3f} after the first utterance), {cpu / audio:.3f} CPU seconds (all threads) per second of audio"
)
PY
