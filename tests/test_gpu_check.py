"""recipes/gpu/check.sh: its CPU dry run goes through every path the GPU run measures."""

import json
import os
import subprocess
import sys

import pytest

from .conftest import ROOT


def _env(tmp_path):
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "PYTHON": sys.executable,
        "OUT": str(tmp_path),
    }


def test_the_kws_throughput_dry_run_reports_engine_and_bare_loop(tmp_path):
    results = tmp_path / "kws.jsonl"
    command = [
        sys.executable,
        str(ROOT / "recipes" / "gpu" / "throughput.py"),
        "kws",
        "--dry-run",
        "--results",
        str(results),
    ]
    subprocess.run(command, env=_env(tmp_path), check=True, capture_output=True, timeout=300)
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["precision"] for r in records] == ["fp32", "bf16"]
    assert all(r["bare_clips_per_s"] > 0 and r["engine_clips_per_s"] > 0 for r in records)


@pytest.mark.slow
def test_the_whole_check_dry_run_produces_every_figure(tmp_path):
    result = subprocess.run(
        ["bash", str(ROOT / "recipes" / "gpu" / "check.sh"), "--dry-run"],
        env=_env(tmp_path), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "gpu-check.jsonl").read_text().splitlines()]
    figures = {r["figure"] for r in records}
    assert figures == {"kws Xception-1d training clips/s", "forecast train steps/s", "tts train steps/s"}
    assert not any("error" in r for r in records)
