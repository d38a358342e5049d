"""The duration model: flite alignments in the corpus, the length regulator, the model, train -> synth."""

import shutil

import numpy as np
import pytest
import soundfile
import torch

from dlcli.tts.align import (
    PHONE_ID,
    format_alignment,
    frame_durations,
    frame_pitch,
    parse_alignment,
    parse_psdur,
    phone_ids,
    spoken_text,
)
from dlcli.tts.corpus import read_corpus
from dlcli.tts.fastspeech import FastSpeech, FastSpeechConfig, regulate_length

from .helpers import ALIGNED, UNALIGNED, invoke, needs_flite


def test_psdur_output_becomes_frames_that_cover_the_audio():
    pairs = parse_psdur("pau:0.176 dh:0.284 ax:0.331 k:0.469 pau:0.600 \n")
    assert [p for p, _ in pairs] == ["pau", "dh", "ax", "k", "pau"]
    durations = frame_durations([end for _, end in pairs], frames=50, sample_rate=16000, hop_length=200)
    assert durations[:4] == [14, 9, 3, 12] and sum(durations) == 50  # the last pause takes the remainder
    assert parse_alignment(format_alignment(["pau", "dh"], [14, 9])) == (["pau", "dh"], [14, 9])
    with pytest.raises(ValueError):
        parse_alignment("pau:14 dh")
    assert phone_ids(["pau", "zz"]) == [PHONE_ID["pau"], PHONE_ID["?"]]
    assert spoken_text(["hello", ",", "world", "."]) == "hello, world."


def test_corpus_alignments_sum_to_the_mel_frames():
    from dlcli.audio import load_audio
    from dlcli.tts.data import AudioConfig, log_mels

    utterances, problems = read_corpus(ALIGNED)
    assert problems == [] and len(utterances) == 12
    for utterance in utterances[:3]:
        samples, _ = load_audio(utterance.audio, 16000)
        mel = log_mels([samples], AudioConfig())[0]
        assert utterance.phones[0] == "pau" and sum(utterance.durations) == len(mel)


def test_a_bad_alignment_is_reported_and_skipped(tmp_path):
    corpus = tmp_path / "c"
    shutil.copytree(ALIGNED, corpus)
    lines = (corpus / "metadata.csv").read_text().splitlines()
    lines[0] = lines[0].rsplit("|", 1)[0] + "|pau:x dh:3"
    (corpus / "metadata.csv").write_text("\n".join(lines) + "\n")
    utterances, problems = read_corpus(corpus)
    assert len(utterances) == 11 and "metadata.csv:1: bad alignment" in problems[0]


def test_an_unreadable_audio_file_is_skipped_with_its_name(tmp_path):
    from dlcli.tts.config import TTSConfig
    from dlcli.tts.train import _load_waveforms

    corpus = tmp_path / "c"
    shutil.copytree(ALIGNED, corpus)
    utterances, _ = read_corpus(corpus)
    utterances[1].audio.write_bytes(b"not audio at all")
    kept, waveforms, problems = _load_waveforms(utterances, TTSConfig())
    assert len(kept) == len(waveforms) == 11 and len(problems) == 1
    assert str(utterances[1].audio.name) in problems[0]


def test_length_regulator_repeats_phones_for_their_frames():
    index, position, mask = regulate_length(torch.tensor([[2, 0, 3], [1, 1, 0]]))
    assert index.tolist() == [[0, 0, 2, 2, 2], [0, 1, 2, 2, 2]]
    assert mask.tolist() == [[True] * 5, [True, True, False, False, False]]
    assert torch.allclose(position[0], torch.tensor([0.25, 0.75, 1 / 6, 0.5, 5 / 6]))


def test_pitch_of_a_tone_and_silence():
    t = torch.arange(16000) / 16000
    f0, periodicity = frame_pitch(torch.sin(2 * torch.pi * 150 * t))
    assert abs(float(f0[10:-10].median()) - 150) < 3 and float(periodicity[10:-10].min()) > 0.8
    _, noise_periodicity = frame_pitch(torch.randn(16000, generator=torch.Generator().manual_seed(0)))
    assert float(noise_periodicity.median()) < 0.5


def tiny_model(variant="proposed"):
    config = FastSpeechConfig(
        variant=variant, dim=16, encoder_layers=2, decoder_layers=2, predictor_dim=8, prosody_dim=4, postnet_dim=8
    )
    return FastSpeech(config)


