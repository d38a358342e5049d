"""Pocketsphinx WER of TTS checkpoints on sentences no training text contained; WER-vs-steps PNG.

The sentences are those ``dlcli tts evaluate`` uses (its grammar seed, the corpus's texts
excluded). Voices: the model's default voice (``--default``), a few corpus voices split over
the sentences (``--voices``), or voices drawn from the speaker flow, one seed per share of the
sentences (``--sampled``). Results accumulate in ``OUT/results.json`` (a checkpoint already
scored is not scored again), so checkpoints can be added as training goes on.

    OMP_NUM_THREADS=1 python recipes/tts/intelligibility.py runs/tts-fastspeech/snapshot-*.pt \
        runs/tts-fastspeech/last.pt --corpus runs/corpus-aligned --default --out runs/tts-wer-curve
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from dlcli.files import write_text_atomic
from dlcli.tts.asr import transcribe, wer
from dlcli.tts.corpus import read_corpus
from dlcli.tts.evaluate import EvaluateConfig
from dlcli.tts.sentences import SentenceGrammar
from dlcli.tts.synth import Synthesizer, Voice
from dlcli.tts.text import normalise


def score(synth: Synthesizer, sentences: list[str], voices: list[Voice], seeds: list[int]) -> dict:
    """WER over ``sentences``, the i-th spoken by voices[i % len(voices)] with seeds[i % len(seeds)]."""
    references, hypotheses, audio_seconds, compute_seconds = [], [], 0.0, 0.0
    for i, sentence in enumerate(sentences):
        started = time.process_time()
        wave = synth.synthesize(sentence, voices[i % len(voices)], seed=seeds[i % len(seeds)])
        compute_seconds += time.process_time() - started
        audio_seconds += len(wave) / synth.audio.sample_rate
        references.append(normalise(sentence).text)
        hypotheses.append(transcribe(wave, synth.audio.sample_rate))
    return {
        "wer": round(wer(references, hypotheses), 2),
        "sentences": len(sentences),
        "cpu_rtf": round(compute_seconds / max(audio_seconds, 1e-9), 4),
        "heard": hypotheses,
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    top = 100
    for vocoder in sorted({r.get("vocoder", "auto") for r in results.values()}):
        points = sorted(
            (r["step"], r["default"]["wer"]) for r in results.values() if "default" in r and r.get("vocoder") == vocoder
        )
        if points:
            axis.plot([p[0] for p in points], [p[1] for p in points], "o-", label=vocoder)
            top = max(top, max(p[1] for p in points))
    axis.legend()
    axis.set_xlabel("training step")
    axis.set_ylabel("pocketsphinx WER % (default voice)")
    axis.set_ylim(0, top)
    axis.grid(alpha=0.3)
    axis.set_title("duration model: WER on unseen sentences vs training steps")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=30)
    parser.add_argument("--default", action="store_true", help="score the default voice")
    parser.add_argument("--voices", default="", help="comma-separated corpus voices sharing the sentences")
    parser.add_argument("--sampled", type=int, default=0, help="flow-sampled voices (seeds 1..N) sharing them")
    parser.add_argument("--iterations", type=int, default=32)
    parser.add_argument("--source", action="store_true", help="also score the default voice's own rendering")
    parser.add_argument("--vocoder", default="auto", help="auto (the model's), griffin-lim or source-filter")
    parser.add_argument("--out", type=Path, default=Path("runs/tts-wer-curve"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    seen = {u.text for u in read_corpus(args.corpus)[0]}
    sentences = SentenceGrammar(EvaluateConfig().seed).sentences(args.sentences, exclude=seen)
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "results.json"
    results = json.loads(store.read_text()) if store.is_file() else {}
    for checkpoint in args.checkpoints:
        key = f"{checkpoint} {args.vocoder}"
        step = int(torch.load(checkpoint, weights_only=True, map_location="cpu")["metrics"]["step"])
        entry = results.get(key) if results.get(key, {}).get("step") == step else None
        entry = entry or {"step": step, "vocoder": args.vocoder}
        synth = Synthesizer(checkpoint, iterations=args.iterations, vocoder=args.vocoder)
        if args.default and "default" not in entry:
            entry["default"] = score(synth, sentences, [Voice()], [0])
        if args.voices and "voices" not in entry:
            voices = [Voice(speaker=name) for name in args.voices.split(",")]
            entry["voices"] = {"names": args.voices.split(","), **score(synth, sentences, voices, [0])}
        if args.sampled and "sampled" not in entry:
            seeds = list(range(1, args.sampled + 1))
            entry["sampled"] = {"seeds": seeds, **score(synth, sentences, [Voice(sample=True)], seeds)}
        if args.source and "source" not in entry:  # the corpus voice itself reading the same sentences
            from dlcli.tts.align import spoken_text
            from dlcli.tts.corpus import Voice as Recipe
            from dlcli.tts.corpus import render

            recipe = Recipe.from_dict(synth.voices[synth.default_speaker])
            waves = [render(recipe, spoken_text(normalise(t).tokens)) for t in sentences]
            hypotheses = [transcribe(w) for w in waves]
            references = [normalise(t).text for t in sentences]
            entry["source"] = {"voice": synth.default_speaker, "wer": round(wer(references, hypotheses), 2)}
        results[key] = entry
        write_text_atomic(store, json.dumps(results, indent=1))
        summary = {k: v["wer"] for k, v in entry.items() if isinstance(v, dict)}
        print(f"{checkpoint} ({args.vocoder}) step {step}: WER {summary}", flush=True)
    plot(results, args.out / "wer-vs-steps.png")


if __name__ == "__main__":
    main()
