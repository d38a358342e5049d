"""The frozen speech-embedding front end (openWakeWord's ONNX graphs) and its head."""

import importlib.util

import numpy as np
import pytest
import torch

from dlcli.errors import UsageError

HAS_OPENWAKEWORD = importlib.util.find_spec("openwakeword") is not None
needs_openwakeword = pytest.mark.skipif(
    not HAS_OPENWAKEWORD, reason="the embedding front end needs openwakeword (pip install 'dlcli[wakeword]')"
)


def test_missing_package_is_one_clear_line(monkeypatch):
    from dlcli.kws import embedding

    monkeypatch.setattr(embedding.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"needs the openwakeword package: pip install 'dlcli\[wakeword\]'"):
        embedding.resource_folder()


def test_missing_package_stops_training_before_reading_data(monkeypatch, tmp_path, sample_corpus):
    from typer.testing import CliRunner

    from dlcli.cli import app
    from dlcli.kws import embedding

    monkeypatch.setattr(embedding.importlib.util, "find_spec", lambda name: None)
    result = CliRunner().invoke(
        app, ["kws", "train", str(sample_corpus), "--out", str(tmp_path / "run"), "--frontend", "embedding"]
    )
    assert result.exit_code != 0 and "dlcli[wakeword]" in result.output
    assert not (tmp_path / "run").exists()


def _tone(samples: int, rate: int = 16000) -> np.ndarray:
    t = np.arange(samples) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) * np.hanning(samples)).astype(np.float32)


@needs_openwakeword
def test_clip_embeddings_and_the_chunked_stream_agree():
    from dlcli.kws.embedding import CONTEXT, DIMS, embeddings_per_clip, speech_embedding

    front_end = speech_embedding()
    clip = _tone(16000)
    per_clip = front_end.clips(clip[None])
    assert per_clip.shape == (1, embeddings_per_clip(), DIMS) == (1, 9, 96) and np.isfinite(per_clip).all()
    # the same clip in a recording with silence around it: the stream's first 9 embeddings are the clip's
    recording = np.concatenate([np.zeros(CONTEXT, np.float32), clip, np.zeros(CONTEXT + 4000, np.float32)])
    stream = front_end.stream(recording)
    np.testing.assert_allclose(stream[:9], per_clip[0], atol=1e-4)
    # in chunks, one embedding per 80 ms all the same (the mel graph floors each chunk 80 dB under its own
    # peak, so only near-silent frames may differ from the single pass)
    chunked = front_end.stream(recording, chunk_seconds=0.48)
    assert chunked.shape == stream.shape == ((len(recording) // 160 - 3 - 76) // 8 + 1, 96)
    assert not np.allclose(per_clip[0], front_end.clips(np.zeros((1, 16000), np.float32))[0], atol=1e-2)


@needs_openwakeword
def test_stream_logits_equal_the_window_scored_alone_when_its_context_is_silent():
    from dlcli.kws.embedding import EMBEDDING_STEP
    from dlcli.kws.model import XceptionConfig, build_model

    torch.manual_seed(0)
    model = build_model(XceptionConfig(classes=4, frontend="embedding", dropout=0.0)).eval()
    audio = np.zeros(30000, np.float32)
    audio[6000:19000] = _tone(13000)
    hop, size = EMBEDDING_STEP, 16000
    logits = model.stream_logits(audio, hop, size)
    padded = np.pad(audio, (size // 2, size // 2 + hop))
    assert len(logits) == len(np.arange(0, len(padded) - size + 1, hop))
    window = padded[10 * hop : 10 * hop + size]  # its 0.24 s on either side are silent
    with torch.no_grad():
        alone = model(torch.from_numpy(window[None])).numpy()
    np.testing.assert_allclose(logits[10], alone[0], atol=1e-4)


@needs_openwakeword
def test_embeddings_are_cached_by_block_and_read_back(tmp_path, monkeypatch):
    from dlcli.kws import embedding

    monkeypatch.setenv("DLCLI_CACHE", str(tmp_path))
    monkeypatch.setattr(embedding, "CACHE_BLOCK", 2)
    clips = (np.stack([_tone(16000), _tone(16000) * 0.5, np.zeros(16000, np.float32)]) * 32767).astype(np.int16)
    first = embedding.cached_embeddings(clips)
    files = sorted((tmp_path / "kws-embeddings").glob("*.npy"))
    assert first.shape == (3, 9, 96) and len(files) == 2  # blocks of 2 clips
    stamps = [f.stat().st_mtime_ns for f in files]
    calls = []
    monkeypatch.setattr(embedding.SpeechEmbedding, "clips", lambda self, w: calls.append(len(w)))
    again = embedding.cached_embeddings(clips)
    assert torch.equal(first, again) and not calls  # read back, not computed
    assert [f.stat().st_mtime_ns for f in files] == stamps
    embedding.cached_embeddings(clips[:2])  # a run sharing its first block with an earlier one reuses it
    assert not calls


@needs_openwakeword
def test_train_evaluate_and_stream_with_the_embedding_front_end(tmp_path, sample_corpus, monkeypatch):
    from typer.testing import CliRunner

    from dlcli.cli import app

    monkeypatch.setenv("DLCLI_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    run = tmp_path / "run"
    args = ["-q", "kws", "train", str(sample_corpus), "--out", str(run), "--frontend", "embedding"]
    args += ["--task", "left-right", "--epochs", "2", "--max-train-clips", "16", "--max-validation-clips", "4"]
    result = runner.invoke(app, [*args, "--augment", "offline", "--copies", "1"])
    assert result.exit_code == 0, result.output
    checkpoint = torch.load(run / "best.pt", weights_only=True)
    assert checkpoint["model_config"]["frontend"] == "embedding"
    assert all(key.startswith("head.") for key in checkpoint["state_dict"])  # the front end stays outside
    assert sorted((tmp_path / "cache" / "kws-embeddings").glob("*.npy"))  # training features were cached
    result = runner.invoke(app, ["-q", "kws", "evaluate", str(run), str(sample_corpus), "--json"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["-q", "kws", "infer", str(run), str(sample_corpus / "_background_noise_"), "--stream", "--threshold", "0.01"],
    )
    assert result.exit_code == 0, result.output
    rows = result.output.strip().splitlines()
    assert rows[0] == "path,start_s,end_s,label,score" and len(rows) > 1
    # one ONNX graph, front end included, that evaluate and infer take like the checkpoint
    from dlcli.kws.export import export_onnx
    from dlcli.kws.predictor import load_predictor

    report = export_onnx(run, tmp_path / "model.onnx")
    assert report["max_abs_diff"] < 1e-3
    exported, original = load_predictor(tmp_path / "model.onnx"), load_predictor(run, device="cpu")
    waveforms = np.random.default_rng(0).standard_normal((3, 16000)).astype(np.float32) * 0.1
    np.testing.assert_allclose(exported.logits(waveforms), original.logits(waveforms), atol=1e-3)
    assert exported.labels == original.labels