def test_model_shapes_and_gradients():
    from dlcli.tts.config import TTSConfig
    from dlcli.tts.train import make_duration_step

    torch.manual_seed(0)
    model = tiny_model()
    durations = torch.tensor([[3, 4, 2, 0], [5, 1, 2, 2]])
    batch = {
        "phones": torch.tensor([[3, 5, 7, 0], [4, 4, 9, 3]]),
        "durations": durations,
        "pitch": torch.randn(2, 4),
        "voiced": torch.tensor([[1.0, 0, 1, 0], [1, 1, 0, 1]]),
        "energy": torch.randn(2, 4),
        "mels": torch.randn(2, 10, 80),
        "mel_lengths": durations.sum(1),
        "speakers": torch.tensor([0, 0]),
    }
    from dlcli.train.engine import StepContext

    loss, metrics = make_duration_step(TTSConfig())(model, batch, StepContext(model=model))
    assert torch.isfinite(loss) and {"mel", "sharpness", "duration", "pitch", "kl"} <= set(metrics)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    mel, post, mask, _, _ = model(
        *(batch[k] for k in ("phones", "durations", "pitch", "voiced", "energy")), torch.zeros(2, 256)
    )
    assert mel.shape == post.shape == (2, 10, 80) and mask.sum(1).tolist() == [9, 10]
    assert float(post[0, 9].abs().sum()) == 0.0  # padding frames stay silent
    model.eval()
    out, frames, predicted = model.infer(batch["phones"][:1, :3], torch.zeros(1, 256), prosody_scale=0.0)
    assert out.shape[0] == 1 and int(frames[0]) == int(predicted.sum()) >= 1


def test_sharpness_loss_punishes_blur_that_l1_forgives():
    from dlcli.tts.train import sharpness_loss

    target = torch.zeros(1, 20, 80)
    target[:, :, ::4] = 2.0  # harmonic-like stripes
    blurred = torch.full_like(target, 0.5)  # their average
    mask = torch.ones(1, 20, 1)
    assert float(sharpness_loss(target, target, mask)) == 0.0
    assert float(sharpness_loss(blurred, target, mask)) > 0.5


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fastspeech")
    corpus = root / "corpus"
    shutil.copytree(ALIGNED, corpus)
    run = root / "run"
    result = invoke("tts", "train", corpus, "--out", run, "--preset", "tiny", "--max-steps", "2", "--epochs", "1")
    assert result.exit_code == 0, result.output
    return corpus, run


def test_checkpoint_loads_weights_only_and_records_the_architecture(tiny_run):
    _, run = tiny_run
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    assert checkpoint["model_config"]["architecture"] == "fastspeech"
    assert "pau" in checkpoint["extra"]["symbols"]
    assert list((run / "plots").glob("validation-*.png"))


@needs_flite
def test_synth_end_to_end_is_deterministic_and_prosody_scale_matters(tiny_run, tmp_path):
    _, run = tiny_run
    outputs = {}
    for name, scale in (("a", 1.0), ("b", 1.0), ("c", 3.0)):
        out = tmp_path / f"{name}.wav"
        result = invoke(
            "tts", "synth", "Hello world.", "--model", run, "--out", out, "--iterations", "2", "--prosody-scale", scale
        )
        assert result.exit_code == 0, result.output
        outputs[name] = out.read_bytes()
    audio, rate = soundfile.read(tmp_path / "a.wav")
    assert rate == 16000 and len(audio) > 0 and np.isfinite(audio).all()
    assert outputs["a"] == outputs["b"] and outputs["a"] != outputs["c"]
    exported = tmp_path / "model.pt"
    assert invoke("tts", "export", run, "--out", exported).exit_code == 0
    assert invoke("tts", "synth", "Hi there.", "--model", exported, "--out", tmp_path / "d.wav").exit_code == 0


@needs_flite
def test_synth_bad_input_keeps_clear_errors(tiny_run, tmp_path):
    _, run = tiny_run
    empty = invoke("tts", "synth", "  ", "--model", run, "--out", tmp_path / "e.wav")
    assert empty.exit_code != 0 and "empty text" in empty.output
    unknown = invoke("tts", "synth", "Hi.", "--model", run, "--speaker", "nobody", "--out", tmp_path / "e.wav")
    assert unknown.exit_code != 0 and "unknown speaker 'nobody'" in unknown.output


