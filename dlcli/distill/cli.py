"""``dlcli distill``: several teachers lift a small pre-trained student on unlabeled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.options import ConfigFile, Json, PrintConfig, echo_json, print_config
from dlcli.runtime import runtime, train_overrides


def distill_command(
    teacher: Annotated[
        list[Path],
        typer.Option("--teacher", "-t", exists=True, help="Teacher checkpoint (repeat).", rich_help_panel="Model"),
    ],
    student: Annotated[
        Path,
        typer.Option("--student", "-s", exists=True, help="Pre-trained student checkpoint.", rich_help_panel="Model"),
    ],
    unlabeled: Annotated[
        list[Path],
        typer.Option(
            "--unlabeled",
            "-u",
            exists=True,
            help="Transfer-set files or folders (repeat); labels unused.",
            rich_help_panel="Data",
        ),
    ],
    dev: Annotated[
        Path,
        typer.Option(exists=True, file_okay=False, help="Labelled folder for early stopping.", rich_help_panel="Data"),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (report.md, curves.png, students).")],
    test: Annotated[
        Optional[Path],
        typer.Option(
            exists=True, file_okay=False, help="Labelled folder for the final report.", rich_help_panel="Data"
        ),
    ] = None,
    dev_split: Annotated[
        str, typer.Option(help="Split of the dev folder, or 'all'.", rich_help_panel="Data")
    ] = "validation",
    test_split: Annotated[
        str, typer.Option(help="Split of the test folder, or 'all'.", rich_help_panel="Data")
    ] = "testing",
    blend: Annotated[
        Optional[list[str]],
        typer.Option(
            "--blend",
            "-b",
            help="Blend method (repeat, or 'all'): mean, median, random, min-entropy, max-correlation, best, max-entropy, min-correlation.",
            rich_help_panel="Distillation",
        ),
    ] = None,
    target_confidence: Annotated[
        Optional[float],
        typer.Option(help="Mean top-class probability every model is calibrated to.", rich_help_panel="Distillation"),
    ] = None,
    seeds: Annotated[
        Optional[int], typer.Option(help="Repetitions per blend method.", rich_help_panel="Distillation")
    ] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs.", rich_help_panel="Optimization")] = None,
    lr: Annotated[
        Optional[float],
        typer.Option(help="Learning rate (the paper's 1e-6 by default).", rich_help_panel="Optimization"),
    ] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help="Examples per step.", rich_help_panel="Optimization")
    ] = None,
    early_stopping: Annotated[
        Optional[int],
        typer.Option(help="Epochs without dev improvement before stopping.", rich_help_panel="Optimization"),
    ] = None,
    no_teacher_cache: Annotated[
        bool,
        typer.Option(
            "--no-teacher-cache",
            help="Run the teachers on every batch (the naive way; for comparison).",
            rich_help_panel="Distillation",
        ),
    ] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Retrain runs that already finished in --out.")] = False,
    config: ConfigFile = None,
    show_config: PrintConfig = False,
    as_json: Json = False,
) -> None:
    """Calibrate every model, cache the teachers once, distil per blend method, report like Table 4.2."""
    from dlcli.config import load_config
    from dlcli.distill.train import DistillConfig, distill

    overrides = {
        "teachers": [str(p) for p in teacher],
        "student": str(student),
        "unlabeled": [str(p) for p in unlabeled],
        "dev": str(dev),
        "dev_split": dev_split,
        "test": str(test) if test else None,
        "test_split": test_split,
        "blends": blend,
        "target_confidence": target_confidence,
        "seeds": seeds,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "early_stopping": early_stopping,
        "cache_teachers": False if no_teacher_cache else None,
        **train_overrides(section=None),
    }
    resolved = load_config(DistillConfig, config, overrides)
    if dev_split == "all":
        resolved.dev_split = None
    if test_split == "all":
        resolved.test_split = None
    if show_config:
        print_config(resolved)
    report = distill(resolved, out, resume=not restart)
    if as_json:
        echo_json(report)
    elif not runtime.quiet:
        typer.echo((out / "report.md").read_text())
