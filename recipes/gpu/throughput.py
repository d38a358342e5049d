"""Training throughput on one device: every figure BENCHMARKS.md leaves open for a GPU, in one process.

kws:      Xception-1d training clips/s, fp32 vs bf16, through the engine vs a bare loop
          (same model, optimizer, batch and step; random one-second clips: throughput only).
forecast: steps/s of `forecast train` (sample data, seq2seq and transformer), fp32 vs bf16.
tts:      steps/s of `tts train` (sample corpus), fp32 vs bf16.

Each figure is timed after a warm-up, with the device synchronised before clocks are read,
and printed as one JSON line (also appended to --results). ``--dry-run`` runs every path
for a step or two with tiny sizes on the CPU (fp32 only for forecast and tts, seq2seq only), to check the
plumbing before device time is spent; its figures mean nothing.

    python recipes/gpu/throughput.py kws|forecast|tts [--dry-run] [--results FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRECISIONS = ("fp32", "bf16")


def emit(record: dict, results: Path | None) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    if results is not None:
        with results.open("a") as handle:
            handle.write(line + "\n")


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def kws(args, results: Path | None) -> None:
    import torch
    import torch.nn.functional as F

    from dlcli.kws.model import XceptionConfig, build_model, small_config
    from dlcli.train import TrainConfig, Trainer, autocast, seed_everything
    from dlcli.train.data import TensorBatchDataset

    device = torch.device("cpu" if args.dry_run else "cuda")
    config = small_config(classes=35) if args.dry_run else XceptionConfig(classes=35)
    if args.dry_run:
        config.width, config.middle_blocks = 0.125, 0
    batch, steps = (4, 2) if args.dry_run else (args.batch_size, args.steps)

    def step(model, data):
        waveforms, labels = data
        logits = model(waveforms.float() / 32768.0)
        return F.cross_entropy(logits.float(), labels), {}

    generator = torch.Generator().manual_seed(0)
    clips = torch.randint(-8000, 8000, (batch * steps, 16000), dtype=torch.int16, generator=generator)
    labels = torch.randint(0, 35, (batch * steps,), generator=generator)
    for precision in PRECISIONS:
        # bare loop: the model, Adam, autocast, nothing else
        seed_everything(0)
        model = build_model(config).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        data = [
            (clips[i : i + batch].to(device), labels[i : i + batch].to(device)) for i in range(0, len(clips), batch)
        ]
        for warm in data[: min(3, len(data))]:
            with autocast(device, precision):
                loss, _ = step(model, warm)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        synchronize(device)
        started = time.perf_counter()
        for item in data:
            with autocast(device, precision):
                loss, _ = step(model, item)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        synchronize(device)
        bare = len(clips) / (time.perf_counter() - started)
        # the engine: epoch 1 warms up, epoch 2 is timed (its record's seconds include no validation)
        seed_everything(0)
        with tempfile.TemporaryDirectory() as run:
            train = TrainConfig(
                epochs=2, batch_size=batch, lr=1e-4, precision=precision, device=str(device), log_every=50
            )
            trainer = Trainer(
                task="kws", model=build_model(config), step_fn=step, config=train, run_dir=run,
                collate_fn=TensorBatchDataset.collate, quiet=True, save_checkpoints=False, plot_curves=False,
            )  # fmt: skip
            result = trainer.fit(TensorBatchDataset(clips, labels))
        engine = len(clips) / result.history[-1]["seconds"]
        emit(
            {
                "figure": "kws Xception-1d training clips/s",
                "model": "small (dry run)" if args.dry_run else "xception1d (35 classes)",
                "device": str(device),
                "precision": precision,
                "batch": batch,
                "bare_clips_per_s": round(bare, 1),
                "engine_clips_per_s": round(engine, 1),
                "engine_over_bare": round(bare / engine, 3),
            },
            results,
        )


def _dlcli(arguments: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "dlcli", "-q", *arguments], check=True, cwd=ROOT)


def _steps_per_second(run: Path) -> tuple[float, int]:
    """Optimizer steps per second of the last epoch (the first one warms up), from metrics.jsonl."""
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in epochs if r.get("event") == "epoch"]
    last = epochs[-1]
    steps = last["step"] - (epochs[-2]["step"] if len(epochs) > 1 else 0)
    return steps / last["seconds"], steps


def forecast(args, results: Path | None) -> None:
    device = "cpu" if args.dry_run else "cuda"
    per_epoch = 2 if args.dry_run else args.steps
    for kind in ("seq2seq",) if args.dry_run else ("seq2seq", "transformer"):  # the CPU dry run: one path
        for precision in ("fp32",) if args.dry_run else PRECISIONS:  # bf16 autocast of an LSTM on a CPU crawls
            with tempfile.TemporaryDirectory() as folder:
                run = Path(folder) / "run"
                _dlcli(
                    ["--device", device, "--precision", precision, "--seed", "0", "forecast", "train",
                     str(ROOT / "sample_data" / "favorita"), "--out", str(run), "--model", kind,
                     "--epochs", "2", "--steps-per-epoch", str(per_epoch)]
                )  # fmt: skip
                rate, steps = _steps_per_second(run)
            emit(
                {"figure": "forecast train steps/s", "model": kind, "device": device, "precision": precision,
                 "batch": 128, "steps_timed": steps, "steps_per_s": round(rate, 2),
                 "note": "epoch time includes its validation"},
                results,
            )  # fmt: skip


def tts(args, results: Path | None) -> None:
    device = "cpu" if args.dry_run else "cuda"
    preset = "tiny" if args.dry_run else "small"
    epochs = "2" if args.dry_run else str(args.epochs)
    for precision in ("fp32",) if args.dry_run else PRECISIONS:
        with tempfile.TemporaryDirectory() as folder:
            run = Path(folder) / "run"
            _dlcli(
                ["--device", device, "--precision", precision, "--seed", "0", "tts", "train",
                 str(ROOT / "sample_data" / "tts"), "--out", str(run), "--preset", preset, "--epochs", epochs]
            )  # fmt: skip
            rate, steps = _steps_per_second(run)
        emit(
            {"figure": "tts train steps/s", "preset": preset, "device": device, "precision": precision,
             "steps_timed": steps, "steps_per_s": round(rate, 2), "note": "epoch time includes its validation"},
            results,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("kws", "forecast", "tts"))
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: check the plumbing")
    parser.add_argument("--results", type=Path, default=None, help="append the JSON lines here too")
    parser.add_argument("--batch-size", type=int, default=64, help="kws clips per step")
    parser.add_argument("--steps", type=int, default=40, help="kws timed steps; forecast steps per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="tts epochs (the last one is timed)")
    args = parser.parse_args()
    {"kws": kws, "forecast": forecast, "tts": tts}[args.part](args, args.results)


if __name__ == "__main__":
    main()
