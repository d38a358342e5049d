import json
import shutil

import numpy as np
import pytest
import torch

from dlcli.errors import InputError, UsageError
from dlcli.tts.corpus import Voice, choose_voices, generate_corpus, read_corpus, read_voices
from dlcli.tts.flow import FlowConfig, fit_flow, latents_to_embeddings, speaker_gaussians
from dlcli.tts.speakers import speaker_means

needs_voices = pytest.mark.skipif(
    not (shutil.which("flite") and shutil.which("espeak-ng") and shutil.which("sox")),
    reason="flite, espeak-ng and sox are needed to render voices",
)


@needs_voices
def test_generator_writes_the_layout_it_reads(tmp_path):
    voices = [Voice("flite", "slt", 150, 1.1), Voice("espeak-ng", "en-us+f2", 60, 160)]
    made = generate_corpus(tmp_path / "c", voices=voices, utterances_per_speaker=2, seed=5, jobs=1)
    utterances, problems = read_corpus(tmp_path / "c")
    assert problems == [] and len(utterances) == len(made) == 4
    assert {u.speaker for u in utterances} == {"flite-slt-p+150-d1.1", "espeak-en-us+f2-p60-s160"}
    assert read_voices(tmp_path / "c")["flite-slt-p+150-d1.1"] == voices[0]
    with pytest.raises(UsageError):
        generate_corpus(tmp_path / "c", voices=voices, utterances_per_speaker=1)


def test_choose_voices_puts_plain_flite_voices_first():
    if not shutil.which("flite"):
        pytest.skip("flite is not installed")
    voices = choose_voices(10, flite_share=0.5, seed=0)
    assert len(set(voices)) == 10
    assert [v.voice for v in voices[:4]] == ["rms", "slt", "awb", "kal16"]
    assert all(v.pitch == 0 and v.speed == 1.0 for v in voices[:4])


def test_reader_rejects_a_folder_without_metadata(tmp_path):
    with pytest.raises(InputError, match="no metadata.csv"):
        read_corpus(tmp_path)
    (tmp_path / "metadata.csv").write_text("only|two\n")
    with pytest.raises(InputError, match="no usable utterances"):
        read_corpus(tmp_path)


def test_speaker_means_are_unit_vectors_per_speaker():
    embeddings = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    names, means = speaker_means(embeddings, ["b", "a", "b"])
    assert names == ["a", "b"]
    assert np.allclose(means[0], [0, 1, 0]) and np.allclose(means[1], [2**-0.5, 0, 2**-0.5])


def test_flow_gaussianises_clustered_embeddings_and_inverts():
    rng = np.random.default_rng(0)
    centres = np.abs(rng.normal(size=(6, 32)))
    labels = [f"s{i % 6}" for i in range(300)]
    data = np.abs(centres[[i % 6 for i in range(300)]] + 0.1 * rng.normal(size=(300, 32))).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    flow, stats = fit_flow(
        data, FlowConfig(channels=8, steps=4, hidden=32, epochs=20, batch_size=100, lr=3e-3), quiet=True
    )
    with torch.no_grad():
        z, _ = flow(torch.from_numpy(data))
        assert (flow.inverse(z) - torch.from_numpy(data)).abs().max() < 1e-4  # the fitted flow inverts exactly
    assert abs(float(z.mean())) < 0.3 and 0.6 < float(z.std()) < 1.4
    names = sorted(set(labels))
    means, sigmas = speaker_gaussians(flow, data, labels, names, min_sigma=0.05)
    assert means.shape == (6, 32) and (sigmas >= 0.05).all()
    back = latents_to_embeddings(flow, means)
    true_means = np.stack([data[[i for i, s in enumerate(labels) if s == n]].mean(0) for n in names])
    cosine = (back.numpy() * true_means / np.linalg.norm(true_means, axis=1, keepdims=True)).sum(1)
    assert (cosine > 0.95).all()  # a speaker's latent mean decodes back to (nearly) its mean embedding
    assert json.dumps(stats)
