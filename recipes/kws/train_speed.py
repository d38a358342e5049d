"""Training speed of `kws train` on a CPU: end-to-end clips/s against the model's bare forward+backward.

End to end is one `dlcli.kws.train.train` call timed as a whole: reading and decoding the corpus,
the splits, online augmentation on every batch (the paper's distortions and background noise),
the log-mel features inside the model, validation, checkpoints. The bare loop trains the same
model (same config, optimizer, batch size) on the same number of ready batches of random clips:
forward, loss, backward, step, nothing else. The ratio bare/end-to-end time is the share of the
time that goes to the model itself (target: at least 85 %).

    python recipes/kws/train_speed.py CORPUS [--model small] [--epochs 2] [--threads 2]
"""

from __future__ import annotations

import argparse
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
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay)
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = default_config(args.model)
    config.data.task, config.train.epochs = args.task, args.epochs
    seed_everything(0)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = train(args.corpus, Path(folder) / "run", config, overwrite=True)
        end_to_end = time.perf_counter() - started
        steps = result.steps
        classes = config.model.classes
    clips = steps * config.train.batch_size
    bare = bare_seconds(config, classes, steps)
    print(f"{args.model}, {steps} steps of {config.train.batch_size} clips, {torch.get_num_threads()} threads")
    print(f"end to end (decoding, augmentation, features, validation, checkpoints): {end_to_end:.1f} s, "
          f"{clips / end_to_end:.1f} clips/s")  # fmt: skip
    print(f"bare forward+backward: {bare:.1f} s, {clips / bare:.1f} clips/s")
    print(f"end-to-end speed / bare speed: {bare / end_to_end:.1%} (target >= 85%)")


if __name__ == "__main__":
    main()
