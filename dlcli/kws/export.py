"""ONNX export of a kws checkpoint, checked against torch, with optional dynamic int8 quantisation.

The exported graph takes raw waveforms (batch, 16000) float32 (peak normalisation is part
of the model) and returns logits; labels, sample rate and task travel in the model's
metadata, so ``dlcli kws evaluate/infer`` run the .onnx file as they run the checkpoint.
Dynamic quantisation stores weights as int8 and quantises activations on the fly: a
smaller file, usually faster matrix products, and an accuracy cost that ``--data``
measures instead of assuming.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np

from dlcli import __version__
from dlcli.errors import CheckpointError, UsageError
from dlcli.files import atomic_path
from dlcli.kws.predictor import ONNX_METADATA_KEY, TASK, load_predictor

log = logging.getLogger("dlcli.kws")
OPSET = 17


def _require_onnx():
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UsageError("ONNX export needs onnx and onnxruntime: pip install 'dlcli[onnx]'") from None
    return onnx


def export_onnx(checkpoint_path: str | Path, destination: str | Path, *, batch: int = 4, seed: int = 0) -> dict:
    """Write ``destination`` (.onnx) and return {max_abs_diff vs torch, sizes}."""
    import torch

    onnx = _require_onnx()
    predictor = load_predictor(checkpoint_path, device="cpu")
    model = predictor.model.eval()
    embedding = predictor.model_config.get("frontend") == "embedding"  # its front end is ONNX already
    destination = Path(destination)
    example = torch.randn(batch, predictor.clip_samples, generator=torch.Generator().manual_seed(seed))
    with atomic_path(destination) as temporary, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if embedding:
            from dlcli.kws.embedding import onnx_graph

            onnx.save(onnx_graph(model, predictor.clip_samples), str(temporary))
        else:
            torch.onnx.export(
                model,
                (example,),
                str(temporary),
                input_names=["waveform"],
                output_names=["logits"],
                dynamic_axes={"waveform": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        graph = onnx.load(str(temporary))
        info = {
            "task": TASK,
            "labels": predictor.labels,
            "features": predictor.features,
            "extra": predictor.extra,
            "model_config": predictor.model_config,
            "dlcli_version": __version__,
            "source": str(Path(checkpoint_path)),
        }
        onnx.helper.set_model_props(graph, {ONNX_METADATA_KEY: json.dumps(info)})
        onnx.save(graph, str(temporary))
    exported = load_predictor(destination, threads=torch.get_num_threads())
    with torch.inference_mode():
        expected = model(example).numpy()
    difference = float(np.abs(exported.logits(example.numpy()) - expected).max())
    return {"onnx": str(destination), "max_abs_diff": difference, "onnx_bytes": destination.stat().st_size}


@contextlib.contextmanager
def _quiet_root_logger():
    """onnxruntime's quantiser logs advice through the root logger; keep it off the user's terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_int8(source: str | Path, destination: str | Path) -> dict:
    """Dynamic int8 quantisation of an exported model (weights int8, activations quantised at run time)."""
    onnx = _require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, destination = Path(source), Path(destination)
    metadata = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
    with atomic_path(destination) as temporary, warnings.catch_warnings(), _quiet_root_logger():
        warnings.simplefilter("ignore")
        try:
            # the matrix products (pointwise convolutions, classifier) hold nearly all weights and MACs;
            # onnxruntime's integer convolution is slower than its float one, so convolutions stay float
            quantize_dynamic(
                str(source), str(temporary), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"]
            )
        except Exception as error:  # noqa: BLE001 - the quantiser raises assorted types
            raise CheckpointError(f"dynamic quantisation failed: {error}", path=source) from None
        graph = onnx.load(str(temporary))
        onnx.helper.set_model_props(graph, metadata)
        onnx.save(graph, str(temporary))
    return {"onnx_int8": str(destination), "onnx_int8_bytes": destination.stat().st_size}


def throughput(predictor, clips: int = 256, batch_size: int = 32, seconds: float = 0.0) -> float:
    """Clips per second of the model alone on random waveforms (after one warm-up batch)."""
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((batch_size, predictor.clip_samples)).astype(np.float32)
    predictor.logits(batch)
    done, started = 0, time.perf_counter()
    while done < clips or time.perf_counter() - started < seconds:
        predictor.logits(batch)
        done += batch_size
    return done / (time.perf_counter() - started)
