"""Duration-based acoustic model (FastSpeech 2 / FastPitch family): phones -> 80-bin mel, no attention.

Ren et al. (2021) and Łańcucki (2021): a phone encoder, predictors of each phone's duration,
pitch (with a voicing decision) and energy, a length regulator that repeats each phone's
vector for its frames, and a frame decoder + post-net. Durations come from the corpus
(flite's own alignments) where it has them, so nothing has to learn to align, and the decoder
is told the phone, its pitch and where inside the phone each frame lies - what makes the
predicted spectrum sharp on a CPU budget. Utterances without alignments (espeak-ng voices,
recordings) get theirs from an aligner trained with the model and monotonic alignment
search (``aligner.py``; FastPitch's recipe). Convolutions throughout (fast on one CPU core).

The dissertation's conditioning is kept (dissertation ch. 7): ``proposed`` adds a speaker
latent of the speaker flow and the residual branch's prosody latent (mu, sigma, KL; sigma
scaled by ``prosody_scale`` at synthesis) to the encoder outputs, before the predictors, so
a prosody draw moves durations, pitch and energy; ``baseline`` uses the mean speaker
embedding and a reference encoder over a spectrogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlcli.tts.aligner import AlignmentEncoder, beta_binomial_prior, maximum_path
from dlcli.tts.model import Postnet, ReferenceEncoder, ResidualBranch

# ----------------------------------------------------------------------------- layers


class ConvBlock(nn.Module):
    """Residual 1-D convolution -> ReLU -> LayerNorm -> dropout, padded positions kept at zero."""

    def __init__(self, dim: int, kernel: int, dilation: int = 1, dropout: float = 0.1):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.norm = nn.LayerNorm(dim)
        self.dropout = dropout

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # x: (batch, time, dim), mask: (batch, time, 1)
        y = F.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return (x + F.dropout(self.norm(y), self.dropout, self.training)) * mask


class VariancePredictor(nn.Module):
    """FastSpeech 2's predictor: two convolutions with LayerNorm, one output per phone per target."""

    def __init__(self, dim: int, hidden: int, outputs: int = 1, kernel: int = 3, dropout: float = 0.3):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(dim, hidden, kernel, padding=kernel // 2)])
        self.convs.append(nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2))
        self.norms = nn.ModuleList([nn.LayerNorm(hidden), nn.LayerNorm(hidden)])
        self.out = nn.Linear(hidden, outputs)
        self.dropout = dropout

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = F.dropout(norm(F.relu(conv(x.transpose(1, 2))).transpose(1, 2)), self.dropout, self.training)
        return self.out(x) * mask  # (batch, phones, outputs)


