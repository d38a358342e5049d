"""PNG figures people look at: alignments and spectrograms at each validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_validation(
    path: Path, *, target: np.ndarray, predicted: np.ndarray, alignment: np.ndarray, title: str
) -> None:
    """Target mel, free-running prediction and its attention alignment, one above the other."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dlcli.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(3, 1, figsize=(9, 8))
    for axis, mel, name in ((axes[0], target, "target mel"), (axes[1], predicted, "synthesised mel (free running)")):
        axis.imshow(mel.T, origin="lower", aspect="auto", interpolation="none", vmin=-3, vmax=3)
        axis.set_title(name)
        axis.set_ylabel("mel bin")
    axes[2].imshow(alignment.T, origin="lower", aspect="auto", interpolation="none")
    axes[2].set_title("attention (decoder step x input symbol)")
    axes[2].set_xlabel("decoder step")
    axes[2].set_ylabel("symbol")
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=80, format="png")
    plt.close(figure)
