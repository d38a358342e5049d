"""Vocoder ceiling: corpus audio -> 80-band mel -> vocoder -> pocketsphinx WER, next to the raw audio.

Also on a blurred mel (smoothed over 3 bands x 5 frames, what an over-smoothing acoustic
model predicts), to see which vocoder holds up when the mel is imperfect. Sentences are the
project's grammar's, none of them in the training corpus; the voice is flite's rms (the
default voice's source).

    OMP_NUM_THREADS=1 python recipes/tts/vocoder_ceiling.py --corpus runs/corpus-aligned \
        --sentences 30 --out runs/vocoder-ceiling
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from dlcli.tts.align import phone_prosody, spoken_text
from dlcli.tts.asr import transcribe, wer
from dlcli.tts.corpus import Voice, read_corpus, render_aligned
from dlcli.tts.data import AudioConfig, log_mels
from dlcli.tts.sentences import SentenceGrammar
from dlcli.tts.text import normalise
from dlcli.tts.vocoder import GriffinLim, SourceFilter


def blur(log_mel: torch.Tensor, bands: int = 3, frames: int = 5) -> torch.Tensor:
    """(frames, n_mels) -> the same smoothed by a box over ``frames`` x ``bands`` (edges replicated)."""
    x = log_mel.T[None, None]  # (1, 1, n_mels, frames)
    x = torch.nn.functional.pad(x, (frames // 2, frames // 2, bands // 2, bands // 2), mode="replicate")
    return torch.nn.functional.avg_pool2d(x, (bands, frames), stride=1)[0, 0].T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="training corpus whose sentences are excluded")
    parser.add_argument("--sentences", type=int, default=30)
    parser.add_argument("--voice", default="rms")
    parser.add_argument("--iterations", type=int, default=32, help="Griffin-Lim iterations")
    parser.add_argument("--out", type=Path, default=Path("runs/vocoder-ceiling"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    seen = {u.text for u in read_corpus(args.corpus)[0]} if args.corpus else set()
    sentences = SentenceGrammar(1234).sentences(args.sentences, exclude=seen)
    audio = AudioConfig()
    griffin_lim = GriffinLim(audio, iterations=args.iterations)
    source_filter = SourceFilter(audio)
    voice = Voice("flite", args.voice)
    conditions = {
        "raw audio": [],
        f"Griffin-Lim {args.iterations} it., true mel": [],
        "source-filter, true mel, per-phone f0": [],
        f"Griffin-Lim {args.iterations} it., blurred mel": [],
        "source-filter, blurred mel, per-phone f0": [],
    }
    seconds = {name: 0.0 for name in conditions}
    references = []
    for sentence in sentences:
        normalised = normalise(sentence)
        references.append(normalised.text)
        samples, phones, durations = render_aligned(voice, spoken_text(normalised.tokens))
        mel = log_mels([samples], audio)[0]
        durations[-1] += len(mel) - sum(durations)
        log_f0, voiced, _ = phone_prosody(torch.from_numpy(samples), mel, phones, durations)
        repeat = torch.tensor(durations)
        f0_frames = torch.repeat_interleave(log_f0.exp() * voiced, repeat)
        voiced_frames = torch.repeat_interleave(voiced, repeat)
        blurred = blur(mel)
        gl_true, sf_true, gl_blur, sf_blur = list(conditions)[1:]
        jobs = {
            "raw audio": (lambda x: x, samples),
            gl_true: (lambda m: griffin_lim(m[None])[0].numpy(), mel),
            sf_true: (lambda m, f0=f0_frames, v=voiced_frames: source_filter(m[None], f0, v)[0].numpy(), mel),
            gl_blur: (lambda m: griffin_lim(m[None])[0].numpy(), blurred),
            sf_blur: (lambda m, f0=f0_frames, v=voiced_frames: source_filter(m[None], f0, v)[0].numpy(), blurred),
        }
        for name, (vocode, features) in jobs.items():
            started = time.perf_counter()
            wave = vocode(features)
            seconds[name] += time.perf_counter() - started
            conditions[name].append(transcribe(wave))
    results = {name: round(wer(references, hypotheses), 1) for name, hypotheses in conditions.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(
        json.dumps({"wer": results, "vocoder_seconds": seconds, "sentences": sentences}, indent=1)
    )
    lines = ["| input -> vocoder | pocketsphinx WER % | vocoder CPU s (all sentences) |", "|---|---|---|"]
    lines += [f"| {name} | {results[name]} | {seconds[name]:.1f} |" for name in conditions]
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
