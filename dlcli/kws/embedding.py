"""A frozen speech-embedding front end pre-trained on real speech, with a small trainable head.

openWakeWord's design (D. Scripka, 2023) on Google's ``speech_embedding`` network (Lin et al.,
2020, "Training keyword spotters with limited and synthesized speech data"): a log-mel
spectrogram (32 bands every 10 ms), then a convolutional network trained on a large corpus of
real speech that turns every 76 frames (0.775 s) into a 96-dim embedding, one every 80 ms.
Only the head is trained, so a head trained on synthetic voices inherits the front end's
knowledge of real ones.

The two ONNX graphs (``melspectrogram.onnx``, ``embedding_model.onnx``) are read with ONNX
Runtime from the folder of the ``openwakeword`` package (``pip install 'dlcli[wakeword]'``,
which pins a release that ships them); nothing is downloaded and the package's own code is
never imported. Licence: openWakeWord's code is Apache-2.0, and its README gives the
embedding network (Google's TF Hub ``speech_embedding``) as Apache-2.0 too; its own wake-word
models in the same folder are CC BY-NC-SA 4.0 and are not used here.

A one-second clip is scored with 0.24 s of digital silence on each side, so its embeddings
(9 of them) cover the whole second; ``stream_logits`` computes the embeddings of a long
recording once and slides the head along them, which is what makes ``kws infer --stream``
cheap: one embedding per 80 ms instead of nine per window.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dlcli.errors import UsageError
from dlcli.nn.activations import make_activation

log = logging.getLogger("dlcli.kws")

SAMPLE_RATE = 16000
MEL_HOP = 160  # samples between mel frames (10 ms)
MEL_BANDS = 32
WINDOW_FRAMES = 76  # mel frames per embedding (0.775 s)
STEP_FRAMES = 8  # mel frames between embeddings
EMBEDDING_STEP = STEP_FRAMES * MEL_HOP  # 1280 samples: one embedding every 80 ms
DIMS = 96  # size of one embedding
CONTEXT = 3 * EMBEDDING_STEP  # 0.24 s of silence each side of a clip, so its embeddings cover all of it
INT16_FULL_SCALE = 32767.0  # the front end was trained on 16-bit PCM values
PACKAGE = "openwakeword"
FILES = ("melspectrogram.onnx", "embedding_model.onnx")
INSTALL_HINT = "pip install 'dlcli[wakeword]'"


def resource_folder() -> Path:
    """The folder of the two ONNX graphs inside the installed openwakeword package (not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"the embedding front end needs the openwakeword package: {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "resources" / "models"
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise UsageError(
            f"{folder}: this openwakeword release does not ship {', '.join(missing)} "
            f"(0.5.x does; 0.6 downloads them): {INSTALL_HINT}"
        )
    return folder


def mel_frames(samples: int) -> int:
    """Mel frames the front end makes of ``samples`` samples (no centre padding, 4-hop window)."""
    return int(np.ceil(samples / MEL_HOP - 3))


def embeddings_per_clip(samples: int = 16000) -> int:
    """Embeddings of one clip with its silent context: 9 for one second."""
    return (mel_frames(samples + 2 * CONTEXT) - WINDOW_FRAMES) // STEP_FRAMES + 1


class SpeechEmbedding:
    """The frozen front end: waveforms in [-1, 1] at 16 kHz -> (batch, embeddings, 96)."""

    def __init__(self, threads: int | None = None):
        from dlcli.kws.predictor import onnx_session

        folder = resource_folder()
        self.mel_session = onnx_session(folder / FILES[0], threads)
        self.embedding_session = onnx_session(folder / FILES[1], threads)
        self.mel_input = self.mel_session.get_inputs()[0].name
        self.embedding_input = self.embedding_session.get_inputs()[0].name
        self.fingerprint = hashlib.sha1(b"".join((folder / name).read_bytes() for name in FILES)).hexdigest()[:16]

    def mel(self, audio: np.ndarray) -> np.ndarray:
        """(batch, samples) -> (batch, frames, 32), scaled as openWakeWord does (x / 10 + 2)."""
        scaled = np.ascontiguousarray(audio, dtype=np.float32) * INT16_FULL_SCALE
        return self.mel_session.run(None, {self.mel_input: scaled})[0][:, 0] / 10.0 + 2.0  # (B, 1, F, 32) -> (B, F, 32)

    def embed(self, mel: np.ndarray, batch: int = 512) -> np.ndarray:
        """(batch, frames, 32) -> (batch, embeddings, 96): one per 8 frames, 76-frame windows."""
        count = (mel.shape[1] - WINDOW_FRAMES) // STEP_FRAMES + 1
        index = np.arange(count)[:, None] * STEP_FRAMES + np.arange(WINDOW_FRAMES)[None, :]
        windows = mel[:, index].reshape(-1, WINDOW_FRAMES, MEL_BANDS, 1).astype(np.float32)  # (B * n, 76, 32, 1)
        outputs = [
            self.embedding_session.run(None, {self.embedding_input: windows[i : i + batch]})[0]
            for i in range(0, len(windows), batch)
        ]
        return np.concatenate(outputs).reshape(mel.shape[0], count, DIMS)  # (B * n, 1, 1, 96) -> (B, n, 96)

    def clips(self, waveforms: np.ndarray, batch: int = 64) -> np.ndarray:
        """Embeddings of one-second clips (batch, samples) with their silent context: (batch, 9, 96)."""
        padded = np.pad(np.asarray(waveforms, dtype=np.float32), ((0, 0), (CONTEXT, CONTEXT)))
        parts = [self.embed(self.mel(padded[i : i + batch])) for i in range(0, len(padded), batch)]
        count = embeddings_per_clip(waveforms.shape[1])
        return np.concatenate(parts) if parts else np.zeros((0, count, DIMS), np.float32)

    def stream(self, audio: np.ndarray, chunk_seconds: float = 60.0) -> np.ndarray:
        """Embeddings of a long recording, one every 80 ms from its first sample: (n, 96).

        The mel frames are computed in chunks (a chunk starts on a frame boundary and runs a
        few frames over, so the frames line up) to bound memory on hours of audio. The mel graph
        floors its output 80 dB under the peak of what it is given, so near-silent frames depend
        on the chunk, as they do in openWakeWord's own streaming.
        """
        audio = np.asarray(audio, dtype=np.float32)
        chunk = int(chunk_seconds * SAMPLE_RATE) // EMBEDDING_STEP * EMBEDDING_STEP
        total = mel_frames(len(audio))
        frames = []
        for start in range(0, len(audio), chunk):
            piece = audio[start : start + chunk + 10 * MEL_HOP]
            keep = min(chunk // MEL_HOP, total - start // MEL_HOP)
            if keep > 0 and len(piece) >= 4 * MEL_HOP:
                frames.append(self.mel(piece[None])[0, :keep])
        mel = np.concatenate(frames) if frames else np.zeros((0, MEL_BANDS), np.float32)
        if len(mel) < WINDOW_FRAMES:
            return np.zeros((0, DIMS), np.float32)
        return self.embed(mel[None])[0]


@functools.cache
def speech_embedding() -> SpeechEmbedding:
    """One front end per process (two ONNX Runtime sessions)."""
    return SpeechEmbedding()


# ----------------------------------------------------------------------------- cached features


def cache_folder() -> Path:
    """Where embeddings of training clips are kept: $DLCLI_CACHE or ~/.cache/dlcli, then kws-embeddings/."""
    root = os.environ.get("DLCLI_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dlcli"
    )
    return Path(root) / "kws-embeddings"


CACHE_BLOCK = 256  # clips per cache file: an interrupted run keeps its finished blocks


def cached_embeddings(clips: Tensor | np.ndarray, *, show: bool = False, what: str = "embedding clips") -> Tensor:
    """Embeddings of int16 clips (n, samples) as float32 (n, 9, 96), each block of clips computed once.

    A block of 256 clips is keyed by a hash of its samples and of the two ONNX files, so a
    changed corpus, other augmentation draws or another front-end release are computed afresh,
    while the blocks a run shares with an earlier one (the same originals before other
    augmented copies, the same test set) are read back; a stopped run resumes.
    """
    from dlcli.console import progress
    from dlcli.files import atomic_path

    array = clips.numpy() if isinstance(clips, Tensor) else np.asarray(clips)
    front_end = speech_embedding()
    folder = cache_folder()
    parts = []
    with progress(disable=not show, transient=True) as bar:
        task = bar.add_task(what, total=len(array), info="")
        for start in range(0, len(array), CACHE_BLOCK):
            block = np.ascontiguousarray(array[start : start + CACHE_BLOCK])
            digest = hashlib.sha1(block.tobytes())
            digest.update(f"{block.shape}{block.dtype}{front_end.fingerprint}".encode())
            path = folder / f"{digest.hexdigest()}.npy"
            features = None
            if path.is_file():
                try:
                    features = np.load(path)
                except (OSError, ValueError):
                    log.warning(f"{path}: unreadable cached embeddings, computing them again")
            if features is None:
                features = front_end.clips(block.astype(np.float32) / 32768.0).astype(np.float32)
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as temporary, open(temporary, "wb") as handle:
                    np.save(handle, features)
            parts.append(features)
            bar.advance(task, len(block))
    if not parts:
        return torch.zeros((0, embeddings_per_clip(array.shape[1]), DIMS))
    return torch.from_numpy(np.concatenate(parts))


def cached_stream(audio: np.ndarray) -> np.ndarray:
    """``SpeechEmbedding.stream`` of a long recording, kept in the cache under a hash of its samples.

    Calibration and measurement score the same hour-long streams with every model; their
    embeddings are computed once.
    """
    from dlcli.files import atomic_path

    audio = np.ascontiguousarray(audio, dtype=np.float32)
    front_end = speech_embedding()
    digest = hashlib.sha1(audio.tobytes())
    digest.update(f"stream{audio.shape}{front_end.fingerprint}".encode())
    path = cache_folder() / "streams" / f"{digest.hexdigest()}.npy"
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            log.warning(f"{path}: unreadable cached embeddings, computing them again")
    features = front_end.stream(audio).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.save(handle, features)
    return features


# ----------------------------------------------------------------------------- the head


class EmbeddingClassifier(nn.Module):
    """Waveforms (batch, samples) or embeddings (batch, 9, 96) -> logits (batch, classes).

    The head is openWakeWord's: flatten, two fully connected layers with layer norm, the
    classifier. ``width`` scales its 128 hidden units; ``dropout`` sits before the classifier.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.frames = embeddings_per_clip(config.samples)
        hidden = max(16, int(round(128 * config.width)))
        self.head = nn.Sequential(
            nn.Flatten(),  # (B, 9, 96) -> (B, 864)
            nn.Linear(self.frames * DIMS, hidden),
            nn.LayerNorm(hidden),
            make_activation(config.activation),
            nn.Linear(hidden, hidden),
            nn.LayerNorm(hidden),
            make_activation(config.activation),
            nn.Dropout(config.dropout),
            nn.Linear(hidden, config.classes),
        )

    def embeddings(self, waveforms: Tensor) -> Tensor:
        """The frozen front end (ONNX Runtime, no gradient) on (batch, samples) waveforms."""
        audio = waveforms.detach().reshape(waveforms.shape[0], -1).float().cpu().numpy()
        return torch.from_numpy(speech_embedding().clips(audio)).to(waveforms.device)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 3 and x.shape[-1] == DIMS:  # cached embeddings
            return self.head(x)
        return self.head(self.embeddings(x))

    @torch.no_grad()
    def stream_logits(self, audio: np.ndarray, hop: int, size: int, cache: bool = False) -> np.ndarray:
        """Logits of the windows ``kws infer --stream`` scores: window k starts at sample k * hop of
        ``audio`` padded by half a window before and half a window plus a hop after.

        The embeddings are computed once over the recording; window k takes the 9 that start
        nearest its own (within 40 ms: embeddings come every 80 ms), so unlike a single clip its
        context is the real audio around it, not silence.
        """
        padded = np.pad(np.asarray(audio, np.float32), (size // 2, size // 2 + hop))
        starts = np.arange(0, max(1, len(padded) - size + 1), hop)
        extended = np.pad(padded, (CONTEXT, CONTEXT + 2 * EMBEDDING_STEP))
        # (n, 96), embedding j starts at j * 1280 - CONTEXT
        stream = cached_stream(extended) if cache else speech_embedding().stream(extended)
        first = np.minimum(np.round(starts / EMBEDDING_STEP).astype(int), len(stream) - self.frames)
        windows = stream[first[:, None] + np.arange(self.frames)[None, :]]  # (windows, 9, 96)
        parameter = next(self.parameters())
        logits = [
            self.head(torch.from_numpy(windows[i : i + 1024]).to(parameter.device, parameter.dtype)).float().cpu()
            for i in range(0, len(windows), 1024)
        ]
        return torch.cat(logits).numpy()


# ----------------------------------------------------------------------------- ONNX export


class _Prepare(nn.Module):
    def forward(self, waveforms: Tensor) -> Tensor:
        return nn.functional.pad(waveforms, (CONTEXT, CONTEXT)) * INT16_FULL_SCALE  # (B, T + 2 x CONTEXT)


class _Windows(nn.Module):
    def __init__(self, frames: int):
        super().__init__()
        index = torch.arange(frames)[:, None] * STEP_FRAMES + torch.arange(WINDOW_FRAMES)[None, :]
        self.register_buffer("index", index.reshape(-1))

    def forward(self, mel: Tensor) -> Tensor:
        mel = mel[:, 0] / 10.0 + 2.0  # (B, 1, F, 32) -> (B, F, 32), openWakeWord's scaling
        windows = torch.index_select(mel, 1, self.index)  # (B, frames x 76, 32)
        return windows.reshape(-1, WINDOW_FRAMES, MEL_BANDS, 1)  # (B x frames, 76, 32, 1)


class _Head(nn.Module):
    def __init__(self, head: nn.Module, frames: int):
        super().__init__()
        self.head, self.frames = head, frames

    def forward(self, embeddings: Tensor) -> Tensor:
        return self.head(embeddings.reshape(-1, self.frames, DIMS))  # (B x frames, 1, 1, 96) -> (B, frames, 96)


def onnx_graph(model: EmbeddingClassifier, samples: int = 16000):
    """One ONNX graph, waveform (batch, samples) -> logits: the glue and the head exported from torch,
    joined with the two front-end graphs (opset 13, as theirs) by ``onnx.compose``."""
    import io
    import warnings

    import onnx
    from onnx import compose

    def export(module: nn.Module, example: Tensor, name_in: str, name_out: str):
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(), (example,), buffer, input_names=[name_in], output_names=[name_out],
                dynamic_axes={name_in: {0: "batch"}, name_out: {0: "batch"}}, opset_version=13, dynamo=False,
            )  # fmt: skip
        return onnx.load_from_string(buffer.getvalue())

    folder, frames = resource_folder(), model.frames
    parts = [
        export(_Prepare(), torch.zeros(2, samples), "waveform", "prepared"),
        onnx.load(str(folder / FILES[0])),
        export(_Windows(frames), torch.zeros(2, 1, mel_frames(samples + 2 * CONTEXT), MEL_BANDS), "mel", "windows"),
        onnx.load(str(folder / FILES[1])),
        export(_Head(model.head, frames), torch.zeros(2 * frames, 1, 1, DIMS), "embeddings", "logits"),
    ]
    version = max(part.ir_version for part in parts)
    for part in parts:
        part.ir_version = version
    parts = [compose.add_prefix(part, f"part{i}/") for i, part in enumerate(parts)]
    graph = parts[0]
    for part in parts[1:]:
        graph = compose.merge_models(graph, part, io_map=[(graph.graph.output[0].name, part.graph.input[0].name)])
    for old, new in ((graph.graph.input[0].name, "waveform"), (graph.graph.output[0].name, "logits")):
        for node in graph.graph.node:
            node.input[:] = [new if name == old else name for name in node.input]
            node.output[:] = [new if name == old else name for name in node.output]
        for value in [*graph.graph.input, *graph.graph.output]:
            if value.name == old:
                value.name = new
    return graph
