"""A tiny classifier task for testing tools that work on any task's checkpoints.

Inputs are 16-dimensional vectors saved as .npy files; a labelled folder holds one
subfolder per class (optionally under a split folder). Teachers are trained MLPs, the
student a weaker linear model trained on a few examples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcli.train import build_checkpoint, load_state_dict, save_checkpoint

TASK = "toy-classifier"
CLASSES = ["a", "b", "c", "d", "e"]
DIM = 16


def build(config: dict) -> nn.Module:
    if config["hidden"]:
        return nn.Sequential(nn.Linear(DIM, config["hidden"]), nn.ReLU(), nn.Linear(config["hidden"], len(CLASSES)))
    return nn.Linear(DIM, len(CLASSES))


class ToyClassifier:
    task = TASK

    def __init__(self, path: Path, checkpoint: dict, device: torch.device):
        self.path, self.checkpoint, self.device = path, checkpoint, device
        self.labels = list(checkpoint["labels"])
        self.model = load_state_dict(build(checkpoint["model_config"]), checkpoint, path).to(device)

    def list_inputs(self, paths):
        found = []
        for path in map(Path, paths):
            found += sorted(path.rglob("*.npy")) if path.is_dir() else [path]
        return found

    def load_inputs(self, paths):
        rows, loaded, failures = [], [], []
        for index, path in enumerate(paths):
            try:
                rows.append(np.load(path).astype(np.float32).reshape(DIM))
                loaded.append(index)
            except (OSError, ValueError) as error:
                failures.append((path, str(error)[:80]))
        batch = torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, DIM)
        return batch, loaded, failures

    def labelled_inputs(self, folder, split=None):
        root = Path(folder) / split if split else Path(folder)
        paths, labels = [], []
        for index, name in enumerate(self.labels):
            for path in sorted((root / name).glob("*.npy")):
                paths.append(path)
                labels.append(index)
        return paths, labels

    def logits(self, inputs):
        self.model.eval()
        with torch.no_grad():
            return self.model(inputs.to(self.device))

    def save(self, path, *, metrics=None, extra=None):
        checkpoint = build_checkpoint(
            task=TASK,
            model=self.model,
            model_config=self.checkpoint["model_config"],
            labels=self.labels,
            metrics=metrics,
            extra=extra,
        )
        return save_checkpoint(checkpoint, path)


def make_data(rng: np.random.Generator, n: int, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, len(CLASSES), n)
    return (centres[labels] + rng.normal(0, 2.2, (n, DIM))).astype(np.float32), labels


def write_folder(root: Path, inputs: np.ndarray, labels: np.ndarray | None) -> None:
    for i, x in enumerate(inputs):
        folder = root / CLASSES[labels[i]] if labels is not None else root
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{i:05d}.npy", x)


def train_model(hidden: int, inputs, labels, epochs: int, seed: int, path: Path) -> Path:
    torch.manual_seed(seed)
    model = build({"hidden": hidden})
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.from_numpy(inputs), torch.from_numpy(labels).long()
    for _ in range(epochs):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return save_checkpoint(
        build_checkpoint(task=TASK, model=model, model_config={"hidden": hidden}, labels=CLASSES), path
    )


def make_world(root: Path) -> dict:
    """Three teachers, a weak student, an unlabeled transfer folder, dev and test folders."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1.5, (len(CLASSES), DIM))
    train_x, train_y = make_data(rng, 2000, centres)
    paths = {
        "teachers": [train_model(64, train_x, train_y, 80, seed, root / f"teacher{seed}.pt") for seed in range(2)]
        + [train_model(32, train_x[:1000], train_y[:1000], 60, 9, root / "teacher9.pt")],
        "student": train_model(0, train_x[:12], train_y[:12], 15, 5, root / "student.pt"),
    }
    torch.set_num_threads(threads)
    transfer_x, _ = make_data(rng, 800, centres)
    write_folder(root / "unlabeled", transfer_x, None)
    for split in ("validation", "testing"):
        x, y = make_data(rng, 250, centres)
        write_folder(root / "labelled" / split, x, y)
    paths["unlabeled"] = root / "unlabeled"
    paths["labelled"] = root / "labelled"
    return paths
