"""The engine's side of the task contract: resume, non-finite losses, evaluation, no checkpoints."""

import os
import signal
import subprocess

import pytest
import torch
import torch.nn.functional as F

from dlcli.errors import UsageError

from .test_engine import ROOT, TOY, _toy_setup


def test_resume_without_a_previous_run_is_an_error_not_a_silent_fresh_start(tmp_path):
    trainer, data = _toy_setup(tmp_path)
    with pytest.raises(UsageError, match="nothing to resume"):
        trainer.fit(data, data, resume=True)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_a_non_finite_loss_on_one_rank_is_skipped_by_every_rank(tmp_path, python):
    """Under torchrun, rank 1 alone meets a NaN: both ranks skip that step instead of hanging in all-reduce."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    run_dir = tmp_path / "ddp"
    command = [python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(TOY), str(run_dir)]
    command += ["--epochs", "2", "--nan-at-step", "3", "--nan-on-rank", "1"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("the ranks hung: one skipped the step while the other waited in the gradient all-reduce")
    assert process.returncode == 0, stderr[-2000:]
    assert stderr.count("steps=9 epochs=2") == 2  # 10 steps less the skipped one, on both ranks


def test_step_functions_receive_the_context_and_the_engine_can_write_no_checkpoints(tmp_path):
    seen = []

    def step(model, batch, context):
        inputs, labels = batch
        seen.append((context.epoch, context.step, context.training, context.model is trainer.model))
        logits = model(inputs)
        return F.cross_entropy(logits, labels), {"accuracy": (logits.argmax(1) == labels).float().mean()}

    trainer, data = _toy_setup(tmp_path)
    trainer.step_fn = step
    trainer.save_checkpoints = False
    result = trainer.fit(data, data)
    assert not list((tmp_path / "run").glob("*.pt"))
    training = [s for s in seen if s[2]]
    assert [s[:2] for s in training] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 4), (1, 5), (1, 6), (1, 7)]
    assert all(s[3] for s in seen) and any(not s[2] for s in seen)  # validation steps see training=False
    assert result.best_metric == min(r["val_loss"] for r in result.history)
    assert result.best_state is not None and result.best_state.keys() == trainer.model.state_dict().keys()
    if result.history[-1]["best"]:
        assert all(torch.equal(result.best_state[k], v) for k, v in trainer.model.state_dict().items())


def test_curves_have_no_best_panel_and_no_repeated_title():
    from pathlib import Path

    from dlcli.train.engine import _curves_title
    from dlcli.train.plots import curve_families

    records = [
        {"event": "train", "epoch": 1, "step": 2, "lr": 0.1, "loss": 0.7},
        {"event": "epoch", "epoch": 1, "step": 4, "lr": 0.1, "train_loss": 0.6, "val_loss": 0.5, "best": True},
    ]
    assert set(curve_families(records)) == {"loss"}
    assert _curves_title("kws", Path("runs/kws")) == "kws"
    assert _curves_title("kws", Path("runs/small-cpu")) == "kws: small-cpu"
