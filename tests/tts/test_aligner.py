"""Learned durations: monotonic alignment search, the aligner's losses, training on a corpus without alignments."""

import itertools
import shutil

import numpy as np
import pytest
import torch

from dlcli.tts.aligner import (
    AlignmentEncoder,
    beta_binomial_prior,
    binarisation_loss,
    boundary_agreement,
    durations_to_path,
    forward_sum_loss,
    maximum_path,
)

from .helpers import ALIGNED, UNALIGNED, invoke, needs_flite


def brute_force(log_p: np.ndarray) -> list[int]:
    """The best monotonic path by trying every split of the frames into one run per phone."""
    phones, frames = log_p.shape
    best, chosen = -np.inf, None
    for cuts in itertools.combinations(range(1, frames), phones - 1):
        bounds = [0, *cuts, frames]
        score = sum(log_p[i, bounds[i] : bounds[i + 1]].sum() for i in range(phones))
        if score > best:
            best, chosen = score, np.diff(bounds).tolist()
    return chosen


def test_alignment_search_finds_the_known_best_monotonic_path():
    # 3 phones over 8 frames: the cheap cells trace durations 2, 4, 2; a tempting cell off the path
    # (phone 2 at frame 1) cannot be used by a monotonic path that starts at phone 0
    log_p = np.full((3, 8), -10.0)
    for phone, frames in ((0, range(0, 2)), (1, range(2, 6)), (2, range(6, 8))):
        log_p[phone, list(frames)] = 0.0
    log_p[2, 1] = 50.0
    durations = maximum_path(log_p[None], [3], [8])[0]
    assert durations.tolist() == [2, 4, 2]
    # random matrices, batched with padding: the exhaustive optimum, durations >= 1 summing to the frames
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(4, 5, 9))
    text_lengths, mel_lengths = [5, 3, 1, 4], [9, 6, 4, 4]
    found = maximum_path(batch, text_lengths, mel_lengths)
    for row, (n, m) in enumerate(zip(text_lengths, mel_lengths)):
        assert found[row, :n].tolist() == brute_force(batch[row, :n, :m])
        assert found[row, :n].min() >= 1 and found[row].sum() == m and found[row, n:].sum() == 0
    with pytest.raises(ValueError):
        maximum_path(batch[:1], [5], [4])  # fewer frames than phones


def test_alignment_search_is_fast_enough_for_every_training_step():
    import time

    log_p = np.random.default_rng(1).normal(size=(16, 90, 640))
    start = time.perf_counter()
    durations = maximum_path(log_p, [90] * 16, [640] * 16)
    assert time.perf_counter() - start < 2.0 and (durations.sum(1) == 640).all()


def test_path_prior_and_binarisation():
    path = durations_to_path(torch.tensor([[2, 1, 0], [1, 1, 1]]), 4)
    assert path[0].argmax(1).tolist()[:3] == [0, 0, 1] and float(path[0, 3].sum()) == 0.0
    prior = beta_binomial_prior([3], [6], 4, 8)[0]
    assert prior.shape == (8, 4) and float(prior[6:].abs().sum()) == 0.0 and float(prior[:, 3].abs().sum()) == 0.0
    assert prior[0, :3].argmax() == 0 and prior[5, :3].argmax() == 2  # the diagonal
    hard = durations_to_path(torch.tensor([[2, 2]]), 4)
    sharp = torch.log(hard * 0.98 + 0.01)
    assert float(binarisation_loss(hard, sharp)) < float(binarisation_loss(hard, torch.zeros(1, 4, 2)))


