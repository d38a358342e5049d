"""Tacotron2-like acoustic model: phonemes -> 80-bin mel, conditioned on a speaker and a prosody latent.

Shen et al. (2018) with location-sensitive attention (Chorowski et al., 2015), a reduction
factor r (r frames per decoder step, Wang et al., 2017) and a guided-attention prior
(Tachibana et al., 2018) in the loss, which together make small models align in a few
thousand steps. Two conditioning variants (dissertation ch. 7):

- ``proposed``: the speaker is a latent of the speaker flow, drawn from that speaker's
  Gaussian; prosody comes from the residual branch (BiGRU over the encoder outputs +
  free parameters -> two bias-free dense layers -> mu, sigma; KL towards N(0, I)).
- ``baseline``: the speaker is its mean GE2E embedding; prosody comes from a reference
  encoder over the target spectrogram (Skerry-Ryan et al., 2018), a reference mel at synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlcli.nn.activations import make_activation

# ----------------------------------------------------------------------------- layers


class Encoder(nn.Module):
    """Symbol embedding -> 3 convolutions -> bidirectional LSTM."""

    def __init__(self, symbols: int, dim: int, activation: str, dropout: float = 0.5):
        super().__init__()
        self.embedding = nn.Embedding(symbols, dim)
        self.convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(dim, dim, 5, padding=2), nn.BatchNorm1d(dim), make_activation(activation), nn.Dropout(dropout)
            )
            for _ in range(3)
        )
        self.lstm = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, symbols: Tensor, lengths: Tensor) -> Tensor:
        x = self.embedding(symbols).transpose(1, 2)  # (batch, dim, time)
        for conv in self.convs:
            x = conv(x)
        packed = nn.utils.rnn.pack_padded_sequence(
            x.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=symbols.shape[1])
        return out  # (batch, time, dim)


class ResidualBranch(nn.Module):
    """Prosody latent from the text alone: [last fwd, last bwd of a BiGRU, free params] -> mu, sigma."""

    def __init__(self, encoder_dim: int, latent_dim: int, activation: str):
        super().__init__()
        self.rnn = nn.GRU(encoder_dim, latent_dim, batch_first=True, bidirectional=True)
        self.free = nn.Parameter(torch.zeros(latent_dim))
        self.dense1 = nn.Linear(3 * latent_dim, 2 * latent_dim, bias=False)  # all bias lives in the free parameters
        self.act = make_activation(activation)
        self.dense2 = nn.Linear(2 * latent_dim, 2 * latent_dim, bias=False)

    def forward(self, encoded: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        packed = nn.utils.rnn.pack_padded_sequence(encoded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.rnn(packed)  # (2, batch, latent): last forward and last backward states
        features = torch.cat([last[0], last[1], self.free.expand(encoded.shape[0], -1)], dim=1)
        mu, log_sigma = self.dense2(self.act(self.dense1(features))).chunk(2, dim=1)
        return mu, log_sigma.clamp(-6.0, 2.0)


class ReferenceEncoder(nn.Module):
    """Baseline prosody: 2-D convolutions over the mel + GRU -> tanh bottleneck."""

    def __init__(self, n_mels: int, latent_dim: int, channels=(32, 32, 64, 64)):
        super().__init__()
        layers, previous = [], 1
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            previous = width
        self.convs = nn.Sequential(*layers)
        frequencies = n_mels
        for _ in channels:
            frequencies = (frequencies + 1) // 2
        self.gru = nn.GRU(previous * frequencies, 128, batch_first=True)
        self.project = nn.Linear(128, latent_dim)

    def forward(self, mels: Tensor) -> Tensor:
        x = self.convs(mels.unsqueeze(1))  # (batch, channels, time/16, mels/16)
        x = x.transpose(1, 2).flatten(2)  # (batch, time/16, channels * mels/16)
        _, last = self.gru(x)
        return torch.tanh(self.project(last[0]))


class Prenet(nn.Module):
    """Two dense layers with dropout that stays on at synthesis (Tacotron2's source of variation)."""

    def __init__(self, n_mels: int, dim: int, activation: str):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(n_mels, dim), nn.Linear(dim, dim)])
        self.act = make_activation(activation)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = F.dropout(self.act(layer(x)), 0.5, training=True)
        return x