def test_source_filter_puts_harmonics_at_the_given_f0_even_on_a_flat_mel():
    from dlcli.tts.data import AudioConfig
    from dlcli.tts.vocoder import SourceFilter

    audio = AudioConfig()
    frames = 80
    flat = torch.zeros(1, frames, 80)  # no harmonic structure at all in the mel
    wave = SourceFilter(audio)(flat, torch.full((frames,), 125.0), torch.ones(frames))[0]
    assert wave.shape[0] == (frames - 1) * audio.hop_length and torch.isfinite(wave).all()
    spectrum = torch.fft.rfft(wave * torch.hann_window(len(wave))).abs()
    hertz_per_bin = audio.sample_rate / len(wave)
    low = spectrum[int(80 / hertz_per_bin) : int(1000 / hertz_per_bin)]
    peak = (low.argmax() + int(80 / hertz_per_bin)) * hertz_per_bin
    assert abs(float(peak) / 125.0 - round(float(peak) / 125.0)) < 0.05  # the strongest line is a harmonic of 125 Hz


@needs_flite
def test_synth_with_the_source_filter_vocoder(tiny_run, tmp_path):
    _, run = tiny_run
    out = tmp_path / "sf.wav"
    result = invoke("tts", "synth", "Hello world.", "--model", run, "--out", out, "--vocoder", "source-filter")
    assert result.exit_code == 0, result.output
    audio, _ = soundfile.read(out)
    assert np.isfinite(audio).all() and len(audio) > 0
    exported = tmp_path / "sf.pt"
    assert invoke("tts", "export", run, "--out", exported, "--vocoder", "source-filter").exit_code == 0
    assert torch.load(exported, weights_only=True)["extra"]["vocoder"] == "source-filter"


def test_training_on_a_corpus_without_alignments_with_given_durations_says_what_to_do(tmp_path):
    result = invoke(
        "tts",
        "train",
        UNALIGNED,
        "--out",
        tmp_path / "run",
        "--preset",
        "tiny",
        "--max-steps",
        "1",
        "--durations",
        "given",
    )
    assert result.exit_code != 0 and "--arch tacotron" in result.output


@needs_flite
def test_baseline_variant_speaks_each_voice_with_a_reference_of_its_own(tmp_path):
    from dlcli.errors import UsageError
    from dlcli.tts.evaluate import EvaluateConfig, _give_baseline_references
    from dlcli.tts.synth import Synthesizer, Voice

    corpus, run = tmp_path / "corpus", tmp_path / "run"
    shutil.copytree(ALIGNED, corpus)
    result = invoke("tts", "train", corpus, "--out", run, "--preset", "tiny", "--variant", "baseline",
                    "--max-steps", "1", "--epochs", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    assert checkpoint["model_config"]["variant"] == "baseline" and checkpoint["extra"]["flow_state"] is None
    assert "residual.free" not in checkpoint["state_dict"] and checkpoint["extra"]["reference_mels"]

    synth = Synthesizer(run)
    utterances, _ = read_corpus(corpus)
    voice, other = "flite-rms-p+0-d1", "flite-awb-p+150-d0.92"
    _give_baseline_references({"baseline": synth}, [voice], utterances, EvaluateConfig(baseline_references="stored"))
    assert synth.speaker_references == {}
    _give_baseline_references({"baseline": synth}, [voice], utterances, EvaluateConfig(references_per_voice=2))
    own = synth.speaker_references[synth.speaker_index(voice)]
    assert len(own) == 2 and all(m.shape[1] == 80 and torch.isfinite(m).all() for m in own)
    for seed in (0, 1):  # the seed picks one of the voice's own recordings
        _, reference = synth._conditioning(Voice(speaker=voice), seed)
        assert torch.equal(reference[0], own[seed])
    _, reference = synth._conditioning(Voice(speaker=other), 1)  # voices without their own keep the stored ones
    assert torch.equal(reference[0], synth.references[1 % len(synth.references)])
    _, reference = synth._conditioning(Voice(mix=f"{voice}:{other}:0.5"), 0)
    assert torch.equal(reference[0], synth.references[0])
    audio = synth.synthesize("Hello world.", Voice(speaker=voice), seed=1)
    assert len(audio) > 0 and np.isfinite(audio).all()
    with pytest.raises(UsageError, match="baseline_references must be own or stored"):
        _give_baseline_references({}, [voice], utterances, EvaluateConfig(baseline_references="mine"))
