"""Inference throughput: the model alone (torch eager, ONNX Runtime) and end-to-end ``infer``.

Measurements are interleaved over several rounds and the median is reported, so a
neighbour's load on a shared machine hits every variant alike; the ratios are the
figures to trust.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from dlcli.audio import list_audio_files
from dlcli.errors import InputError
from dlcli.kws.export import export_onnx, throughput
from dlcli.kws.infer import score_files
from dlcli.kws.model import count_parameters, multiply_accumulates
from dlcli.kws.predictor import load_predictor


def _end_to_end(predictor, files, batch_size: int, listing_seconds: float) -> float:
    """Clips per second of ``infer`` on ``files``: decoding, the model and writing the CSV, plus
    the folder listing's cost per file (``listing_seconds``), however many files the folder holds."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        result = score_files(predictor, files, Path(scratch) / "scores.csv", batch_size=batch_size)
    return result.rows / (time.perf_counter() - started + listing_seconds * len(files))


def benchmark(
    model: str | Path, folder: str | Path | None, *, batch_size: int = 64, clips: int = 512, rounds: int = 3
) -> dict:
    import torch

    torch_predictor = load_predictor(model, device="cpu")
    started = time.perf_counter()
    files = list_audio_files(folder) if folder else []
    listing_seconds = (time.perf_counter() - started) / max(len(files), 1)
    if folder and not files:
        raise InputError("no audio files to score", path=folder)
    result = {
        "model": str(model),
        "parameters": count_parameters(torch_predictor.model),
        "macs_per_clip": multiply_accumulates(torch_predictor.model),
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
    }
    measured: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        exported = export_onnx(model, Path(scratch) / "model.onnx")
        result["onnx_max_abs_diff"] = exported["max_abs_diff"]
        onnx_predictor = load_predictor(exported["onnx"], threads=torch.get_num_threads())
        for _ in range(rounds):
            for name, predictor in (("torch", torch_predictor), ("onnx", onnx_predictor)):
                measured.setdefault(f"{name}_model_clips_per_second", []).append(
                    throughput(predictor, clips=clips, batch_size=batch_size)
                )
                if files:
                    measured.setdefault(f"{name}_infer_clips_per_second", []).append(
                        _end_to_end(predictor, files[:clips], batch_size, listing_seconds)
                    )
    for key, values in measured.items():
        result[key] = round(statistics.median(values), 1)
    if files:
        result["infer_files"] = min(clips, len(files))
        for name in ("torch", "onnx"):
            ratio = result[f"{name}_infer_clips_per_second"] / result[f"{name}_model_clips_per_second"]
            result[f"{name}_infer_vs_model"] = round(float(ratio), 3)
    result["onnx_vs_torch"] = round(result["onnx_model_clips_per_second"] / result["torch_model_clips_per_second"], 3)
    result["spread"] = {k: [round(v, 1) for v in values] for k, values in measured.items()}
    return result
