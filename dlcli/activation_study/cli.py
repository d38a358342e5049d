"""``dlcli activations``: the registry, the chapter-3 study, and the speed/memory benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.nn.names import ACTIVATIONS
from dlcli.options import ConfigFile, Json, PrintConfig, echo_json, resolve_config
from dlcli.runtime import runtime, train_overrides

app = typer.Typer(help="The activation registry (modulus and friends): list, study, benchmark.", no_args_is_help=True)


def _split(values: Optional[str]) -> Optional[list[str]]:
    return None if values is None else [v.strip() for v in values.split(",") if v.strip()]


@app.command("list")
def list_activations(as_json: Json = False) -> None:
    """Every activation that --activation accepts, with its formula."""
    if as_json:
        return echo_json(dict(ACTIVATIONS))
    width = max(map(len, ACTIVATIONS))
    for name, formula in ACTIVATIONS.items():
        typer.echo(f"{name.ljust(width)}  {formula}")


@app.command()
def study(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for runs, report.md, curves.png, results.json.")],
    quick: Annotated[bool, typer.Option("--quick", help="3 seeds x 20 epochs: minutes on a laptop CPU.")] = False,
    dataset: Annotated[str, typer.Option(help="digits or spoken-digits.", rich_help_panel="Data")] = "digits",
    data_dir: Annotated[
        Optional[Path], typer.Option(help="Folder of FSDD recordings (spoken-digits).", rich_help_panel="Data")
    ] = None,
    architectures: Annotated[
        Optional[str], typer.Option(help="Comma-separated: fc,conv2,conv6.", rich_help_panel="Model")
    ] = None,
    activations: Annotated[
        Optional[str], typer.Option(help="Comma-separated registry names (default: all).", rich_help_panel="Model")
    ] = None,
    width: Annotated[Optional[float], typer.Option(help="Layer-width multiplier.", rich_help_panel="Model")] = None,
    seeds: Annotated[
        Optional[int], typer.Option(help="Seeds per combination (full: 30).", rich_help_panel="Optimization")
    ] = None,
    epochs: Annotated[
        Optional[int], typer.Option(help="Epochs per run (full: 100).", rich_help_panel="Optimization")
    ] = None,
    bench_elements: Annotated[
        Optional[int], typer.Option(help="Elements in the speed/memory benchmark (0 skips it).")
    ] = None,
    config: ConfigFile = None,
    show_config: PrintConfig = False,
    as_json: Json = False,
) -> None:
    """Train FC/Conv2/Conv6 with every activation over many seeds; tables, p-values, curves, speed."""
    from dlcli.activation_study.study import QUICK, StudyConfig, run_study

    base = StudyConfig(**QUICK) if quick else None
    overrides = {
        "dataset": dataset if dataset != "digits" or config is None else None,
        "data_dir": str(data_dir) if data_dir else None,
        "architectures": _split(architectures),
        "activations": _split(activations),
        "width": width,
        "seeds": seeds,
        "epochs": epochs,
        "bench_elements": bench_elements,
        **train_overrides(section=None, keys=("device", "precision")),
    }
    resolved = resolve_config(StudyConfig, config, overrides, base=base, show=show_config)
    results = run_study(resolved, out)
    if as_json:
        echo_json(results)
    elif not runtime.quiet:
        typer.echo((out / "report.md").read_text())
        typer.echo(f"written: {out / 'report.md'}, {out / 'curves.png'}, {out / 'results.json'}")


@app.command()
def bench(
    elements: Annotated[int, typer.Option(help="Tensor size.")] = 2**24,
    dtypes: Annotated[str, typer.Option(help="Comma-separated: fp32,bf16,fp16.")] = "fp32,bf16",
    rounds: Annotated[int, typer.Option(help="Interleaved repeats (median reported).")] = 7,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write the table (markdown) here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Forward+backward time relative to ReLU and bytes saved for backward, per activation."""
    from dlcli.activation_study.bench import bench_markdown, benchmark_activations
    from dlcli.files import write_text_atomic

    result = benchmark_activations(
        elements=elements, dtypes=tuple(_split(dtypes)), device=runtime.device, rounds=rounds
    )
    table = bench_markdown(result)
    if out is not None:
        write_text_atomic(out, table)
    typer.echo(json.dumps(result, indent=2) if as_json else table)