class LocationSensitiveAttention(nn.Module):
    """Additive attention that also sees the previous and cumulative alignments."""

    def __init__(self, query_dim: int, memory_dim: int, dim: int, filters: int = 16, kernel: int = 15):
        super().__init__()
        self.query = nn.Linear(query_dim, dim, bias=False)
        self.memory = nn.Linear(memory_dim, dim, bias=False)
        self.location_conv = nn.Conv1d(2, filters, kernel, padding=kernel // 2, bias=False)
        self.location = nn.Linear(filters, dim, bias=False)
        self.energy = nn.Linear(dim, 1)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, weights: Tensor, cumulative: Tensor, mask: Tensor):
        location = self.location(self.location_conv(torch.stack([weights, cumulative], 1)).transpose(1, 2))
        energies = self.energy(torch.tanh(self.query(query).unsqueeze(1) + keys + location)).squeeze(2)
        energies = energies.masked_fill(~mask, -1e4)
        weights = torch.softmax(energies, dim=1)  # (batch, text)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        return context, weights


class Postnet(nn.Module):
    """Five convolutions that add a residual correction to the decoder's mel."""

    def __init__(self, n_mels: int, dim: int, layers: int = 5):
        super().__init__()
        sizes = [n_mels] + [dim] * (layers - 1) + [n_mels]
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv1d(a, b, 5, padding=2), nn.BatchNorm1d(b)) for a, b in zip(sizes[:-1], sizes[1:])
        )

    def forward(self, mel: Tensor) -> Tensor:
        x = mel.transpose(1, 2)
        for index, conv in enumerate(self.convs):
            x = conv(x)
            if index < len(self.convs) - 1:
                x = F.dropout(torch.tanh(x), 0.5, self.training)
        return mel + x.transpose(1, 2)


# ----------------------------------------------------------------------------- config


@dataclass
class TacotronConfig:
    variant: str = (
        "proposed"  # proposed (flow speaker latent + residual branch) | baseline (embedding + reference encoder)
    )
    symbols: int = 49  # size of the symbol inventory (text.SYMBOLS)
    n_mels: int = 80
    reduction: int = 3  # mel frames per decoder step
    encoder_dim: int = 128
    speaker_input: int = 256  # GE2E embedding / flow latent size
    speaker_dim: int = 32  # speaker projection concatenated to the encoder outputs
    prosody_dim: int = 32  # residual branch latent (proposed) / reference bottleneck (baseline)
    prenet_dim: int = 128
    attention_rnn_dim: int = 256
    decoder_rnn_dim: int = 256
    attention_dim: int = 96
    postnet_dim: int = 128
    speakers: int = 1
    activation: str = "relu"
    dropout: float = 0.1  # on the decoder's recurrent outputs


# ----------------------------------------------------------------------------- model


