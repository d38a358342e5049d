"""Training speed of `kws train` on a CPU: end-to-end clips/s against the model's bare forward+backward.

End to end is one `dlcli.kws.train.train` call timed as a whole: reading and decoding the corpus
(or reading the clip cache), the splits, online augmentation on every batch (the paper's
distortions and background noise), the log-mel features inside the model, validation,
checkpoints, the curves plot. The bare loop trains the same model (same config, optimizer, batch
size) on as many ready batches of random clips: forward, loss, backward, step, nothing else. The
ratio bare time / end-to-end time is the share of the time that goes to the model itself
(target: at least 85 %).

The machine is shared, so the two arms are interleaved in one run: a bare loop before and after
every training call, each training call compared with the mean of its two neighbours. The first
training call starts with an empty clip cache (a fresh ``$DLCLI_CACHE``), so it includes decoding
every file once; the later ones read the cache.

    python recipes/kws/train_speed.py CORPUS [--model small] [--epochs 2] [--threads 2] [--runs 3]
        [--pitch-method auto|vocoder|warp] [--prefetch 2] [--no-cache]

``--pitch-method vocoder --prefetch 0 --no-cache`` is the data path before these options existed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from dlcli.kws.config import default_config
from dlcli.kws.model import build_model
from dlcli.kws.train import train
from dlcli.train import seed_everything


def bare_seconds(config, classes: int, steps: int) -> float:
    model = build_model(config.model.__class__(**{**vars(config.model), "classes": classes}))
    optimizer_class = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(
        config.train.optimizer, torch.optim.SGD
    )
    optimizer = optimizer_class(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay)
    generator = torch.Generator().manual_seed(0)
    batch = config.train.batch_size
    clips = (torch.randint(-8000, 8000, (batch, 16000), generator=generator) / 32768.0).float()
    labels = torch.randint(0, classes, (batch,), generator=generator)
    model.train()
    for warm in (True, False):
        started = time.perf_counter()
        for _ in range(2 if warm else steps):
            loss = F.cross_entropy(model(clips).float(), labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--model", default="small")
    parser.add_argument("--task", default="digits")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="training calls (the first with an empty clip cache)")
    parser.add_argument("--pitch-method", default="auto", choices=("auto", "vocoder", "warp"))
    parser.add_argument("--prefetch", type=int, default=None, help="batches prepared ahead (default: the recipe's)")
    parser.add_argument("--no-cache", action="store_true", help="decode every file on every run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = default_config(args.model)
    config.data.task, config.train.epochs = args.task, args.epochs
    config.augment.pitch_method = args.pitch_method
    config.data.clip_cache = not args.no_cache
    if args.prefetch is not None:
        config.train.prefetch = args.prefetch
    batch = config.train.batch_size
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DLCLI_CACHE"] = str(Path(folder) / "cache")  # an empty clip cache for the first call
        classes = None
        bare_before = None
        for index in range(args.runs):
            seed_everything(0)
            run_config = default_config(args.model)
            run_config.data, run_config.augment, run_config.train = config.data, config.augment, config.train
            started = time.perf_counter()
            result = train(args.corpus, Path(folder) / f"run{index}", run_config, overwrite=True)
            end_to_end = time.perf_counter() - started
            classes = run_config.model.classes
            steps = result.steps
            if bare_before is None:
                bare_before = bare_seconds(config, classes, steps)
            bare_after = bare_seconds(config, classes, steps)
            bare = (bare_before + bare_after) / 2
            epochs = sum(record["seconds"] for record in result.history)  # the engine's epoch loops, validation in
            rows.append(
                {
                    "run": index + 1,
                    "cache": "off" if args.no_cache else "built" if index == 0 else "warm",
                    "steps": steps,
                    "end_to_end_s": round(end_to_end, 2),
                    "epochs_s": round(epochs, 2),
                    "bare_s": round(bare, 2),
                    "end_to_end_clips_per_s": round(steps * batch / end_to_end, 1),
                    "bare_clips_per_s": round(steps * batch / bare, 1),
                    "ratio": round(bare / end_to_end, 4),
                    "ratio_epochs_only": round(bare / epochs, 4),
                    "load_average": os.getloadavg()[0],
                }
            )
            bare_before = bare_after
            print(
                f"run {index + 1} (clip cache {rows[-1]['cache']}): end to end {end_to_end:.1f} s "
                f"({rows[-1]['end_to_end_clips_per_s']} clips/s; epochs {epochs:.1f} s), bare {bare:.1f} s "
                f"({rows[-1]['bare_clips_per_s']} clips/s): {bare / end_to_end:.1%} "
                f"(epochs only {bare / epochs:.1%}), load {rows[-1]['load_average']:.2f}",
                flush=True,
            )
    print(
        f"{args.model}, {args.epochs} epochs of {rows[0]['steps'] // args.epochs} steps of {batch} clips, "
        f"{torch.get_num_threads()} threads, pitch {args.pitch_method}, prefetch {config.train.prefetch}; "
        f"end-to-end speed / bare speed (target >= 85%): "
        + ", ".join(f"{row['ratio']:.1%} ({row['cache']})" for row in rows)
    )
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
