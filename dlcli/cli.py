"""The ``dlcli`` command line: a root Typer app with one sub-app per task.

Commands only parse options into configurations and call library functions; torch is
imported inside command bodies so ``dlcli --help`` answers at once. Errors meant for
the user (``DlcliError``) print one line and exit with their code; anything else is a
bug, reported in one line too unless ``-v`` asks for the traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from dlcli import __version__
from dlcli.errors import DlcliError, ExitCode
from dlcli.runtime import reset, runtime

try:  # recent typer vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer on top of click
    from click.exceptions import ClickException

# exceptions that carry their own exit code and message: let click handle them
_PASS_THROUGH = (typer.Exit, typer.Abort, ClickException)


def _literal_help_texts() -> None:
    """Render help texts without Rich's emoji codes: Rich reads ':name:' as one, so the help of
    ``--mix A:B:WEIGHT`` showed "A🅱WEIGHT". Installed when the first help screen is drawn, so commands
    that print no help never import Rich."""
    import inspect

    from rich.text import Text
    from typer import rich_utils

    if getattr(rich_utils, "_dlcli_literal", False):
        return
    original = rich_utils._make_rich_text

    def make_rich_text(*, text: str, style: str = "", markup_mode):
        if markup_mode == rich_utils.MARKUP_MODE_RICH and not rich_utils._has_ansi_character(text):
            return rich_utils.highlighter(Text.from_markup(inspect.cleandoc(text), style=style, emoji=False))
        return original(text=text, style=style, markup_mode=markup_mode)

    rich_utils._make_rich_text = make_rich_text
    rich_utils._dlcli_literal = True


def _with_literal_help(command_class) -> None:
    format_help = command_class.format_help

    def literal_format_help(self, ctx, formatter):
        _literal_help_texts()
        return format_help(self, ctx, formatter)

    command_class.format_help = literal_format_help


for _command_class in (TyperCommand, TyperGroup):  # every command and group of every sub-app
    _with_literal_help(_command_class)


def _say_error(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


class DlcliGroup(TyperGroup):
    """Root group: turns exceptions from any sub-command into one line and an exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except DlcliError as error:
            if runtime.verbosity > 0:
                traceback.print_exc()
            _say_error(str(error))
            ctx.exit(int(error.exit_code))
        except KeyboardInterrupt as error:
            _say_error(str(error) or "interrupted")
            ctx.exit(int(ExitCode.INTERRUPTED))
        except BrokenPipeError:  # `| head` has read enough: stop quietly, and flush nothing more at exit
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(int(ExitCode.BROKEN_PIPE))
        except Exception as error:  # a bug: keep it to one line unless asked
            if runtime.verbosity > 0:
                traceback.print_exc()
                _say_error(f"{type(error).__name__}: {error}")
            else:
                _say_error(f"{type(error).__name__}: {error} (run with -v for the traceback)")
            ctx.exit(int(ExitCode.FAILURE))


app = typer.Typer(
    name="dlcli",
    cls=DlcliGroup,
    help="Deep learning on signals and time series, from the command line.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dlcli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel="Hardware")] = "auto",
    precision: Annotated[
        str, typer.Option(help="auto (bf16/fp16 on GPUs, fp32 on CPU), fp32, bf16 or fp16.", rich_help_panel="Hardware")
    ] = "auto",
    seed: Annotated[Optional[int], typer.Option(help="Seed for every random choice (overrides configs).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail; tracebacks on errors.")] = 0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Deep learning on signals and time series, from the command line."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise typer.BadParameter("use auto, fp32, bf16 or fp16", param_hint="--precision")
    reset(device=device, precision=precision, seed=seed, verbosity=-1 if quiet else verbose)
    from dlcli.console import setup_logging

    setup_logging(runtime.verbosity)


@app.command()
def info(as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False) -> None:
    """Versions, the device dlcli would use, bf16 support and threads."""
    import platform

    import torch

    from dlcli.nn import kernels
    from dlcli.train.device import bf16_supported, choose_device, configure_threads

    device = choose_device(runtime.device)
    facts = {
        "dlcli": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "device": str(device),
        "bf16_supported": bf16_supported(device),
        "threads": configure_threads(),
        "modulus_cpu_kernels": kernels.library() is not None,  # opt-in: DLCLI_KERNELS=1
    }
    for package in ("numpy", "librosa", "soundfile", "polars", "pandas", "onnxruntime"):
        try:
            facts[package] = __import__(package).__version__
        except ImportError:
            facts[package] = None
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    width = max(map(len, facts))
    for key, value in facts.items():
        if isinstance(value, list):
            value = ", ".join(value) or "none"
        typer.echo(f"{key.ljust(width)}  {value if value is not None else '-'}")


def _mount() -> None:
    """Attach each task's sub-app (only those that exist)."""
    from dlcli.activation_study.cli import app as activations_app
    from dlcli.distill.cli import distill_command
    from dlcli.forecast.cli import app as forecast_app
    from dlcli.kws.cli import app as kws_app
    from dlcli.tts.cli import app as tts_app

    app.add_typer(activations_app, name="activations")
    app.add_typer(kws_app, name="kws")
    app.add_typer(forecast_app, name="forecast")
    app.command("distill")(distill_command)
    app.add_typer(tts_app, name="tts")


_mount()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
