import pytest
import torch

from dlcli.tts.data import Example, collate
from dlcli.tts.model import Tacotron, TacotronConfig, guided_attention_loss

TINY = dict(
    encoder_dim=16,
    speaker_dim=4,
    prosody_dim=4,
    prenet_dim=16,
    attention_rnn_dim=24,
    decoder_rnn_dim=24,
    attention_dim=8,
    postnet_dim=8,
    n_mels=10,
    speakers=3,
    speaker_input=8,
)


def _batch(reduction=3):
    torch.manual_seed(0)
    examples = [
        Example(torch.randint(3, 49, (n,)), torch.randn(f, 10), s, i)
        for i, (n, f, s) in enumerate([(7, 13, 0), (4, 9, 2)])
    ]
    return collate(examples, reduction)


@pytest.mark.parametrize("variant", ["proposed", "baseline"])
def test_teacher_forced_shapes_and_stop_targets(variant):
    batch = _batch()
    model = Tacotron(TacotronConfig(variant=variant, **TINY))
    vectors = model.speaker_vectors(batch["speakers"], sample=True)
    reference = batch["mels"] if variant == "baseline" else None
    mel, post, stop, alignments, kl = model(batch["symbols"], batch["text_lengths"], batch["mels"], vectors, reference)
    assert batch["mels"].shape == (2, 15, 10)  # 13 frames padded to a multiple of r = 3
    assert mel.shape == post.shape == (2, 15, 10)
    assert stop.shape == (2, 5) and alignments.shape == (2, 5, 7)
    assert batch["stop"][1].tolist() == [0, 0, 1, 1, 1]  # 9 frames: the third step holds the last frame
    assert torch.allclose(alignments.sum(2), torch.ones(2, 5), atol=1e-5)
    assert float(alignments[1, :, 4:].detach().sum()) < 1e-3  # padding is never attended
    assert (kl > 0).all() if variant == "proposed" else (kl == 0).all()


def test_free_running_inference_stops_within_the_limit():
    batch = _batch()
    model = Tacotron(TacotronConfig(**TINY)).eval()
    vectors = model.speaker_vectors(batch["speakers"], sample=False)
    mel, frames, alignments = model.infer(batch["symbols"], batch["text_lengths"], vectors, max_steps=6)
    assert mel.shape[0] == 2 and mel.shape[1] <= 18 and (frames <= 18).all()
    assert alignments.shape[2] == 7


def test_proposed_speaker_draws_follow_the_speaker_gaussian():
    model = Tacotron(TacotronConfig(**TINY))
    model.speaker_mean.normal_()
    model.speaker_sigma.fill_(0.5)
    draws = model.speaker_vectors(torch.zeros(4000, dtype=torch.long), sample=True)
    assert torch.allclose(draws.mean(0), model.speaker_mean[0], atol=0.05)
    assert torch.allclose(draws.std(0), torch.full((8,), 0.5), atol=0.05)
    assert torch.equal(model.speaker_vectors(torch.tensor([1]), sample=False)[0], model.speaker_mean[1])


def test_guided_attention_loss_is_small_on_the_diagonal_and_large_off_it():
    steps, text = 20, 20
    diagonal = torch.eye(steps).unsqueeze(0)
    reverse = diagonal.flip(2)
    lengths = torch.tensor([text])
    on = float(guided_attention_loss(diagonal, lengths, torch.tensor([steps])))
    off = float(guided_attention_loss(reverse, lengths, torch.tensor([steps])))
    assert on < 0.01 < 0.5 < off < 1.0
    # padding beyond the lengths is ignored
    padded = torch.zeros(1, 30, 25)
    padded[0, :20, :20] = diagonal[0]
    padded[0, 20:, 20:] = 1.0 / 5
    assert float(guided_attention_loss(padded, lengths, torch.tensor([steps]))) == pytest.approx(on)
