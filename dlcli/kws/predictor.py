"""A trained keyword spotter for inference: a kws checkpoint (torch) or its ONNX export.

Both carry what inference needs (labels, sample rate, clip length, the task), so
``evaluate`` and ``infer`` accept either; the ONNX file keeps it in its metadata.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcli.errors import CheckpointError

TASK = "kws"
ONNX_METADATA_KEY = "dlcli"


@dataclass
class Predictor:
    path: Path
    kind: str  # torch | onnx
    labels: list[str]
    task: str  # the kws task it was trained for (35-words, 12-class, ...)
    features: dict
    extra: dict = field(default_factory=dict)
    model_config: dict = field(default_factory=dict)
    _run = None  # callable: float32 (B, T) numpy -> logits numpy

    @property
    def sample_rate(self) -> int:
        return int(self.features.get("sample_rate", 16000))

    @property
    def clip_samples(self) -> int:
        return int(self.features.get("clip_samples", 16000))

    @property
    def keyword_indices(self) -> list[int]:
        """Classes that are words to spot (not unknown, not silence)."""
        return [i for i, label in enumerate(self.labels) if not (label.startswith("_") and label.endswith("_"))]

    def logits(self, waveforms: np.ndarray) -> np.ndarray:
        """(batch, samples) float32 -> (batch, classes) float32."""
        return self._run(np.ascontiguousarray(waveforms, dtype=np.float32))

    def probabilities(self, waveforms: np.ndarray) -> np.ndarray:
        logits = self.logits(waveforms)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def _checkpoint_predictor(path: Path, device: str) -> Predictor:
    import torch

    from dlcli.kws.model import XceptionConfig, build_model
    from dlcli.train.device import choose_device
    from dlcli.train.loader import load_model

    target = choose_device(device)
    loaded = load_model(path, TASK, XceptionConfig, build_model, device=target)
    model, checkpoint = loaded.model, loaded.checkpoint

    def run(waveforms: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(waveforms).to(target)).float().cpu().numpy()

    predictor = Predictor(
        path=path,
        kind="torch",
        labels=list(checkpoint["labels"]),
        task=checkpoint.get("extra", {}).get("task", ""),
        features=dict(checkpoint.get("features", {})),
        extra=dict(checkpoint.get("extra", {})),
        model_config=dict(checkpoint["model_config"]),
    )
    predictor._run = run
    predictor.model = model
    return predictor


def _thread_setting() -> int | None:
    """DLCLI_THREADS or OMP_NUM_THREADS, which torch honours too: ONNX Runtime otherwise takes every core."""
    for name in ("DLCLI_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def onnx_session(path: str | Path, threads: int | None = None):
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError("ONNX models need onnxruntime: pip install 'dlcli[onnx]'", path=path) from None
    options = onnxruntime.SessionOptions()
    threads = threads or _thread_setting()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise CheckpointError(f"not a readable ONNX model ({str(error).splitlines()[0][:120]})", path=path) from None


def _onnx_predictor(path: Path, threads: int | None) -> Predictor:
    session = onnx_session(path, threads)
    metadata = session.get_modelmeta().custom_metadata_map
    if ONNX_METADATA_KEY not in metadata:
        raise CheckpointError("an ONNX model without dlcli metadata (export it with dlcli kws export)", path=path)
    info = json.loads(metadata[ONNX_METADATA_KEY])
    if info.get("task") != TASK:
        raise CheckpointError(f"an ONNX export of a '{info.get('task')}' model, not a kws model", path=path)
    input_name = session.get_inputs()[0].name

    def run(waveforms: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: waveforms})[0]

    predictor = Predictor(
        path=path,
        kind="onnx",
        labels=list(info["labels"]),
        task=info.get("extra", {}).get("task", ""),
        features=dict(info.get("features", {})),
        extra=dict(info.get("extra", {})),
        model_config=dict(info.get("model_config", {})),
    )
    predictor._run = run
    return predictor


def load_predictor(path: str | Path, *, device: str = "auto", threads: int | None = None) -> Predictor:
    """A run folder, a kws checkpoint (.pt) or an ONNX export (.onnx)."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise CheckpointError("no such ONNX file", path=path)
        return _onnx_predictor(path, threads)
    return _checkpoint_predictor(path, device)
