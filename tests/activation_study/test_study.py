import json

from typer.testing import CliRunner

from dlcli.activation_study.bench import benchmark_activations
from dlcli.activation_study.report import comparisons
from dlcli.cli import app

runner = CliRunner()


def test_quick_study_writes_tables_plots_and_is_resumable(tmp_path):
    out = tmp_path / "study"
    args = [
        "-q",
        "activations",
        "study",
        "--out",
        str(out),
        "--architectures",
        "fc,conv2",
        "--activations",
        "relu,modulus,tanh",
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--bench-elements",
        "4096",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "| modulus |" in report and "rank-sum" in report and "saved B/elem" in report
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    results = json.loads((out / "results.json").read_text())
    assert len(results["curves"]["conv2"]["modulus"]) == 2
    assert len(results["curves"]["fc"]["relu"][0]) == 2
    # a second invocation reuses every finished run
    stamp = (out / "runs/fc/relu/seed-0/metrics.jsonl").stat().st_mtime_ns
    assert runner.invoke(app, args).exit_code == 0
    assert (out / "runs/fc/relu/seed-0/metrics.jsonl").stat().st_mtime_ns == stamp


def test_wilcoxon_comparison_picks_the_best_benchmark():
    scores = {"fc": {"relu": [90.0, 91.0, 92.0], "tanh": [80.0, 81.0, 82.0], "modulus": [95.0, 96.0, 97.0]}}
    (row,) = comparisons(scores)
    assert row["best_benchmark"] == "relu" and row["significant"] and row["p_value"] < 0.05


def test_bench_reports_ratios_and_saved_bytes():
    bench = benchmark_activations(elements=4096, dtypes=("fp32",), rounds=1, iterations=2, device="cpu")
    rows = bench["results"]["fp32"]
    assert rows["relu"]["time_vs_relu"] == 1.0
    assert rows["torch.abs"]["saved_bytes_per_element"] == 4.0
    assert rows["modulus"]["saved_bytes_per_element"] <= 1.0