def regulate_length(durations: Tensor, frames: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Frame -> phone index map of a batch (the length regulator).

    durations: (batch, phones) integer frames. Returns (phone index per frame (batch, frames),
    position inside the phone 0..1 (batch, frames), frame mask (batch, frames))."""
    ends = durations.cumsum(1)  # (batch, phones)
    total = ends[:, -1]
    frames = int(total.max()) if frames is None else frames
    steps = torch.arange(frames, device=durations.device)
    index = (steps[None, :, None] >= ends[:, None, :]).sum(2).clamp_max(durations.shape[1] - 1)  # (batch, frames)
    starts = (ends - durations).gather(1, index)
    length = durations.gather(1, index).clamp_min(1)
    position = ((steps[None] - starts).float() + 0.5) / length.float()
    return index, position.clamp(0, 1), steps[None] < total[:, None]


# ----------------------------------------------------------------------------- config


@dataclass
class FastSpeechConfig:
    architecture: str = "fastspeech"  # what the checkpoint loader builds (tacotron | fastspeech)
    variant: str = "proposed"  # proposed (flow speaker latent + residual branch) | baseline (embedding + reference)
    symbols: int = 49  # phone inventory (align.PHONES)
    n_mels: int = 80
    dim: int = 256  # encoder and decoder channels
    encoder_layers: int = 4  # residual convolutions over phones (kernel 5)
    decoder_layers: int = 8  # residual dilated convolutions over frames (kernel 3, dilations 1, 2, 4, 8, ...)
    predictor_dim: int = 256
    speaker_input: int = 256  # GE2E embedding / flow latent size
    prosody_dim: int = 32  # residual branch latent (proposed) / reference bottleneck (baseline)
    postnet_dim: int = 256
    speakers: int = 1
    dropout: float = 0.1
    aligner: bool = False  # learn durations of utterances without alignments (aligner + alignment search)
    aligner_dim: int = 80  # channels of the aligner's phone and mel encodings


# ----------------------------------------------------------------------------- model


class FastSpeech(nn.Module):
    def __init__(self, config: FastSpeechConfig):
        super().__init__()
        c = self.config = config
        if c.variant not in ("proposed", "baseline"):
            raise ValueError(f"variant must be proposed or baseline, not {c.variant!r}")
        self.embedding = nn.Embedding(c.symbols, c.dim, padding_idx=0)
        self.encoder = nn.ModuleList(ConvBlock(c.dim, 5, 1, c.dropout) for _ in range(c.encoder_layers))
        self.speaker_to_phones = nn.Linear(c.speaker_input, c.dim)
        self.speaker_to_frames = nn.Linear(c.speaker_input, c.dim)
        if c.variant == "proposed":
            self.residual = ResidualBranch(c.dim, c.prosody_dim, "relu")
        else:
            self.reference = ReferenceEncoder(c.n_mels, c.prosody_dim)
        self.prosody_to_phones = nn.Linear(c.prosody_dim, c.dim)
        self.duration = VariancePredictor(c.dim, c.predictor_dim, 1)
        self.pitch = VariancePredictor(c.dim, c.predictor_dim, 2)  # normalised log f0, voicing logit
        self.energy = VariancePredictor(c.dim, c.predictor_dim, 1)
        self.variance_embedding = nn.Conv1d(3, c.dim, 3, padding=1)  # [pitch * voiced, voiced, energy]
        self.frame_features = nn.Linear(3, c.dim)  # [position in phone, 1 - position, log duration]
        self.decoder = nn.ModuleList(ConvBlock(c.dim, 3, 2 ** (i % 4), c.dropout) for i in range(c.decoder_layers))
        self.to_mel = nn.Linear(c.dim, c.n_mels)
        self.postnet = Postnet(c.n_mels, c.postnet_dim)
        if c.aligner:  # only training uses it: synthesis predicts durations
            self.aligner = AlignmentEncoder(c.dim, c.n_mels, c.aligner_dim)
        self.register_buffer("speaker_mean", torch.zeros(c.speakers, c.speaker_input))
        self.register_buffer("speaker_sigma", torch.zeros(c.speakers, c.speaker_input))
        self.register_buffer("mel_mean", torch.zeros(c.n_mels))
        self.register_buffer("mel_std", torch.ones(c.n_mels))
        self.register_buffer("variance_stats", torch.tensor([0.0, 1.0, 0.0, 1.0]))  # log f0 and energy mean, std

    # --------------------------------------------------------------- conditioning
    def speaker_vectors(self, speakers: Tensor, sample: bool) -> Tensor:
        """A draw from each speaker's Gaussian in the flow's latent space (proposed, ``sample``), else the mean."""
        mean = self.speaker_mean[speakers]
        if sample and self.config.variant == "proposed":
            return mean + self.speaker_sigma[speakers] * torch.randn_like(mean)
        return mean

    def encode(self, phones: Tensor, speaker_vectors: Tensor, reference: Tensor | None, prosody_scale: float = 1.0):
        """(phone states with speaker and prosody added (batch, phones, dim), phone mask, KL per example)."""
        mask = (phones != 0).unsqueeze(2).float()
        x = self.embedding(phones) * mask
        for block in self.encoder:
            x = block(x, mask)
        lengths = mask.sum((1, 2)).long().clamp_min(1)
        if self.config.variant == "proposed":
            mu, log_sigma = self.residual(x, lengths)
            z = mu + prosody_scale * log_sigma.exp() * torch.randn_like(mu)
            kl = 0.5 * (mu.pow(2) + (2 * log_sigma).exp() - 1 - 2 * log_sigma).sum(1)
        else:
            if reference is None:
                raise ValueError("the baseline model needs a reference spectrogram")
            z, kl = self.reference(reference), x.new_zeros(x.shape[0])
        conditioning = self.speaker_to_phones(speaker_vectors) + self.prosody_to_phones(z)
        return (x + conditioning.unsqueeze(1)) * mask, mask, kl

    def align(self, phones: Tensor, mels: Tensor, mel_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Learned alignment of phones to normalised mel frames: (log attention (batch, frames, phones),
        durations by monotonic alignment search (batch, phones), summing to ``mel_lengths``)."""
        if not self.config.aligner:
            raise ValueError("this model was built without an aligner (fastspeech.aligner)")
        text_mask = phones != 0
        text_lengths = text_mask.sum(1)
        prior = beta_binomial_prior(text_lengths.cpu(), mel_lengths.cpu(), phones.shape[1], mels.shape[1])
        log_attention = self.aligner(self.embedding(phones), mels, text_mask, prior.to(mels.device))
        durations = maximum_path(
            log_attention.detach().float().transpose(1, 2).cpu().numpy(), text_lengths.cpu(), mel_lengths.cpu()
        )
        return log_attention, torch.from_numpy(durations).to(phones.device)

    def predict_variances(self, x: Tensor, mask: Tensor) -> dict[str, Tensor]:
        pitch = self.pitch(x, mask)
        return {
            "log_duration": self.duration(x, mask).squeeze(2),  # log(1 + frames)
            "pitch": pitch[..., 0],
            "voicing": pitch[..., 1],
            "energy": self.energy(x, mask).squeeze(2),
        }

    def decode(self, x, durations, pitch, voiced, energy, speaker_vectors) -> tuple[Tensor, Tensor, Tensor]:
        """Phone states + (durations, normalised pitch, voicing 0/1, normalised energy) -> (mel, post-net mel, mask)."""
        variances = torch.stack([pitch * voiced, voiced, energy], 1)  # (batch, 3, phones)
        x = x + self.variance_embedding(variances).transpose(1, 2)
        index, position, frame_mask = regulate_length(durations)
        frames = x.gather(1, index.unsqueeze(2).expand(-1, -1, x.shape[2]))  # (batch, frames, dim)
        log_duration = torch.log1p(durations.gather(1, index).float())
        features = torch.stack([position, 1 - position, log_duration], 2)
        mask = frame_mask.unsqueeze(2).float()
        y = (frames + self.frame_features(features) + self.speaker_to_frames(speaker_vectors).unsqueeze(1)) * mask
        for block in self.decoder:
            y = block(y, mask)
        mel = self.to_mel(y) * mask
        return mel, self.postnet(mel) * mask, frame_mask

    def forward(self, phones, durations, pitch, voiced, energy, speaker_vectors, reference=None):
        """Teacher-forced pass (true durations, pitch, voicing, energy): (mel, post, frame mask, predictions, KL)."""
        x, mask, kl = self.encode(phones, speaker_vectors, reference)
        predictions = self.predict_variances(x, mask)
        mel, post, frame_mask = self.decode(x, durations, pitch, voiced, energy, speaker_vectors)
        return mel, post, frame_mask, predictions, kl

    @torch.no_grad()
    def infer(
        self, phones, speaker_vectors, reference=None, prosody_scale: float = 1.0, pace: float = 1.0, with_f0=False
    ):
        """Synthesis from phones alone: (normalised mel (batch, frames, n_mels), frames per item, durations)
        and, ``with_f0``, the predicted f0 per frame in Hz (0 where unvoiced; batch, frames)."""
        x, mask, _ = self.encode(phones, speaker_vectors, reference, prosody_scale)
        predicted = self.predict_variances(x, mask)
        durations = (torch.expm1(predicted["log_duration"]).clamp_min(0) * pace).round().long()
        durations = (durations * mask.squeeze(2).long()).clamp_max(200)
        durations[:, 0] = durations[:, 0].clamp_min(1)  # never an empty utterance
        voiced = (predicted["voicing"] > 0).float()
        _, post, frame_mask = self.decode(
            x, durations, predicted["pitch"], voiced, predicted["energy"], speaker_vectors
        )
        if not with_f0:
            return post, frame_mask.sum(1), durations
        f0 = (predicted["pitch"] * self.variance_stats[1] + self.variance_stats[0]).exp() * voiced  # (batch, phones)
        index, _, _ = regulate_length(durations, post.shape[1])
        return post, frame_mask.sum(1), durations, f0.gather(1, index) * frame_mask

    def denormalise(self, mel: Tensor) -> Tensor:
        """Normalised model output -> natural-log mel magnitudes."""
        return mel * self.mel_std + self.mel_mean
