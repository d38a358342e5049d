"""Learned durations against exact ones: monotonic alignment search vs flite's own phone alignments.

Trains nothing: reads checkpoints of a duration model trained with ``--durations learned`` on a
corpus whose utterances carry flite's alignments (``dlcli tts corpus`` with flite voices), runs
each checkpoint's aligner + monotonic alignment search over the same utterances and compares
the phone boundaries with flite's. ``--untrained`` adds step 0 (a fresh aligner: what the
diagonal prior alone gives). Writes results.json, a curve of the error against steps and one
utterance's alignment (soft attention, the learned path and flite's path) as PNGs.

    OMP_NUM_THREADS=1 python recipes/tts/alignment_accuracy.py runs/mas-learned/snapshots/*.pt \
        --corpus runs/corpus-aligned --utterances 200 --untrained --out runs/mas-accuracy
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from dlcli.audio import load_audio
from dlcli.train.loader import load_model
from dlcli.tts.align import phone_ids
from dlcli.tts.aligner import boundary_agreement
from dlcli.tts.corpus import read_corpus
from dlcli.tts.data import AudioConfig, log_mels
from dlcli.tts.fastspeech import FastSpeech, FastSpeechConfig


def load_utterances(corpus: Path, count: int, audio: AudioConfig):
    """``count`` aligned utterances spread evenly over the corpus listing: (name, phones, ids, true durations, mel)."""
    utterances, _ = read_corpus(corpus)
    aligned = [u for u in utterances if u.durations is not None]
    chosen = aligned[:: max(1, len(aligned) // count)][:count]
    waves = [load_audio(u.audio, audio.sample_rate)[0] for u in chosen]
    out = []
    for u, mel in zip(chosen, log_mels(waves, audio)):
        durations = list(u.durations)
        durations[-1] = max(0, durations[-1] + len(mel) - sum(durations))  # as training does
        if sum(durations) == len(mel):
            out.append((u.audio.name, u.phones, torch.tensor(phone_ids(u.phones)), np.array(durations), mel))
    return out


@torch.no_grad()
def align_all(model: FastSpeech, items, batch: int = 16):
    """Learned durations and soft attention of every item (batches of similar length)."""
    results = [None] * len(items)
    order = sorted(range(len(items)), key=lambda i: len(items[i][4]))
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        phones = torch.nn.utils.rnn.pad_sequence([items[i][2] for i in rows], batch_first=True)
        mels = [(items[i][4] - model.mel_mean) / model.mel_std for i in rows]
        lengths = torch.tensor([len(m) for m in mels])
        log_attention, durations = model.align(phones, torch.nn.utils.rnn.pad_sequence(mels, batch_first=True), lengths)
        for row, i in enumerate(rows):
            n, m = len(items[i][2]), int(lengths[row])
            attention = torch.softmax(log_attention[row, :m, :n], 1).numpy()
            results[i] = (durations[row, :n].numpy(), attention)
    return results


def plot_alignment(path: Path, name, phones, attention, learned, true, step: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(12, 6.5))
    axis.imshow(attention.T, origin="lower", aspect="auto", interpolation="none", cmap="Greys")
    for durations, colour, label in (
        (true, "tab:blue", "flite's exact alignment"),
        (learned, "tab:red", "learned (MAS)"),
    ):
        index = np.repeat(np.arange(len(durations)), durations)
        axis.step(np.arange(len(index)), index, where="mid", color=colour, linewidth=1.6, label=label, alpha=0.85)
    errors = np.abs(np.cumsum(learned)[:-1] - np.cumsum(true)[:-1])
    axis.set_yticks(range(len(phones)))
    axis.set_yticklabels(phones, fontsize=6)
    axis.set_xlabel("mel frame (12.5 ms hop)")
    axis.set_ylabel("phone (flite's phone set)")
    axis.set_title(
        f"{name}: learned alignment after {step} steps vs flite's exact one\n"
        f"grey: the aligner's soft attention; boundary error mean {errors.mean():.2f} frames "
        f"({errors.mean() * 12.5:.1f} ms), {100 * (errors <= 1).mean():.0f} % within 1 frame"
    )
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def plot_curve(path: Path, rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    figure, left = plt.subplots(figsize=(8, 4.5))
    left.plot(steps, [r["mean_ms"] for r in rows], "o-", color="tab:red", label="mean |boundary error| (ms)")
    left.set_xlabel("training step (batch 16, --durations learned; step 0: untrained aligner)")
    left.set_ylabel("mean absolute boundary error (ms)", color="tab:red")
    right = left.twinx()
    right.plot(steps, [r["within_1"] for r in rows], "s--", color="tab:blue", label="within 1 frame (%)")
    right.plot(steps, [r["within_2"] for r in rows], "^--", color="tab:green", label="within 2 frames (%)")
    right.set_ylabel("% of boundaries within 1 / 2 frames (12.5 ms hop)")
    right.set_ylim(0, 100)
    left.set_title("Monotonic alignment search vs flite's exact phone boundaries")
    handles = left.get_lines() + right.get_lines()
    left.legend(handles, [h.get_label() for h in handles], loc="upper center")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--untrained", action="store_true", help="add step 0: a freshly initialised aligner")
    parser.add_argument("--plot", type=int, default=0, help="which of the utterances to draw")
    parser.add_argument("--out", type=Path, default=Path("runs/mas-accuracy"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    by_step = {}
    for path in args.checkpoints:
        loaded = load_model(path, "tts", FastSpeechConfig, FastSpeech, float32=True)
        by_step[int(loaded.checkpoint["metrics"]["step"])] = (loaded.model, loaded.checkpoint)
    models = [(step, *by_step[step]) for step in sorted(by_step)]
    if args.untrained:
        torch.manual_seed(0)
        fresh = FastSpeech(models[0][1].config).eval()
        fresh.mel_mean.copy_(models[0][1].mel_mean)
        fresh.mel_std.copy_(models[0][1].mel_std)
        models.insert(0, (0, fresh, None))
    audio = AudioConfig(**models[-1][2]["features"])
    items = load_utterances(args.corpus, args.utterances, audio)
    rows = []
    for step, model, _ in models:
        results = align_all(model, items)
        agreement = boundary_agreement(
            [(r[0], item[3]) for r, item in zip(results, items)], 1000 * audio.hop_length / audio.sample_rate
        )
        rows.append({"step": step, **agreement})
        print(
            f"step {step:>5}: mean |error| {agreement['mean_frames']:.2f} frames ({agreement['mean_ms']:.1f} ms), "
            f"within 1 frame {agreement['within_1']:.1f} %, within 2 {agreement['within_2']:.1f} % "
            f"({agreement['boundaries']} boundaries, {len(items)} utterances)",
            flush=True,
        )
        last = results
    name, phones, _, true, _ = items[args.plot]
    plot_alignment(
        args.out / "alignment.png", name, phones, last[args.plot][1], last[args.plot][0], true, models[-1][0]
    )
    plot_curve(args.out / "boundary-error-vs-steps.png", rows)
    (args.out / "results.json").write_text(json.dumps({"utterances": len(items), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
