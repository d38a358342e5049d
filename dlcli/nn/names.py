"""Names of the registered activations, importable without torch (for fast --help)."""

from __future__ import annotations

import difflib
from enum import Enum

from dlcli.errors import ConfigError

# name -> one-line description (the formula), in the order tables list them.
ACTIVATIONS: dict[str, str] = {
    "relu": "max(x, 0)",
    "leaky_relu": "max(x, 0.01 x)",
    "tanh": "tanh(x)",
    "elu": "x if x > 0 else exp(x) - 1",
    "silu": "x sigmoid(x) (swish)",
    "mish": "x tanh(softplus(x))",
    "pflu": "x (1 + x / sqrt(1 + x^2)) / 2",
    "fpflu": "max(x, x / (1 + x^2))",
    "modulus": "|x|, with f'(0) = +1",
    "softmodulus_q": "x^2 (2 - |x|) for |x| <= 1, else |x|",
    "softmodulus_t": "x tanh(x / beta), beta = 0.01",
}
ALIASES = {"swish": "silu", "abs": "modulus", "softmodulusq": "softmodulus_q", "softmodulust": "softmodulus_t"}

Activation = Enum("Activation", {name: name for name in ACTIVATIONS}, type=str)
Activation.__doc__ = "An activation of the registry (dlcli activations list)."


def canonical_name(name: str) -> str:
    """The registered name for ``name`` (case and '-' insensitive, aliases resolved)."""
    if isinstance(name, Enum):
        name = name.value
    key = str(name).strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key in ACTIVATIONS:
        return key
    close = difflib.get_close_matches(key, [*ACTIVATIONS, *ALIASES], n=1, cutoff=0.5)
    hint = f" (did you mean '{ALIASES.get(close[0], close[0])}'?)" if close else ""
    raise ConfigError(f"unknown activation '{name}'{hint}; known: {', '.join(ACTIVATIONS)}")
