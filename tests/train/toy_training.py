"""A small training run driven by the engine tests as a subprocess (also under torchrun).

Usage: python toy_training.py RUN_DIR [--resume] [--kill-at-step N] [--checkpoint-every N]
                              [--epochs N] [--slow SECONDS] [--nan-at-step N [--nan-on-rank R]]
The model has dropout and the step adds noise from torch's global RNG, so an exact
resume must restore the RNG, the optimizer, the schedule and the data order.
"""

import argparse
import os
import signal
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlcli.train import TrainConfig, Trainer, seed_everything
from dlcli.train.data import TensorBatchDataset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--kill-at-step", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--nan-at-step", type=int, default=0)  # this call of the step returns a NaN loss
    parser.add_argument("--nan-on-rank", type=int, default=None)  # ... on this torchrun rank only
    args = parser.parse_args()

    torch.set_num_threads(1)
    seed_everything(0)
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(200, 8, generator=generator)
    labels = (inputs[:, 0] + inputs[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Dropout(0.2), nn.Linear(32, 2))
    calls = {"n": 0}

    def step(model, batch):
        x, y = batch
        calls["n"] += 1
        if args.kill_at_step and calls["n"] == args.kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)
        if args.slow:
            time.sleep(args.slow)
        x = x + 0.05 * torch.randn_like(x)  # augmentation from the global RNG
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        rank = int(os.environ.get("RANK", 0))
        if calls["n"] == args.nan_at_step and args.nan_on_rank in (None, rank):
            loss = loss * float("nan")
        return loss, {"accuracy": (logits.argmax(1) == y).float().mean()}

    config = TrainConfig(
        epochs=args.epochs,
        batch_size=16,
        lr=0.01,
        schedule="cosine",
        warmup_epochs=1,
        seed=3,
        checkpoint_every=args.checkpoint_every,
        log_every=5,
        monitor="val_loss",
    )
    trainer = Trainer(
        task="toy",
        model=model,
        step_fn=step,
        config=config,
        run_dir=args.run_dir,
        collate_fn=TensorBatchDataset.collate,
        labels=["no", "yes"],
        quiet=True,
    )
    result = trainer.fit(
        TensorBatchDataset(inputs[:160], labels[:160]),
        TensorBatchDataset(inputs[160:], labels[160:]),
        resume=args.resume,
    )
    print(f"steps={result.steps} epochs={result.epochs}", file=sys.stderr)


if __name__ == "__main__":
    main()
