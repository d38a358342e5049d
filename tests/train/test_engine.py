import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcli.errors import CheckpointError, DivergedError, UsageError
from dlcli.train import TrainConfig, Trainer, load_checkpoint, seed_everything
from dlcli.train.checkpoint import build_checkpoint, save_checkpoint
from dlcli.train.data import TensorBatchDataset
from dlcli.train.schedules import Schedule

TOY = Path(__file__).with_name("toy_training.py")
ROOT = Path(__file__).resolve().parents[2]


def run_toy(python, run_dir, *args, check=True):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [python, str(TOY), str(run_dir), *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def weights(path):
    return load_checkpoint(path, "toy")["state_dict"]


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, python):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_toy(python, straight, "--checkpoint-every", 3)
    result = run_toy(python, killed, "--checkpoint-every", 3, "--kill-at-step", 17, check=False)
    assert result.returncode == -signal.SIGKILL
    # only complete checkpoints are left, and the last one is inside an epoch
    for path in killed.glob("*.pt"):
        load_checkpoint(path, "toy")
    state = load_checkpoint(killed / "last.pt", "toy")["training_state"]
    assert state["batches_done"] not in (0,) and state["global_step"] < 30
    run_toy(python, killed, "--checkpoint-every", 3, "--resume")
    a, b = weights(straight / "last.pt"), weights(killed / "last.pt")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    records = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "epoch"] == [10, 20, 30]


def test_sigkill_at_random_moments_never_leaves_a_broken_checkpoint(tmp_path, python):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    for attempt in range(4):
        args = [python, str(TOY), str(run_dir), "--checkpoint-every", "1", "--epochs", "50", "--slow", "0.002"]
        if attempt:
            args.append("--resume")
        process = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not (run_dir / "last.pt").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.05, 0.6))  # lands during writes as often as not: one is written every step
        process.send_signal(signal.SIGKILL)
        process.wait()
        for path in run_dir.glob("*.pt"):
            load_checkpoint(path, "toy")


def test_torchrun_two_processes_on_cpu_train_and_write_one_checkpoint(tmp_path, python):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run_dir = tmp_path / "ddp"
    command = [
        python,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(TOY),
        str(run_dir),
        "--epochs",
        "2",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in run_dir.glob("*.pt")) == ["best.pt", "last.pt"]
    state = load_checkpoint(run_dir / "last.pt", "toy")["training_state"]
    assert state["global_step"] == 2 * 5  # 160 examples / 2 processes / batch 16 = 5 steps per epoch
    assert result.stderr.count("steps=10 epochs=2") == 2  # both ranks finished together


def _toy_setup(tmp_path, **overrides):
    seed_everything(0)
    x = torch.randn(64, 4)
    y = (x.sum(1) > 0).long()
    model = nn.Linear(4, 2)

    def step(model, batch):
        inputs, labels = batch
        logits = model(inputs)
        return F.cross_entropy(logits, labels), {"accuracy": (logits.argmax(1) == labels).float().mean()}

    config = TrainConfig(**{"epochs": 2, "batch_size": 16, "lr": 0.05, "log_every": 2, **overrides})
    data = TensorBatchDataset(x, y)
    trainer = Trainer(
        task="toy",
        model=model,
        step_fn=step,
        config=config,
        run_dir=tmp_path / "run",
        collate_fn=TensorBatchDataset.collate,
        quiet=True,
    )
    return trainer, data


def test_a_run_writes_checkpoints_metrics_and_curves(tmp_path):
    trainer, data = _toy_setup(tmp_path)
    result = trainer.fit(data, data)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {"last.pt", "best.pt", "metrics.jsonl", "curves.png"}
    checkpoint = load_checkpoint(run / "best.pt", "toy")
    assert checkpoint["format_version"] == 1 and "training_state" not in checkpoint
    assert result.steps == 8 and result.epochs == 2 and len(result.history) == 2
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # a second run into the same folder must not silently overwrite the first
    trainer2, _ = _toy_setup(tmp_path)
    with pytest.raises(UsageError, match="--resume"):
        trainer2.fit(data, data)


def test_non_finite_losses_are_skipped_then_stop_the_run(tmp_path):
    trainer, data = _toy_setup(tmp_path, max_nonfinite=3)
    trainer.step_fn = lambda model, batch: (model(batch[0]).sum() * float("nan"), {})
    with pytest.raises(DivergedError, match="non-finite"):
        trainer.fit(data)


