"""Learned phone durations for utterances without alignments: a soft aligner and monotonic alignment search.

The aligner is the one of RAD-TTS / "One TTS Alignment To Rule Them All" (Badlani et al.,
2021) as FastPitch uses it: convolutional encodings of the phones (keys) and of the mel
frames (queries), soft attention of every frame over the phones from their negative squared
L2 distance, multiplied by a beta-binomial prior that favours the diagonal (fast to converge),
trained with the forward-sum loss (the probability of all monotonic alignments, computed by
torch's CTC loss with the phones as the label sequence) and a binarisation term that pulls
the soft attention towards the hard one. Monotonic alignment search (Glow-TTS, Kim et al.
2020) turns the soft attention into the most likely monotonic path: each phone gets at least
one frame, the frames of an utterance are covered once, and the frames per phone are the
durations the length regulator and the duration predictor train on.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

# log-probability of padded phones: finite, since -inf makes the CTC loss's gradient NaN
MASKED = -1e4


def maximum_path(log_p: np.ndarray, text_lengths, mel_lengths) -> np.ndarray:
    """Monotonic alignment search: the durations of the best monotonic path through ``log_p``.

    log_p: (batch, phones, frames) log-likelihoods of each frame belonging to each phone.
    A path starts at (phone 0, frame 0), ends at (last phone, last frame) and at each frame
    either stays on its phone or moves to the next one; it maximises the sum of ``log_p``
    along it. Dynamic programme over the frames, vectorised over the batch and the phones.
    Returns (batch, phones) integer frames per phone (each >= 1 within its item's length,
    summing to its frame count; 0 beyond the item's phones)."""
    log_p = np.asarray(log_p, dtype=np.float64)
    batch, phones, frames = log_p.shape
    text_lengths = np.asarray(text_lengths, dtype=np.int64).reshape(batch)
    mel_lengths = np.asarray(mel_lengths, dtype=np.int64).reshape(batch)
    if (text_lengths < 1).any() or (mel_lengths < text_lengths).any():
        raise ValueError("every item needs at least one phone and at least as many frames as phones")
    position = np.arange(phones)[None, :]  # (1, phones)
    # phone x can be reached at frame j only if x <= j and the remaining phones fit into the remaining frames
    last_phone = (text_lengths - 1)[:, None]
    moved = np.zeros((batch, frames, phones), dtype=bool)  # frame j's phone came from phone - 1 at frame j - 1
    score = np.where(position == 0, log_p[:, :, 0], -np.inf)
    for j in range(1, frames):
        shifted = np.concatenate([np.full((batch, 1), -np.inf), score[:, :-1]], axis=1)
        moved[:, j] = shifted > score
        best = np.maximum(score, shifted)
        earliest = last_phone - (mel_lengths[:, None] - 1 - j)  # later frames must still reach the last phone
        valid = (position <= j) & (position >= earliest) & (position <= last_phone)
        score = np.where(valid, best + log_p[:, :, j], -np.inf)
    durations = np.zeros((batch, phones), dtype=np.int64)
    index = text_lengths - 1
    rows = np.arange(batch)
    for j in range(frames - 1, -1, -1):
        inside = j < mel_lengths
        np.add.at(durations, (rows[inside], index[inside]), 1)
        step = inside & (index > 0) & moved[rows, j, np.maximum(index, 0)]
        index = index - step
    return durations


def durations_to_path(durations: Tensor, frames: int) -> Tensor:
    """(batch, phones) frames per phone -> (batch, frames, phones) one-hot hard alignment."""
    ends = durations.cumsum(1)
    steps = torch.arange(frames, device=durations.device)
    index = (steps[None, :, None] >= ends[:, None, :]).sum(2)  # (batch, frames); == phones beyond the end
    path = F.one_hot(index.clamp_max(durations.shape[1]), durations.shape[1] + 1)[..., :-1]
    return path.float()


@lru_cache(maxsize=4096)
def _prior(phones: int, frames: int, scaling: float) -> np.ndarray:
    from scipy.stats import betabinom

    k = np.arange(phones)
    a = scaling * np.arange(1, frames + 1)
    b = scaling * np.arange(frames, 0, -1)
    return betabinom(phones - 1, a[:, None], b[:, None]).pmf(k[None, :]).astype(np.float32)  # (frames, phones)


def beta_binomial_prior(text_lengths, mel_lengths, phones: int, frames: int, scaling: float = 1.0) -> Tensor:
    """(batch, frames, phones) log of the beta-binomial diagonal prior (FastPitch's), 0 on padding."""
    out = np.zeros((len(text_lengths), frames, phones), dtype=np.float32)
    for row, (n, m) in enumerate(zip(np.asarray(text_lengths).tolist(), np.asarray(mel_lengths).tolist())):
        out[row, :m, :n] = np.log(np.maximum(_prior(int(n), int(m), scaling), 1e-8))
    return torch.from_numpy(out)


class AlignmentEncoder(nn.Module):
    """Soft attention of mel frames over phones from the negative squared L2 distance of their encodings."""

    def __init__(self, text_dim: int, n_mels: int = 80, dim: int = 80, temperature: float = 0.0005):
        super().__init__()
        self.temperature = temperature
        self.keys = nn.Sequential(
            nn.Conv1d(text_dim, 2 * text_dim, 3, padding=1), nn.ReLU(), nn.Conv1d(2 * text_dim, dim, 1)
        )
        self.queries = nn.Sequential(
            nn.Conv1d(n_mels, 2 * n_mels, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(2 * n_mels, n_mels, 1),
            nn.ReLU(),
            nn.Conv1d(n_mels, dim, 1),
        )

    def forward(self, text: Tensor, mels: Tensor, text_mask: Tensor, log_prior: Tensor | None = None) -> Tensor:
        """text: (batch, phones, text_dim) embeddings; mels: (batch, frames, n_mels); text_mask: (batch, phones) bool.

        Returns (batch, frames, phones) log attention (log-softmax over the phones, plus the prior;
        ``MASKED`` on padded phones)."""
        keys = self.keys(text.transpose(1, 2)).transpose(1, 2)  # (batch, phones, dim)
        queries = self.queries(mels.transpose(1, 2)).transpose(1, 2)  # (batch, frames, dim)
        distance = (
            queries.pow(2).sum(2, keepdim=True) + keys.pow(2).sum(2)[:, None, :] - 2 * queries @ keys.transpose(1, 2)
        )
        scores = -self.temperature * distance.clamp_min(0)
        scores = scores.masked_fill(~text_mask[:, None, :], MASKED)
        log_attention = F.log_softmax(scores, dim=2)
        if log_prior is not None:
            log_attention = log_attention + log_prior
        return log_attention.masked_fill(~text_mask[:, None, :], MASKED)


def forward_sum_loss(log_attention: Tensor, text_lengths: Tensor, mel_lengths: Tensor, blank: float = -1.0) -> Tensor:
    """Negative log-probability of all monotonic alignments (CTC with the phones 1..N as labels, per phone)."""
    batch, frames, phones = log_attention.shape
    padded = F.pad(log_attention, (1, 0), value=blank)  # column 0: the CTC blank
    text_mask = torch.arange(phones + 1, device=padded.device)[None, :] <= text_lengths[:, None]  # blank + phones
    padded = padded.masked_fill(~text_mask[:, None, :], MASKED)
    log_probs = F.log_softmax(padded, dim=2).transpose(0, 1)  # (frames, batch, phones + 1)
    targets = torch.arange(1, phones + 1, device=padded.device)[None].expand(batch, -1)
    return F.ctc_loss(log_probs, targets, mel_lengths, text_lengths, blank=0, reduction="mean", zero_infinity=True)


def binarisation_loss(hard: Tensor, log_attention: Tensor) -> Tensor:
    """Mean negative log soft attention (renormalised over the phones) on the hard path: pulls the soft
    alignment onto the one monotonic alignment search chose."""
    on_path = hard > 0
    log_soft = F.log_softmax(log_attention, dim=2)
    return -log_soft[on_path].clamp_min(-27.6).sum() / on_path.sum().clamp_min(1)  # log(1e-12)


def phone_averages(values: Tensor, weights: Tensor, durations: Tensor) -> tuple[Tensor, Tensor]:
    """Per-phone sums of ``values * weights`` and of ``weights`` over each phone's frames.

    values, weights: (batch, frames); durations: (batch, phones). Frames beyond the durations are ignored."""
    batch, phones = durations.shape
    frames = values.shape[1]
    ends = durations.cumsum(1)
    steps = torch.arange(frames, device=values.device)
    index = (steps[None, :, None] >= ends[:, None, :]).sum(2)  # (batch, frames), == phones past the end
    inside = index < phones
    index = index.clamp_max(phones - 1)
    weights = weights * inside
    sums = torch.zeros(batch, phones, device=values.device).scatter_add_(1, index, values * weights)
    counts = torch.zeros(batch, phones, device=values.device).scatter_add_(1, index, weights)
    return sums, counts


def boundary_agreement(pairs, hop_ms: float = 12.5) -> dict[str, float]:
    """How far learned phone boundaries lie from true ones, over utterances of the same phones.

    pairs: (learned durations, true durations) per utterance, frames per phone. The boundaries
    are the phones' end frames except the last (which is the utterance's end in both). Returns
    the mean absolute error in frames and ms, and the share of boundaries within 1 and 2 frames."""
    errors = []
    for learned, true in pairs:
        learned, true = np.asarray(learned), np.asarray(true)
        if learned.shape != true.shape:
            raise ValueError("learned and true durations must cover the same phones")
        errors.append(np.abs(np.cumsum(learned)[:-1] - np.cumsum(true)[:-1]))
    error = np.concatenate(errors) if errors else np.zeros(0)
    if not len(error):
        return {"boundaries": 0, "mean_frames": 0.0, "mean_ms": 0.0, "within_1": 0.0, "within_2": 0.0}
    return {
        "boundaries": int(len(error)),
        "mean_frames": float(error.mean()),
        "mean_ms": float(error.mean() * hop_ms),
        "median_frames": float(np.median(error)),
        "within_1": float((error <= 1).mean() * 100),
        "within_2": float((error <= 2).mean() * 100),
    }
