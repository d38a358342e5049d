"""One stderr console for logs and progress bars, so bars and messages never interleave badly."""

from __future__ import annotations

import functools
import logging
from pathlib import Path


@functools.cache
def console():
    from rich.console import Console

    return Console(stderr=True)


def setup_logging(verbosity: int = 0, log_file: str | Path | None = None) -> None:
    """Messages to stderr through rich (-q: warnings only, -v: debug); optionally also to a file."""
    from rich.logging import RichHandler

    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    root = logging.getLogger("dlcli")
    for handler in list(root.handlers):
        if getattr(handler, "_dlcli_console", False):
            root.removeHandler(handler)
    handler = RichHandler(
        console=console(),
        show_time=False,
        show_path=False,
        show_level=verbosity > 0,
        markup=False,
        rich_tracebacks=False,
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(level)  # a log file added later may lower the logger's level; the console keeps its own
    handler._dlcli_console = True
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    if log_file is not None:
        add_log_file(log_file)


def add_log_file(path: str | Path) -> logging.Handler:
    """Append timestamped records to ``path`` (for cron runs) until the process ends."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger("dlcli")
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def progress(*, disable: bool | None = None, transient: bool = False):
    """A rich progress bar on the shared console: description, bar, count, times, and a free text field.

    ``disable=None`` follows the console: no bar under ``-q``.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("<"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console(),
        disable=console_is_quiet() if disable is None else disable,
        transient=transient,
    )


def console_is_quiet() -> bool:
    """Whether the console shows warnings only (``-q``): progress bars and summaries stay off too."""
    for handler in logging.getLogger("dlcli").handlers:
        if getattr(handler, "_dlcli_console", False):
            return handler.level > logging.INFO
    return False