class Tacotron(nn.Module):
    def __init__(self, config: TacotronConfig):
        super().__init__()
        c = self.config = config
        if c.variant not in ("proposed", "baseline"):
            raise ValueError(f"variant must be proposed or baseline, not {c.variant!r}")
        self.encoder = Encoder(c.symbols, c.encoder_dim, c.activation)
        self.speaker_projection = nn.Linear(c.speaker_input, c.speaker_dim)
        if c.variant == "proposed":
            self.residual = ResidualBranch(c.encoder_dim, c.prosody_dim, c.activation)
        else:
            self.reference = ReferenceEncoder(c.n_mels, c.prosody_dim)
        # per-speaker conditioning: flow-latent Gaussians (proposed) or mean embeddings (baseline, sigma unused)
        self.register_buffer("speaker_mean", torch.zeros(c.speakers, c.speaker_input))
        self.register_buffer("speaker_sigma", torch.zeros(c.speakers, c.speaker_input))
        self.register_buffer("mel_mean", torch.zeros(c.n_mels))
        self.register_buffer("mel_std", torch.ones(c.n_mels))
        memory_dim = c.encoder_dim + c.speaker_dim + c.prosody_dim
        self.prenet = Prenet(c.n_mels, c.prenet_dim, c.activation)
        self.attention_rnn = nn.LSTMCell(c.prenet_dim + memory_dim, c.attention_rnn_dim)
        self.attention = LocationSensitiveAttention(c.attention_rnn_dim, memory_dim, c.attention_dim)
        self.decoder_rnn = nn.LSTMCell(c.attention_rnn_dim + memory_dim, c.decoder_rnn_dim)
        self.frames = nn.Linear(c.decoder_rnn_dim + memory_dim, c.n_mels * c.reduction)
        self.stop = nn.Linear(c.decoder_rnn_dim + memory_dim, 1)
        self.postnet = Postnet(c.n_mels, c.postnet_dim)

    # --------------------------------------------------------------- conditioning
    def speaker_vectors(self, speakers: Tensor, sample: bool) -> Tensor:
        """Conditioning vectors of speaker ids: a draw from their Gaussian (proposed, ``sample``) or the mean."""
        mean = self.speaker_mean[speakers]
        if sample and self.config.variant == "proposed":
            return mean + self.speaker_sigma[speakers] * torch.randn_like(mean)
        return mean

    def prosody(self, encoded: Tensor, lengths: Tensor, reference: Tensor | None, scale: float = 1.0):
        """(prosody latent, KL per example) from the residual branch, or the reference encoder's bottleneck."""
        if self.config.variant == "proposed":
            mu, log_sigma = self.residual(encoded, lengths)
            z = mu + scale * log_sigma.exp() * torch.randn_like(mu)
            kl = 0.5 * (mu.pow(2) + (2 * log_sigma).exp() - 1 - 2 * log_sigma).sum(1)
            return z, kl
        if reference is None:
            raise ValueError("the baseline model needs a reference spectrogram")
        return self.reference(reference), encoded.new_zeros(encoded.shape[0])

    def memory(self, symbols, lengths, speaker_vectors, reference=None, prosody_scale: float = 1.0):
        encoded = self.encoder(symbols, lengths)
        z, kl = self.prosody(encoded, lengths, reference, prosody_scale)
        steps = encoded.shape[1]
        speaker = self.speaker_projection(speaker_vectors)
        memory = torch.cat(
            [encoded, speaker.unsqueeze(1).expand(-1, steps, -1), z.unsqueeze(1).expand(-1, steps, -1)], 2
        )
        return memory, kl

    # --------------------------------------------------------------- decoding
    def _initial_state(self, memory: Tensor):
        batch, steps = memory.shape[:2]
        zeros = memory.new_zeros
        c = self.config
        return {
            "attention": (zeros(batch, c.attention_rnn_dim), zeros(batch, c.attention_rnn_dim)),
            "decoder": (zeros(batch, c.decoder_rnn_dim), zeros(batch, c.decoder_rnn_dim)),
            "weights": zeros(batch, steps),
            "cumulative": zeros(batch, steps),
            "context": zeros(batch, memory.shape[2]),
        }

    def _step(self, frame: Tensor, state: dict, memory: Tensor, keys: Tensor, mask: Tensor):
        x = torch.cat([self.prenet(frame), state["context"]], 1)
        h, cell = self.attention_rnn(x, state["attention"])
        h = F.dropout(h, self.config.dropout, self.training)
        context, weights = self.attention(h, keys, memory, state["weights"], state["cumulative"], mask)
        d, d_cell = self.decoder_rnn(torch.cat([h, context], 1), state["decoder"])
        d = F.dropout(d, self.config.dropout, self.training)
        out = torch.cat([d, context], 1)
        state = {
            "attention": (h, cell),
            "decoder": (d, d_cell),
            "weights": weights,
            "cumulative": state["cumulative"] + weights,
            "context": context,
        }
        return self.frames(out), self.stop(out).squeeze(1), state

    def forward(self, symbols, lengths, mels, speaker_vectors, reference=None):
        """Teacher-forced pass. mels: (batch, frames, n_mels) normalised, frames a multiple of r."""
        c = self.config
        memory, kl = self.memory(symbols, lengths, speaker_vectors, reference)
        keys = self.attention.memory(memory)
        mask = torch.arange(symbols.shape[1], device=symbols.device)[None] < lengths[:, None]
        batch, frames, _ = mels.shape
        steps = frames // c.reduction
        previous = torch.cat(
            [mels.new_zeros(batch, 1, c.n_mels), mels[:, c.reduction - 1 :: c.reduction][:, : steps - 1]], 1
        )
        state = self._initial_state(memory)
        outputs, stops, alignments = [], [], []
        for t in range(steps):
            out, stop, state = self._step(previous[:, t], state, memory, keys, mask)
            outputs.append(out)
            stops.append(stop)
            alignments.append(state["weights"])
        mel = torch.stack(outputs, 1).reshape(batch, steps * c.reduction, c.n_mels)
        return mel, self.postnet(mel), torch.stack(stops, 1), torch.stack(alignments, 1), kl

    @torch.no_grad()
    def infer(self, symbols, lengths, speaker_vectors, reference=None, prosody_scale: float = 1.0, max_steps=None):
        """Free-running synthesis of a batch; returns mels (batch, frames, n_mels), frame counts, alignments."""
        c = self.config
        memory, _ = self.memory(symbols, lengths, speaker_vectors, reference, prosody_scale)
        keys = self.attention.memory(memory)
        mask = torch.arange(symbols.shape[1], device=symbols.device)[None] < lengths[:, None]
        batch = symbols.shape[0]
        max_steps = max_steps or int(lengths.max()) * 6 // c.reduction + 20
        frame = memory.new_zeros(batch, c.n_mels)
        state = self._initial_state(memory)
        done = torch.zeros(batch, dtype=torch.bool, device=symbols.device)
        step_counts = torch.full((batch,), max_steps, dtype=torch.long, device=symbols.device)
        outputs, alignments = [], []
        last_position = (lengths - 1).clamp_min(0)
        for t in range(max_steps):
            out, stop, state = self._step(frame, state, memory, keys, mask)
            outputs.append(out)
            alignments.append(state["weights"])
            frame = out[:, -c.n_mels :]
            at_end = state["weights"].argmax(1) >= last_position - 1
            finished = (torch.sigmoid(stop) > 0.5) & at_end & ~done
            step_counts[finished] = t + 1
            done |= finished
            if bool(done.all()):
                break
        mel = torch.stack(outputs, 1).reshape(batch, -1, c.n_mels)
        mel = self.postnet(mel)
        return mel, step_counts * c.reduction, torch.stack(alignments, 1)

    def denormalise(self, mel: Tensor) -> Tensor:
        """Normalised model output -> natural-log mel magnitudes."""
        return mel * self.mel_std + self.mel_mean


def guided_attention_loss(alignments: Tensor, text_lengths: Tensor, step_lengths: Tensor, g: float = 0.2) -> Tensor:
    """Tachibana et al. (2018): penalise attention far from the diagonal, over the valid region only."""
    batch, steps, text = alignments.shape
    n = torch.arange(text, device=alignments.device)[None, None] / text_lengths[:, None, None].float()
    t = torch.arange(steps, device=alignments.device)[None, :, None] / step_lengths[:, None, None].float()
    weight = 1.0 - torch.exp(-((n - t) ** 2) / (2 * g * g))
    valid = (n < 1) & (t < 1)
    # attention mass away from the diagonal per decoder step (0 on the diagonal, about 0.7 when uniform)
    return (alignments * weight * valid).sum() / (t < 1).sum().clamp_min(1)
