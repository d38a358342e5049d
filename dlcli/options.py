"""Options that mean the same thing on every command, spelled once.

Commands import these ``Annotated`` types so that ``--out``, ``--json``, ``--threads`` and
``--print-config`` read and behave the same in kws, forecast, tts, distill and activations.
"""

from __future__ import annotations

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
