"""Opt-in CPU kernels of the modulus activation (``_modulus_kernels.c``): ``DLCLI_KERNELS=1``.

By default the modulus runs on torch operations everywhere (no compiler, nothing built at
run time). With ``DLCLI_KERNELS=1`` the C file is compiled once per machine (for its own
CPU) with the system C compiler into a cache folder (``$DLCLI_CACHE`` or
``~/.cache/dlcli``), keyed by a hash of the source, the flags and the CPU, and loaded with
ctypes; on this project's 2-core x86_64 machine it made the activation's forward+backward
about 6x faster than the torch path (docs/BENCHMARKS.md). Without a compiler ``library()``
returns None and the torch path is used. ``load(native=False)`` builds the portable
(non-AVX2) variant, so both instruction-set paths can be tested on one machine.
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


def _compile(source: Path, target: Path, native: bool = True) -> None:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise OSError("no C compiler found (set CC)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        try:
            command = [compiler, *FLAGS, *(NATIVE if native else []), str(source), "-o", temporary]
            subprocess.run(command, check=True, capture_output=True, timeout=120)
        except subprocess.CalledProcessError:  # a compiler without -march=native: the portable build
            subprocess.run(
                [compiler, *FLAGS, str(source), "-o", temporary], check=True, capture_output=True, timeout=120
            )
        os.replace(temporary, target)  # atomic: parallel ranks may race to build the same file
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


ENVIRONMENT = "DLCLI_KERNELS"  # "1": use the compiled kernels on the CPU


def enabled() -> bool:
    """Whether the user opted in to the compiled kernels."""
    return os.environ.get(ENVIRONMENT, "") == "1"


def library() -> ctypes.CDLL | None:
    """The kernels when opted in (``DLCLI_KERNELS=1``), building them on first use; else None."""
    return load(native=True) if enabled() else None


@functools.cache
def load(native: bool = True) -> ctypes.CDLL | None:
    """The compiled kernels (``native``: for this CPU, AVX2 paths included; else portable C); None without a compiler."""
    try:
        import torch  # noqa: F401  (load torch's OpenMP runtime first, so the kernels share it)

        flags = FLAGS + (NATIVE if native else [])
        source_ref = resources.files("dlcli.nn").joinpath("_modulus_kernels.c")
        with resources.as_file(source_ref) as source:
            text = source.read_bytes()
            digest = hashlib.sha256(text + " ".join(flags).encode() + _cpu_identity()).hexdigest()[:16]
            target = cache_dir() / f"modulus-{digest}.so"
            if not target.exists():
                _compile(source, target, native)
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


def functions(dtype, lib: ctypes.CDLL | None = None) -> tuple:
    """The (forward, backward) kernels for a torch floating dtype (of ``lib``, default ``library()``)."""
    lib = lib if lib is not None else library()
    width = _WIDTHS[str(dtype).removeprefix("torch.")]
    return getattr(lib, f"modulus_forward_{width}"), getattr(lib, f"modulus_backward_{width}")
