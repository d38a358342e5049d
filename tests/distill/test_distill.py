import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.distill.blend import BLENDS, blend, entropy, mean_correlation
from dlcli.distill.calibrate import find_temperature, mean_top_probability
from dlcli.errors import UsageError
from dlcli.train import classifiers

from . import toy_task

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return toy_task.make_world(tmp_path_factory.mktemp("toy"))


@pytest.fixture
def toy(world, monkeypatch):
    monkeypatch.setitem(classifiers.INTERFACES, toy_task.TASK, "tests.distill.toy_task:ToyClassifier")
    return world


def distill_args(toy, out, *options, teachers=None):
    """A ``dlcli -q distill`` command line on the toy task."""
    args = ["-q", "distill", "--student", str(toy["student"]), "--unlabeled", str(toy["unlabeled"])]
    args += ["--dev", str(toy["labelled"]), "--out", str(out), *options]
    for teacher in toy["teachers"] if teachers is None else teachers:
        args += ["--teacher", str(teacher)]
    return args


@pytest.mark.parametrize("scale", [0.05, 1.0, 40.0])
def test_bisection_reaches_the_target_even_outside_the_reference_bracket(scale):
    torch.manual_seed(0)
    logits = torch.randn(500, 10) * 5 * scale
    calibration = find_temperature(logits, 0.35)
    assert abs(calibration.confidence - 0.35) < 1e-4
    assert abs(mean_top_probability(logits, calibration.temperature) - 0.35) < 1e-4
    if scale == 40.0:
        assert calibration.temperature > 6  # root above the reference's [1, 6]
    if scale == 0.05:
        assert calibration.temperature < 1  # root below it


def test_impossible_targets_are_explained():
    with pytest.raises(UsageError, match="1/classes"):
        find_temperature(torch.randn(10, 4), 0.2)
    with pytest.raises(UsageError, match="tops out"):
        find_temperature(torch.zeros(10, 4), 0.5)  # identical outputs: every temperature gives 0.25


def test_blends_on_hand_made_teachers():
    # three teachers, one example, three classes
    p = torch.tensor([[[0.8, 0.1, 0.1]], [[0.4, 0.5, 0.1]], [[0.6, 0.3, 0.1]]])
    torch.testing.assert_close(blend("mean", p), p.mean(0))
    median = torch.tensor([[0.6, 0.3, 0.1]])
    torch.testing.assert_close(blend("median", p), median / median.sum())
    assert torch.equal(blend("min-entropy", p), p[0])  # the most confident
    assert torch.equal(blend("max-entropy", p), p[1])
    agreement = mean_correlation(p)[:, 0]
    assert torch.equal(blend("max-correlation", p), p[int(agreement.argmax())])
    assert torch.equal(blend("min-correlation", p), p[int(agreement.argmin())])
    assert torch.equal(blend("best", p, best_teacher=2), p[2])
    assert entropy(torch.tensor([1.0, 0.0])).item() == 0.0


def test_random_blend_is_per_example_reproducible_and_redrawn_each_epoch():
    p = torch.rand(4, 1000, 3)
    rows = torch.arange(1000)
    first = blend("random", p, indices=rows, seed=1, epoch=0)
    assert torch.equal(first, blend("random", p, indices=rows, seed=1, epoch=0))
    assert not torch.equal(first, blend("random", p, indices=rows, seed=1, epoch=1))
    chosen = [(p[:, i] == first[i]).all(-1).nonzero()[0].item() for i in range(1000)]
    counts = np.bincount(chosen, minlength=4)
    assert counts.min() > 180  # roughly uniform over the teachers
    assert set(BLENDS) >= {"mean", "median", "random", "min-entropy", "max-correlation", "best"}


