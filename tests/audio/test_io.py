import numpy as np
import pytest
import soundfile as sf
import torch

from dlcli.audio import list_audio_files, load_audio, save_audio
from dlcli.audio.features import LogMel
from dlcli.errors import AudioError, InputError


def tone(rate: int, seconds: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    return np.stack([wave, -wave * 0.5], axis=1)[:, :channels] if channels > 1 else wave


@pytest.mark.parametrize(
    "suffix,subtype,rate",
    [
        (".wav", "PCM_U8", 8000),
        (".wav", "PCM_16", 16000),
        (".wav", "PCM_24", 22050),
        (".wav", "FLOAT", 44100),
        (".wav", "PCM_16", 48000),
        (".flac", "PCM_16", 11025),
        (".flac", "PCM_24", 32000),
        (".ogg", "VORBIS", 24000),
        (".aiff", "PCM_16", 16000),
    ],
)
def test_every_format_loads_as_float32_mono_at_the_rate_asked(tmp_path, suffix, subtype, rate):
    path = tmp_path / f"clip{suffix}"
    sf.write(path, tone(rate), rate, subtype=subtype)
    audio, out_rate = load_audio(path, 16000)
    assert out_rate == 16000 and audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.shape[0] - 8000) <= 2  # half a second, whatever the source rate
    peak = np.abs(audio).max()
    assert 0.4 < peak < 0.6
    native, native_rate = load_audio(path)
    assert native_rate == rate


def test_stereo_is_mixed_down(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, tone(16000, channels=2), 16000, subtype="FLOAT")
    audio, _ = load_audio(path, 16000)
    expected = tone(16000, channels=2).mean(axis=1)
    np.testing.assert_allclose(audio, expected, atol=1e-6)
    both, _ = load_audio(path, mono=False)
    assert both.shape == (8000, 2)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p.write_bytes(b""), "not an audio file"),
        (lambda p: p.write_text("this is not audio " * 50), "not an audio file"),
        (lambda p: sf.write(p, np.zeros(0, np.float32), 16000), "no audio"),
    ],
)
def test_bad_files_raise_one_clear_error_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=message) as caught:
        load_audio(path, 16000)
    assert "bad.wav" in str(caught.value)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_truncated_files_are_detected(tmp_path, suffix):
    good = tmp_path / f"good{suffix}"
    sf.write(good, tone(16000, seconds=2.0), 16000)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(AudioError, match="truncated|malformed|corrupted") as caught:
        load_audio(cut, 16000)
    assert cut.name in str(caught.value)


def test_missing_file_and_non_finite_samples(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    path = tmp_path / "nan.wav"
    data = tone(16000)
    data[10] = np.nan
    sf.write(path, data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="non-finite"):
        load_audio(path)


def test_listing_is_recursive_sorted_and_skips_hidden_and_other_files(tmp_path):
    for name in ["b/two.flac", "a/one.wav", "a/deeper/three.WAV", ".hidden/four.wav", "a/._five.wav", "notes.txt"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in list_audio_files(tmp_path)]
    assert found == ["a/deeper/three.WAV", "a/one.wav", "b/two.flac"]
    assert list_audio_files([tmp_path / "a/one.wav", tmp_path / "a"])[0].name == "one.wav"
    assert len(list_audio_files([tmp_path / "a/one.wav", tmp_path / "a"])) == 2
    with pytest.raises(InputError, match="no such file"):
        list_audio_files(tmp_path / "nope")


def test_save_is_atomic_and_round_trips(tmp_path):
    path = tmp_path / "out.wav"
    save_audio(path, tone(16000), 16000)
    original = path.read_bytes()
    with pytest.raises(InputError):
        save_audio(path, np.zeros(0, np.float32), 16000)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]
    audio, _ = load_audio(path)
    np.testing.assert_allclose(audio, tone(16000), atol=1e-4)


def test_log_mel_matches_librosa_and_is_batched():
    import librosa

    rng = np.random.default_rng(0)
    waves = rng.standard_normal((3, 16000)).astype(np.float32) * 0.1
    features = LogMel(sample_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40)
    ours = features(torch.from_numpy(waves)).numpy()
    for i in range(3):
        mel = librosa.feature.melspectrogram(
            y=waves[i], sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40, center=True, pad_mode="reflect"
        )
        np.testing.assert_allclose(ours[i], np.log(np.maximum(mel, 1e-6)), atol=2e-3, rtol=1e-3)
    assert ours.shape == (3, 40, 101)
    assert features(torch.from_numpy(waves[0])).shape == (40, 101)
