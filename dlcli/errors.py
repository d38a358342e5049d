"""Errors that reach the user as one line and an exit code that says what went wrong.

Library code raises these; the command line turns them into ``error: <message>`` on
stderr and the exit code below (documented in the README). Anything else that escapes
is a bug: it exits with 1, and ``-v`` shows its traceback.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # unexpected error (a bug): run with -v for the traceback
    USAGE = 2  # bad command line or configuration
    BAD_INPUT = 3  # an input file or data set is unreadable, malformed or inconsistent
    BAD_CHECKPOINT = 4  # a checkpoint is missing, corrupted, or of another task or version
    PARTIAL = 5  # a batch command skipped some items; the rest were written
    LOCKED = 6  # another run holds the lock on this output
    DIVERGED = 7  # training stopped on non-finite losses
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # the reader of stdout closed it early (`| head`), as a shell reports for SIGPIPE


class DlcliError(Exception):
    """An error with a message meant for the user and an exit code."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, path: str | Path | None = None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else Path(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path is not None else self.message


class UsageError(DlcliError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A configuration file or option that cannot be used."""


class InputError(DlcliError):
    """Input data that cannot be read or does not have the expected form."""

    exit_code = ExitCode.BAD_INPUT


class AudioError(InputError):
    """An audio file that cannot be decoded, or is empty, truncated or unsupported."""


class CheckpointError(DlcliError):
    exit_code = ExitCode.BAD_CHECKPOINT


class LockedError(DlcliError):
    exit_code = ExitCode.LOCKED


class DivergedError(DlcliError):
    exit_code = ExitCode.DIVERGED


class PartialFailure(DlcliError):
    """Raised at the end of a batch command that wrote its results but skipped some items."""

    exit_code = ExitCode.PARTIAL
