"""Pocketsphinx WER of the shipped TTS model next to its source voice on everyday sentences.

The grammar sentences of ``dlcli tts evaluate`` are full of names, numbers and dates, on which
pocketsphinx mishears even flite's own rms voice (about 26 % WER). This scores the same two
systems on plain everyday sentences (``everyday_sentences.txt``, none of them a corpus text):
flite rms itself, and the default model's default voice (and, with ``--sampled N``, voices drawn
from its speaker flow; with ``--voices``, corpus voices sharing the sentences).

    OMP_NUM_THREADS=1 python recipes/tts/everyday.py [--model PATH] [--sampled 5] [--voices A,B,...] [--out runs/tts-everyday]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from intelligibility import score  # noqa: E402

from dlcli.audio import load_audio  # noqa: E402
from dlcli.files import write_text_atomic  # noqa: E402
from dlcli.tts.asr import transcribe, wer  # noqa: E402
from dlcli.tts.synth import Synthesizer, Voice  # noqa: E402
from dlcli.tts.text import normalise  # noqa: E402

SENTENCES = Path(__file__).with_name("everyday_sentences.txt")


def flite_rms(sentences: list[str], sample_rate: int) -> dict:
    references, hypotheses = [], []
    with tempfile.TemporaryDirectory() as folder:
        for i, sentence in enumerate(sentences):
            path = Path(folder) / f"{i}.wav"
            subprocess.run(["flite", "-voice", "rms", "-t", normalise(sentence).text, "-o", str(path)], check=True)
            wave, _ = load_audio(path, sample_rate)
            references.append(normalise(sentence).text)
            hypotheses.append(transcribe(wave, sample_rate))
    return {"wer": round(wer(references, hypotheses), 2), "sentences": len(sentences), "heard": hypotheses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a TTS checkpoint (default: the shipped model)")
    parser.add_argument("--sampled", type=int, default=0, help="also N flow-sampled voices (seeds 1..N)")
    parser.add_argument("--voices", default="", help="also these corpus voices, comma-separated, sharing the sentences")
    parser.add_argument("--out", type=Path, default=Path("runs/tts-everyday"))
    args = parser.parse_args()
    sentences = [line.strip() for line in SENTENCES.read_text(encoding="utf-8").splitlines() if line.strip()]
    synth = Synthesizer(args.model)
    results = {
        "flite rms": flite_rms(sentences, synth.audio.sample_rate),
        "default voice": score(synth, sentences, [Voice()], [0]),
    }
    if args.sampled:
        voices = [Voice(sample=True)] * args.sampled
        results[f"{args.sampled} sampled voices"] = score(synth, sentences, voices, list(range(1, args.sampled + 1)))
    if args.voices:
        names = args.voices.split(",")
        results[f"{len(names)} corpus voices"] = score(synth, sentences, [Voice(speaker=n) for n in names], [0])
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "results.json", json.dumps(results, indent=2))
    for name, result in results.items():
        print(f"{name}: WER {result['wer']:.1f} % over {result['sentences']} sentences")


if __name__ == "__main__":
    main()
