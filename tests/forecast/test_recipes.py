"""The simulated-world recipes start fresh runs without --resume (an error with nothing to resume) and resume
interrupted ones, so the benchmark and ablation tables can be re-made with one command."""

import os
import stat
import subprocess

import pytest

from tests.forecast.conftest import ROOT

# A stand-in for dlcli that behaves like it on --resume: an error unless the run folder holds last.pt.
FAKE_DLCLI = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
out=
while (($#)); do
  case $1 in --out) out=$2; shift ;; esac
  shift
done
if [[ " $(tail -n 1 "$CALLS") " == *" train "* ]]; then
  if [[ " $(tail -n 1 "$CALLS") " == *" --resume "* && ! -f $out/last.pt ]]; then
    echo "$out: nothing to resume (no last.pt)" >&2
    exit 2
  fi
  mkdir -p "$out" && touch "$out/last.pt" "$out/best.pt"
fi
"""


@pytest.fixture
def fake_dlcli(tmp_path):
    path = tmp_path / "dlcli"
    path.write_text(FAKE_DLCLI)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("id\n")
    return path, data, tmp_path / "calls.txt"


def _run(recipe, fake, *args):
    path, _, calls = fake
    env = {**os.environ, "DLCLI": str(path), "CALLS": str(calls)}
    return subprocess.run(["bash", str(ROOT / "recipes" / "forecast" / recipe), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip


def _trains(calls):
    return [line for line in calls.read_text().splitlines() if " train " in f" {line} "]


def test_ablations_start_fresh_runs_and_resume_interrupted_ones(fake_dlcli, tmp_path):
    _, data, calls = fake_dlcli
    runs = tmp_path / "runs"
    (runs / "no-trick").mkdir(parents=True)
    (runs / "no-trick" / "last.pt").touch()  # interrupted: no best.pt yet
    result = _run("ablations.sh", fake_dlcli, str(data), str(runs), "trick")
    assert result.returncode == 0, result.stderr
    history, no_trick = _trains(calls)
    assert "--history 75" in history and "--resume" not in history
    assert "--no-random-present" in no_trick and "--resume" in no_trick
    assert " evaluate " in calls.read_text().splitlines()[-1]
    result = _run("ablations.sh", fake_dlcli, str(data), str(runs), "trick")  # finished runs are kept
    assert result.returncode == 0 and len(_trains(calls)) == 2


def test_benchmark_starts_fresh_runs(fake_dlcli, tmp_path):
    _, data, calls = fake_dlcli
    result = _run("benchmark.sh", fake_dlcli, str(data), str(tmp_path / "bench"))
    assert result.returncode == 0, result.stderr
    trains = _trains(calls)
    assert len(trains) == 3 and not any("--resume" in line for line in trains)