def test_forward_sum_loss_decreases_on_a_tiny_batch():
    torch.manual_seed(0)
    phones, frames, n_mels, text_dim = 6, 24, 16, 8
    patterns = torch.randn(phones + 1, n_mels) * 2  # each phone id sounds different
    ids = torch.tensor([[1, 2, 3, 4, 5, 6], [3, 1, 4, 2, 0, 0]])
    durations = torch.tensor([[2, 8, 2, 8, 2, 2], [8, 4, 6, 6, 0, 0]])
    mels = torch.zeros(2, frames, n_mels)
    for row in range(2):
        mels[row] = patterns[torch.repeat_interleave(ids[row], durations[row])] + 0.1 * torch.randn(frames, n_mels)
    text_lengths, mel_lengths = torch.tensor([6, 4]), torch.tensor([24, 24])
    embedding = torch.nn.Embedding(phones + 1, text_dim, padding_idx=0)
    aligner = AlignmentEncoder(text_dim, n_mels, 16, temperature=0.01)  # small encodings: a warmer softmax
    prior = beta_binomial_prior(text_lengths, mel_lengths, phones, frames)
    optimiser = torch.optim.Adam([*aligner.parameters(), *embedding.parameters()], lr=1e-2)

    def boundary_error(log_attention):
        found = maximum_path(log_attention.detach().transpose(1, 2).numpy(), text_lengths, mel_lengths)
        return boundary_agreement([(found[r, :n], durations[r, :n]) for r, n in enumerate((6, 4))])["mean_frames"]

    losses, errors = [], []
    for _ in range(60):
        log_attention = aligner(embedding(ids), mels, ids != 0, prior)
        loss = forward_sum_loss(log_attention, text_lengths, mel_lengths)
        assert torch.isfinite(loss)
        if not errors:
            errors.append(boundary_error(log_attention))
        optimiser.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in aligner.parameters())
        optimiser.step()
        losses.append(loss.item())
    errors.append(boundary_error(log_attention))
    assert losses[-1] < 0.6 * losses[0] and losses[-1] < min(losses[:10])
    assert errors[1] < errors[0]  # the learned path moved towards the constructed phone boundaries


def test_boundary_agreement():
    result = boundary_agreement([([2, 3, 5], [2, 4, 4]), ([1, 1], [1, 1])])
    assert result["boundaries"] == 3 and result["mean_frames"] == pytest.approx(1 / 3)
    assert result["mean_ms"] == pytest.approx(12.5 / 3) and result["within_1"] == 100.0


def test_phone_targets_from_frames_match_the_given_alignment_ones():
    from dlcli.audio import load_audio
    from dlcli.tts.align import phone_ids, phone_prosody
    from dlcli.tts.corpus import read_corpus
    from dlcli.tts.data import AudioConfig, log_mels
    from dlcli.tts.train import phone_targets_from_frames

    utterance = read_corpus(ALIGNED)[0][0]
    samples, _ = load_audio(utterance.audio, 16000)
    mel = log_mels([samples], AudioConfig())[0]
    log_f0, voiced, energy = phone_prosody(torch.from_numpy(samples), mel, utterance.phones, utterance.durations)
    from dlcli.tts.align import frame_pitch

    f0, periodicity = frame_pitch(torch.from_numpy(samples))
    periodic = (periodicity[: len(mel)] > 0.5).float()
    pitch, voiced_b, energy_b = phone_targets_from_frames(
        torch.tensor([utterance.durations]),
        torch.tensor([phone_ids(utterance.phones)]),
        (torch.log(f0[: len(mel)]) * periodic)[None],
        periodic[None],
        mel.mean(1)[None],
    )
    assert voiced_b[0].tolist() == voiced.tolist()
    assert torch.allclose(pitch[0], log_f0, atol=1e-4) and torch.allclose(energy_b[0], energy, atol=1e-4)


@needs_flite
def test_a_corpus_without_alignments_trains_with_learned_durations(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(UNALIGNED, corpus)
    run = tmp_path / "run"
    result = invoke("tts", "train", corpus, "--out", run, "--preset", "tiny", "--max-steps", "3", "--epochs", "1")
    assert result.exit_code == 0, result.output
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    assert checkpoint["model_config"]["aligner"] is True
    metrics = checkpoint["metrics"]
    assert np.isfinite(metrics["train_align"]) and np.isfinite(metrics["train_mel_learned"])
    assert (run / "phones.json").is_file()  # the front end's phones, cached for --resume
    out = tmp_path / "x.wav"
    synth = invoke("tts", "synth", "Hello there.", "--model", run, "--out", out, "--iterations", "2")
    assert synth.exit_code == 0, synth.output
    exported = tmp_path / "model.pt"  # synthesis needs no aligner: export leaves it out
    assert invoke("tts", "export", run, "--out", exported).exit_code == 0
    shipped = torch.load(exported, weights_only=True)
    assert shipped["model_config"]["aligner"] is False and not any(
        k.startswith("aligner.") for k in shipped["state_dict"]
    )
    synth = invoke("tts", "synth", "Hello there.", "--model", exported, "--out", out, "--iterations", "2")
    assert synth.exit_code == 0, synth.output


def test_durations_given_on_a_corpus_without_alignments_fails_with_one_clear_line(tmp_path):
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
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--durations given" in lines[0] and "--durations auto" in lines[0], result.output
