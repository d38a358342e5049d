"""Engine overhead: a training run through dlcli's Trainer vs a bare hand-written loop.

Same model, data, optimizer, step function, batch size and number of steps; the Trainer
does what it always does (metrics accumulation, non-finite guard, learning-rate schedule,
metrics.jsonl, last.pt/best.pt at each epoch end). The cost of a step is measured as the
marginal cost of epochs: runs of E and 2E epochs, (t(2E) - t(E)) / (E steps), so one-off
costs (start-up) do not count and per-epoch checkpoints do. curves.png, drawn once at the end
of a run, is left out of the loop (its cost grows a little with the number of epochs marked on
its top axis, which the marginal method would charge to steps) and timed on its own. Bare and engine runs alternate, several rounds, medians compared, so
machine noise hits both alike. Two clocks are reported: wall time, and the CPU time of the
training thread (with one intra-op thread all work runs on it), which other processes on
a shared machine do not inflate.

    python recipes/benchmarks/engine_overhead.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from dlcli.train import TrainConfig, Trainer, seed_everything
from dlcli.train.data import TensorBatchDataset
from dlcli.train.sampler import ResumableSampler


def make_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def make_conv() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def step(model, batch):
    inputs, labels = batch
    logits = model(inputs)
    return F.cross_entropy(logits, labels), {"accuracy": (logits.argmax(1) == labels).float().mean()}


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def bare_loop(model, data, epochs, batch_size, lr) -> tuple[float, float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    sampler = ResumableSampler(len(data), seed=0)
    start = clocks()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        loader = DataLoader(data, batch_size=batch_size, sampler=sampler, collate_fn=TensorBatchDataset.collate)
        for batch in loader:
            loss, _ = step(model, batch)  # the same step function the engine calls
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    end = clocks()
    return end[0] - start[0], end[1] - start[1]


def engine_loop(model, data, epochs, batch_size, lr) -> tuple[float, float]:
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, log_every=50)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(
            task="bench",
            model=model,
            step_fn=step,
            config=config,
            run_dir=folder,
            collate_fn=TensorBatchDataset.collate,
            quiet=True,
            plot_curves=False,  # a one-off at the end of a run: timed separately (plot_seconds)
        )
        start = clocks()
        trainer.fit(data)
        end = clocks()
        return end[0] - start[0], end[1] - start[1]


def plot_seconds(epochs: int) -> float:
    """Wall time of the end-of-run curves.png for a run of ``epochs`` epochs of the MLP case."""
    from dlcli.train.plots import plot_training_curves

    data = TensorBatchDataset(torch.randn(12800, 64), torch.randint(0, 10, (12800,)))
    config = TrainConfig(epochs=epochs, batch_size=64, lr=1e-3, log_every=50)
    with tempfile.TemporaryDirectory() as folder:
        Trainer(task="bench", model=make_mlp(), step_fn=step, config=config, run_dir=folder,
                collate_fn=TensorBatchDataset.collate, quiet=True, plot_curves=False).fit(data)  # fmt: skip
        start = time.perf_counter()
        plot_training_curves(f"{folder}/metrics.jsonl", f"{folder}/curves.png", title="bench")
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (1: thread CPU time is exact)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = {
        "MLP 64-256-256-10": (make_mlp, torch.randn(12800, 64), 64, 3),
        "CNN 2 conv + 2 dense, 8x8 images": (make_conv, torch.randn(6400, 1, 8, 8), 64, 2),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, (factory, inputs, batch_size, epochs) in cases.items():
        labels = torch.randint(0, 10, (inputs.shape[0],))
        data = TensorBatchDataset(inputs, labels)
        steps = epochs * (len(data) // batch_size)  # the extra steps of the 2E-epoch run
        wall = {"bare": [], "engine": []}
        cpu = {"bare": [], "engine": []}
        for _ in range(args.rounds + 1):  # the first round warms up and is dropped
            for kind, loop in (("bare", bare_loop), ("engine", engine_loop)):
                seed_everything(0)
                short = loop(factory(), data, epochs, batch_size, 1e-3)
                seed_everything(0)
                long = loop(factory(), data, 2 * epochs, batch_size, 1e-3)
                wall[kind].append(long[0] - short[0])
                cpu[kind].append(long[1] - short[1])
        for clock, times in (("wall", wall), ("thread CPU", cpu)):
            bare, engine = (statistics.median(times[k][1:]) for k in ("bare", "engine"))
            print(
                f"{name} [{clock}]: {steps} steps; bare {1e3 * bare / steps:.3f} ms/step, "
                f"engine {1e3 * engine / steps:.3f} ms/step, engine/bare = {engine / bare:.3f} "
                f"(overhead {100 * (engine / bare - 1):+.1f}%)"
            )

    print(f"curves.png at the end of a run (once, not per step): {plot_seconds(3):.2f} s after 3 epochs, "
          f"{plot_seconds(6):.2f} s after 6")  # fmt: skip


if __name__ == "__main__":
    main()
