import numpy as np
import pytest

from dlcli.audio import save_audio
from dlcli.errors import AudioError
from dlcli.kws.infer import StreamConfig, detect, false_accepts, iterate_batches, stream_file
from dlcli.kws.predictor import Predictor


def test_detect_thresholds_peaks_and_refractory():
    hop = 0.1
    probabilities = np.zeros((60, 3))  # classes: yes, no, _unknown_
    probabilities[:, 2] = 1.0
    probabilities[10:15, 0] = [0.5, 0.9, 0.95, 0.99, 0.9]  # one "yes", peaking at window 13
    probabilities[16:19, 0] = 0.95  # an echo inside the refractory second: ignored
    probabilities[40:46, 1] = 0.97  # a "no"
    config = StreamConfig(hop_seconds=hop, smooth_seconds=0.0, threshold=0.8, refractory_seconds=1.0)
    found = detect(probabilities, [0, 1], hop, config)
    assert [(index, label) for index, label, _ in found] == [(13, 0), (40, 1)]
    assert found[0][2] == pytest.approx(0.99)
    smoothed = detect(probabilities, [0, 1], hop, StreamConfig(smooth_seconds=0.5, threshold=0.8))
    assert len(smoothed) == 2  # smoothing lowers the peaks, both words still cross 0.8
    assert detect(probabilities, [0, 1], hop, StreamConfig(threshold=1.0)) == []


def loudness_predictor() -> Predictor:
    """A stand-in model: 'beep' when a window's centre is loud, '_unknown_' otherwise."""

    def run(windows: np.ndarray) -> np.ndarray:
        centre = np.abs(windows[:, 7000:9000]).mean(axis=1)
        loud = (centre > 0.1).astype(np.float32)
        return np.stack([10 * loud, 10 * (1 - loud)], axis=1)

    predictor = Predictor(path=None, kind="test", labels=["beep", "_unknown_"], task="", features={})
    predictor._run = run
    return predictor


def test_stream_reports_timestamps_of_each_word(tmp_path):
    audio = np.zeros(16000 * 6, np.float32)
    for second in (1.5, 4.0):
        start = int(second * 16000)
        audio[start - 2000 : start + 2000] = 0.5
    path = save_audio(tmp_path / "long.wav", audio, 16000)
    config = StreamConfig(hop_seconds=0.05, smooth_seconds=0.1, threshold=0.8, refractory_seconds=1.0)
    rows, seconds = stream_file(loudness_predictor(), path, config)
    assert seconds == pytest.approx(6.0)
    assert [label for *_, label, _ in rows] == ["beep", "beep"]
    centres = [(start + end) / 2 for start, end, *_ in rows]
    assert centres == pytest.approx([1.5, 4.0], abs=0.15)
    quiet = save_audio(tmp_path / "quiet.wav", np.zeros(16000 * 30, np.float32) + 1e-4, 16000)
    report = false_accepts(loudness_predictor(), [path, quiet], config)
    assert report["false_accepts"] == 2 and report["hours"] == pytest.approx(36 / 3600, abs=1e-4)
    assert report["false_accepts_per_hour"] == pytest.approx(200.0, rel=0.02)


def test_batches_keep_file_order_and_report_unreadable_files(tmp_path):
    paths = []
    for index in range(11):
        path = tmp_path / f"{index:02d}.wav"
        if index in (3, 7):
            path.write_bytes(b"not audio")
        else:
            save_audio(path, np.full(8000, index / 100, np.float32), 8000)  # half a second at 8 kHz
        paths.append(path)
    batches = list(iterate_batches(paths, 16000, 16000, batch_size=2, ahead=2))
    assert len(batches) == 6
    names = [path for _, good, _, _ in batches for path in good]
    assert names == [p for i, p in enumerate(paths) if i not in (3, 7)]
    levels = np.concatenate([clips[:, 8000] for clips, *_ in batches])  # centre of each padded clip
    assert levels == pytest.approx([int(p.stem) / 100 for p in names], abs=1e-3)
    assert [path for _, _, failures, _ in batches for path, _ in failures] == [paths[3], paths[7]]
    with pytest.raises(AudioError):
        list(iterate_batches(paths, 16000, 16000, batch_size=2, strict=True))