def test_early_stopping_and_plateau(tmp_path):
    trainer, data = _toy_setup(
        tmp_path, epochs=30, early_stopping=2, monitor="val_const", schedule="plateau", plateau_patience=0
    )
    base_step = trainer.step_fn
    trainer.step_fn = lambda model, batch: (base_step(model, batch)[0], {"const": torch.tensor(1.0)})
    result = trainer.fit(data, data)
    assert result.stopped_early and result.epochs == 3
    assert result.history[-1]["lr"] < 0.05  # the plateau cut the learning rate


def test_schedules():
    cosine = Schedule("cosine", lr=1e-4, total_steps=100, warmup_steps=10, warmup_start_lr=1e-5, min_lr=1e-6)
    assert cosine.lr_at(0) == pytest.approx(1e-5)
    assert cosine.lr_at(10) == pytest.approx(1e-4)
    assert cosine.lr_at(99) == pytest.approx(1e-6)
    assert all(cosine.lr_at(s) >= cosine.lr_at(s + 1) for s in range(10, 99))
    plateau = Schedule("plateau", lr=1.0, total_steps=10, plateau_patience=1, plateau_factor=0.5, mode="max")
    cuts = [plateau.observe(v) for v in [0.5, 0.6, 0.6, 0.6, 0.6, 0.6]]
    assert cuts == [False, False, False, True, False, True] and plateau.lr_at(5) == 0.25


def test_corrupted_truncated_foreign_and_wrong_task_checkpoints_fail_clearly(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(build_checkpoint(task="kws", model=nn.Linear(2, 2)), good)
    with pytest.raises(CheckpointError, match="'kws' checkpoint, but this command needs a 'forecast'"):
        load_checkpoint(good, "forecast")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match=r"garbage\.pt"):
        load_checkpoint(garbage)
    table = tmp_path / "sales.csv"
    table.write_text("date,store_nbr,item_nbr,unit_sales\n2017-01-01,1,1,3\n")
    with pytest.raises(CheckpointError, match=r"sales\.csv: not a checkpoint but a text file"):
        load_checkpoint(table)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a dlcli checkpoint"):
        load_checkpoint(foreign)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "dlcli-checkpoint", "payload": Path("x")}, unsafe)
    with pytest.raises(CheckpointError, match="safe load refuses"):
        load_checkpoint(unsafe)
    newer = tmp_path / "newer.pt"
    checkpoint = build_checkpoint(task="kws", model=nn.Linear(2, 2))
    checkpoint["format_version"] = 99
    save_checkpoint(checkpoint, newer)
    with pytest.raises(CheckpointError, match="upgrade"):
        load_checkpoint(newer)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoints_refuse_values_that_safe_loading_would_reject():
    with pytest.raises(TypeError, match="plain Python values"):
        build_checkpoint(task="toy", model=nn.Linear(1, 1), extra={"path": Path("x")})


def test_engine_picks_fp32_on_cpu_and_refuses_fp16_there(tmp_path):
    trainer, data = _toy_setup(tmp_path, precision="fp16", epochs=1)
    with pytest.raises(UsageError, match="fp16"):
        trainer.fit(data)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.gpu
def test_bf16_autocast_on_gpu(tmp_path):
    trainer, data = _toy_setup(tmp_path, precision="auto", device="cuda", epochs=1)
    trainer.fit(data, data)
    assert trainer.precision in ("bf16", "fp16")


def test_resume_reads_the_metric_sums_of_checkpoints_written_before_per_metric_counts(tmp_path):
    trainer, data = _toy_setup(tmp_path, max_steps=2, checkpoint_every=1, log_every=100)
    trainer.fit(data, data)
    last = tmp_path / "run" / "last.pt"
    checkpoint = torch.load(last, weights_only=True)
    state = checkpoint["training_state"]["epoch_metrics"]
    assert state["counts"]["loss"] == 32  # two steps of 16 examples, not yet averaged into an epoch
    state["count"] = state.pop("counts")["loss"]  # the older layout: one count shared by every metric
    save_checkpoint(checkpoint, last)

    trainer, data = _toy_setup(tmp_path)
    resumed = trainer.fit(data, data, resume=True)
    straight, _ = _toy_setup(tmp_path / "straight")
    uninterrupted = straight.fit(data, data)
    assert resumed.steps == 8 and resumed.epochs == 2
    # the first epoch's training means include the two steps taken before the resume
    assert resumed.history[0]["train_loss"] == pytest.approx(uninterrupted.history[0]["train_loss"], rel=1e-6)
    assert resumed.history[0]["train_accuracy"] == pytest.approx(uninterrupted.history[0]["train_accuracy"])
