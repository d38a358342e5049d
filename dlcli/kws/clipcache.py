"""Decoded clips kept on disk, so a corpus is read and resampled once, not on every run.

Decoding thousands of files (and resampling those that are not 16 kHz) costs seconds on
every ``kws train`` and ``kws evaluate``; on a small model that is as long as an epoch.
The decoded int16 clips of one list of files are stored in one ``.npz`` file keyed by a
hash of the file list, each file's size and modification time, the sample rate and the clip
length: a changed, added or removed file gives another key, so the cache is never stale.
Files that failed to decode are remembered with their reason (a fixed file has a new time).

The cache lives in ``$DLCLI_CACHE/kws-clips`` (default ``~/.cache/dlcli``), beside the cached
embeddings, so read-only corpora are cached too. Writes are atomic (temporary file, rename);
a cache file that does not read back whole (the zip's CRC-32 is checked on reading) is
rebuilt. Entries not used for ``KEEP_DAYS`` days are removed when a new one is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger("dlcli.kws")

CACHE_VERSION = 1  # part of the key: bump when decoding changes what it produces
KEEP_DAYS = 30  # unused entries older than this are removed when a new one is written

Decoded = tuple[np.ndarray, list[int], list[tuple[Path, str]]]  # clips, loaded indices, failures


def clip_cache_folder() -> Path:
    """``$DLCLI_CACHE/kws-clips``, or ``~/.cache/dlcli/kws-clips`` (``$XDG_CACHE_HOME`` respected)."""
    root = os.environ.get("DLCLI_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dlcli"
    )
    return Path(root) / "kws-clips"


def cache_key(paths: Sequence[str | Path], sample_rate: int, clip_samples: int) -> str | None:
    """A hash of the files (absolute path, size, modification time) and the decoding settings.

    None when a file cannot be stat-ed (then there is nothing safe to key on: decode afresh).
    """
    digest = hashlib.sha1(f"v{CACHE_VERSION} {sample_rate} {clip_samples} {len(paths)}\n".encode())
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        digest.update(f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _read(path: Path, count: int, clip_samples: int) -> Decoded | None:
    """The cached result, or None when the file is absent, truncated, altered or of another shape."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            clips = archive["clips"]  # reading a member to its end checks the zip's CRC-32
            loaded = archive["loaded"]
            failures = json.loads(str(archive["failures"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        log.warning(f"{path}: unreadable clip cache ({error}); decoding the files again")
        return None
    if clips.dtype != np.int16 or clips.shape != (len(loaded), clip_samples) or len(loaded) + len(failures) != count:
        log.warning(f"{path}: clip cache of another shape; decoding the files again")
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # last use, for the clean-up of old entries
    return clips, loaded.tolist(), [(Path(p), reason) for p, reason in failures]


def _write(path: Path, decoded: Decoded) -> None:
    from dlcli.files import atomic_path

    clips, loaded, failures = decoded
    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez(
                handle,
                clips=clips,
                loaded=np.asarray(loaded, dtype=np.int64),
                failures=np.asarray(json.dumps([[str(p), reason] for p, reason in failures])),
            )
    except Exception as error:  # a full disk or a read-only cache folder costs speed, never the run
        log.warning(f"could not write the clip cache {path}: {error}")
        return
    cutoff = time.time() - KEEP_DAYS * 86400
    for old in path.parent.glob("*.npz"):
        with contextlib.suppress(OSError):
            if old != path and old.stat().st_mtime < cutoff:
                old.unlink()


def cached_decode(
    paths: Sequence[Path],
    decode: Callable[[Sequence[Path]], Decoded],
    *,
    sample_rate: int,
    clip_samples: int,
    folder: Path | None = None,
) -> Decoded:
    """``decode(paths)``, read from the cache when these exact files were decoded before."""
    key = cache_key(paths, sample_rate, clip_samples) if paths else None
    if key is None:
        return decode(paths)
    path = (folder or clip_cache_folder()) / f"clips-{key}.npz"
    cached = _read(path, len(paths), clip_samples)
    if cached is not None:
        return cached
    decoded = decode(paths)
    _write(path, decoded)
    return decoded
