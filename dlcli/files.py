"""Writing results safely: atomic replacement and exclusive locks.

A result is written to a temporary file in the destination's folder and renamed over
the destination only once it is complete, so a crash, a full disk or SIGKILL never
leaves a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dlcli.errors import InputError, LockedError, UsageError

TEMP_SUFFIX = ".tmp"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to disk; best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_folder(folder: str | Path, target: str | Path | None = None) -> Path:
    """``mkdir -p`` with one clear line (exit code 2) when the path runs through a file or is not writable.

    ``target`` is what is about to be written inside, named in the message.
    """
    folder = Path(folder)
    target = Path(target) if target is not None else folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise UsageError(f"cannot write {target}: {blocking} is a file, not a folder") from None
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror}", path=folder) from None
    return folder


@contextlib.contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it over ``destination`` on success.

    The temporary name keeps the destination's suffix before ``.tmp`` (``x.csv`` ->
    ``.x.csv.<random>.tmp``) so that writers which look at the extension still work.
    On failure the temporary file is removed and the destination is left untouched.
    """
    destination = Path(destination)
    make_folder(destination.parent, destination)
    fd, name = tempfile.mkstemp(
        prefix=f".{destination.stem}.", suffix=f"{destination.suffix}{TEMP_SUFFIX}", dir=destination.parent
    )
    os.close(fd)
    temporary = Path(name)
    os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; results get the usual permissions
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, destination)
        _fsync(destination.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def write_text_atomic(destination: str | Path, text: str) -> None:
    with atomic_path(destination) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes_atomic(destination: str | Path, data: bytes) -> None:
    with atomic_path(destination) as temporary:
        temporary.write_bytes(data)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files that a killed writer left in ``folder``; return them."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for path in folder.glob(f".*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


class FileLock:
    """An exclusive, non-blocking lock on ``path`` (flock): a second holder fails at once.

    The kernel releases the lock when the process dies, so a crashed run never leaves
    a stale lock behind. Used to keep two cron runs from writing the same output.
    """

    def __init__(self, path: str | Path, what: str = "this output"):
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        import fcntl

        make_folder(self.path.parent, self.path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                holder = ""
                with contextlib.suppress(OSError):
                    holder = self.path.read_text().strip()
                detail = f" (held by process {holder})" if holder else ""
                raise LockedError(f"another run is already writing {self.what}{detail}", path=self.path) from None
            raise InputError(f"cannot lock: {error.strerror}", path=self.path) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


LOCK_NAME = ".lock"


def run_folder_lock(folder: str | Path, what: str = "the run") -> FileLock:
    """The one lock of a run folder (``<folder>/.lock``): every command that writes a run folder takes it.

    Two runs into one ``--out`` would otherwise interleave their metrics and checkpoints;
    the second one fails at once with exit code 6 instead.
    """
    folder = Path(folder)
    return FileLock(folder / LOCK_NAME, what=f"{what} {folder}")


def locks_run_folder(argument: str, what: str = "the run"):
    """Decorator: hold ``run_folder_lock`` on the folder passed as ``argument`` while the function runs."""
    import functools
    import inspect

    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args, **kwargs):
            folder = signature.bind(*args, **kwargs).arguments[argument]
            with run_folder_lock(folder, what):
                return function(*args, **kwargs)

        return locked

    return decorate
