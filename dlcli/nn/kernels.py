"""Build and load the CPU kernels of the modulus activation (``_modulus_kernels.c``).

The C file is compiled once per machine (for its own CPU) with the system C compiler into a cache
folder (``$DLCLI_CACHE`` or ``~/.cache/dlcli``), keyed by a hash of the source and the
flags, and loaded with ctypes: no build step at install time, no torch headers, and a
compile of a fraction of a second. Without a compiler, or with ``DLCLI_NO_KERNELS=1``,
``library()`` returns None and the activation falls back to plain torch operations.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

FLAGS = ["-O3", "-fopenmp", "-shared", "-fPIC", "-std=c99"]
NATIVE = ["-march=native"]  # built on the machine that runs it; the cache key includes the CPU's identity
_SIGNATURE = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]


def cache_dir() -> Path:
    root = os.environ.get("DLCLI_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dlcli"
    )
    return Path(root) / "kernels"


def _cpu_identity() -> bytes:
    """What -march=native depends on: the CPU model and its feature flags."""
    try:
        with open("/proc/cpuinfo", "rb") as cpuinfo:
            lines = [line for line in cpuinfo if line.startswith((b"model name", b"flags", b"Features", b"CPU part"))]
        return b"".join(sorted(set(lines)))
    except OSError:
        import platform

        return f"{platform.machine()} {platform.processor()}".encode()


def _compile(source: Path, target: Path) -> None:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise OSError("no C compiler found (set CC)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        try:
            command = [compiler, *FLAGS, *NATIVE, str(source), "-o", temporary]
            subprocess.run(command, check=True, capture_output=True, timeout=120)
        except subprocess.CalledProcessError:  # a compiler without -march=native: the portable build
            subprocess.run(
                [compiler, *FLAGS, str(source), "-o", temporary], check=True, capture_output=True, timeout=120
            )
        os.replace(temporary, target)  # atomic: parallel ranks may race to build the same file
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernels, building them on first use; None when they cannot be had."""
    if os.environ.get("DLCLI_NO_KERNELS"):
        return None
    try:
        import torch  # noqa: F401  (load torch's OpenMP runtime first, so the kernels share it)

        source_ref = resources.files("dlcli.nn").joinpath("_modulus_kernels.c")
        with resources.as_file(source_ref) as source:
            text = source.read_bytes()
            digest = hashlib.sha256(text + " ".join(FLAGS + NATIVE).encode() + _cpu_identity()).hexdigest()[:16]
            target = cache_dir() / f"modulus-{digest}.so"
            if not target.exists():
                _compile(source, target)
        lib = ctypes.CDLL(str(target))
        for width in (16, 32, 64):
            for direction in ("forward", "backward"):
                function = getattr(lib, f"modulus_{direction}_{width}")
                function.argtypes = _SIGNATURE
                function.restype = None
        return lib
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        log.info("modulus CPU kernels unavailable, using torch operations: %s %s", error, detail.decode()[:200])
        return None


_WIDTHS = {"float16": 16, "bfloat16": 16, "float32": 32, "float64": 64}


@functools.cache
def functions(dtype) -> tuple:
    """The (forward, backward) kernels for a torch floating dtype (library() must not be None)."""
    lib = library()
    width = _WIDTHS[str(dtype).removeprefix("torch.")]
    return getattr(lib, f"modulus_forward_{width}"), getattr(lib, f"modulus_backward_{width}")
