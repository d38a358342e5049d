"""Library code takes device, precision, seed and verbosity from its arguments and configs.

The process-wide ``runtime`` object holds what the root command line said; only the command
modules (``cli.py``) read it and resolve it into configs, so the library behaves the same when
called from Python.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dlcli

PACKAGE = Path(dlcli.__file__).parent


def runtime_readers() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "cli.py" or path == PACKAGE / "runtime.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imports_runtime = isinstance(node, ast.ImportFrom) and node.module == "dlcli.runtime"
            if imports_runtime and any(alias.name == "runtime" for alias in node.names):
                found.append(str(path.relative_to(PACKAGE)))
    return found


def test_only_command_modules_read_the_process_wide_runtime():
    assert runtime_readers() == []