def test_distill_cli_lifts_the_student_caches_once_and_reports(toy, tmp_path):
    out = tmp_path / "run"
    broken = toy["unlabeled"] / "broken.npy"
    broken.write_text("not an array")
    options = ["--test", str(toy["labelled"]), "--blend", "mean", "--blend", "min-entropy", "--blend", "random"]
    options += ["--epochs", "6", "--lr", "0.01", "--batch-size", "128"]
    args = distill_args(toy, out, *options)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["transfer_skipped"] == 1 and report["transfer_examples"] == 800
    student = next(m for m in report["models"] if m["role"] == "student")
    teachers = [m for m in report["models"] if m["role"] == "teacher"]
    assert all(abs(m["calibration"]["confidence"] - 0.35) < 1e-3 for m in report["models"])
    assert min(t["test"]["top1"] for t in teachers) > student["test"]["top1"] + 0.05
    for run in report["runs"]:
        assert run["test"]["top1"] > student["test"]["top1"] + 0.02, run  # unlabeled data lifted the student
        assert (out / "runs" / run["blend"] / "seed-0" / "student.pt").exists()
    assert "| min-entropy |" in (out / "report.md").read_text()
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # the distilled student is a checkpoint of the student's own task
    classifier = classifiers.load_classifier(out / "runs" / "mean" / "seed-0" / "student.pt")
    assert classifier.task == toy_task.TASK
    # a second invocation reuses the cache and the finished runs
    caches = sorted((out / "cache").iterdir())
    stamp = (caches[0] / "manifest.json").stat().st_mtime_ns
    assert runner.invoke(app, args).exit_code == 0
    assert sorted((out / "cache").iterdir()) == caches
    assert (caches[0] / "manifest.json").stat().st_mtime_ns == stamp
    broken.unlink()


def test_naive_mode_gives_the_same_targets_as_the_cache(toy, tmp_path):
    common = ["--blend", "mean", "--epochs", "2", "--lr", "0.01"]
    cached = runner.invoke(app, distill_args(toy, tmp_path / "cached", *common))
    naive = runner.invoke(app, distill_args(toy, tmp_path / "naive", *common, "--no-teacher-cache"))
    assert cached.exit_code == 0 and naive.exit_code == 0, naive.output
    a = json.loads((tmp_path / "cached" / "report.json").read_text())["runs"][0]["curve"]
    b = json.loads((tmp_path / "naive" / "report.json").read_text())["runs"][0]["curve"]
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_the_root_seed_chooses_the_repetitions_seeds(toy, tmp_path):
    common = ["--blend", "random", "--epochs", "2", "--lr", "0.01", "--seeds", "2"]
    default = runner.invoke(app, distill_args(toy, tmp_path / "default", *common))
    seeded = runner.invoke(app, ["--seed", "7", *distill_args(toy, tmp_path / "seeded", *common)])
    assert default.exit_code == 0 and seeded.exit_code == 0, seeded.output
    assert sorted(p.name for p in (tmp_path / "seeded" / "runs" / "random").iterdir()) == ["seed-7", "seed-8"]
    a = json.loads((tmp_path / "default" / "report.json").read_text())["runs"]
    b = json.loads((tmp_path / "seeded" / "report.json").read_text())["runs"]
    assert [run["seed"] for run in a] == [0, 1] and [run["seed"] for run in b] == [7, 8]
    weights = [
        torch.load(tmp_path / run / "runs" / "random" / seed / "student.pt", weights_only=True)["state_dict"]
        for run, seed in (("default", "seed-0"), ("seeded", "seed-7"))
    ]
    differs = [not torch.equal(weights[0][name], weights[1][name]) for name in weights[0]]
    assert any(differs)  # a different seed draws different teachers for each example


def test_a_checkpoint_of_a_non_classifier_task_is_refused(toy, tmp_path):
    from dlcli.train import build_checkpoint, save_checkpoint

    other = save_checkpoint(build_checkpoint(task="forecast", model=torch.nn.Linear(1, 1)), tmp_path / "f.pt")
    result = runner.invoke(app, distill_args(toy, tmp_path / "x", teachers=[other]))
    assert result.exit_code == 4
    assert "'forecast' checkpoint is not a classifier" in result.output
