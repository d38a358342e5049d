"""Options that mean the same thing on every command, spelled once.

Commands import these ``Annotated`` types so that ``--out``, ``--json``, ``--threads`` and
``--print-config`` read and behave the same in kws, forecast, tts, distill and activations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

PrintConfig = Annotated[
    bool,
    typer.Option("--print-config", help="Print the resolved configuration (YAML) and exit without running."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON (for scripts).")]
Threads = Annotated[
    Optional[int], typer.Option(min=1, help="CPU threads (default: DLCLI_THREADS, else the command's own default).")
]


def print_config(config: Any) -> None:
    """``--print-config``: the configuration a run would use, as the YAML ``--config`` reads; then exit 0."""
    import yaml

    from dlcli.config import to_dict

    typer.echo(yaml.safe_dump(to_dict(config), sort_keys=False), nl=False)
    raise typer.Exit()


def echo_json(value: Any) -> None:
    """``--json``: one JSON document on stdout (paths and other objects as strings)."""
    import json

    typer.echo(json.dumps(value, indent=2, default=str))


def fit_summary(result: Any) -> dict:
    """What a training command reports: where the run is, its best metric, how far it went."""
    return {
        "run": str(result.run_dir),
        "best": str(result.best_path) if result.best_path else None,
        "last": str(result.last_path),
        "monitor": result.monitor,
        "best_metric": result.best_metric,
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
    }


ConfigFile = Annotated[
    Optional[Path], typer.Option("--config", exists=True, dir_okay=False, help="YAML file (any subset of the keys).")
]


def resolve_config(cls: type, path: Path | None, overrides: dict, *, base: Any = None, show: bool = False) -> Any:
    """Defaults < ``base`` < the YAML file < the options; with ``show`` (``--print-config``) print it and exit."""
    from dlcli.config import load_config

    resolved = load_config(cls, path, overrides, base=base)
    if show:
        print_config(resolved)
    return resolved
