"""The speaker flow: GE2E embeddings <-> an isotropic Gaussian, and each speaker's Gaussian in it.

The encoder's embeddings are unit vectors with ReLU zeros (about half the entries), a
set without a density; uniform-like noise ("dequantisation", as Glow does for pixels)
is added while fitting so the flow models a smoothed density. Each corpus speaker
becomes a Gaussian N(mu_s, diag sigma_s^2) of its utterances' latents: the acoustic model
is conditioned on draws from it in training and at synthesis (dissertation 7.4.1), new
voices are draws from N(0, I), and two voices mix by interpolating latents.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dlcli.nn.flows import Glow1d

log = logging.getLogger("dlcli.tts")


@dataclass
class FlowConfig:
    channels: int = 32  # the 256-d embedding read as (channels, length) for the 1-D convolutions
    steps: int = 8  # actnorm + 1x1 conv + coupling blocks
    hidden: int = 64  # coupling network width
    epochs: int = 300  # passes over the embeddings
    batch_size: int = 256
    lr: float = 1e-3
    noise: float = 0.01  # dequantisation noise (std) added to embeddings while fitting
    min_sigma: float = 0.05  # floor of a speaker's latent spread
    seed: int = 0


def build_flow(config: FlowConfig, features: int = 256) -> Glow1d:
    if features % config.channels:
        raise ValueError(f"flow channels {config.channels} must divide the embedding size {features}")
    return Glow1d(config.channels, features // config.channels, config.steps, config.hidden)


def fit_flow(embeddings: np.ndarray, config: FlowConfig, *, quiet: bool = False) -> tuple[Glow1d, dict]:
    """Maximum-likelihood fit of the flow to utterance embeddings; returns it and its final bits/dim."""
    from dlcli.console import progress

    generator = torch.Generator().manual_seed(config.seed)
    data = torch.from_numpy(np.asarray(embeddings, np.float32))
    flow = build_flow(config, data.shape[1])
    optimizer = torch.optim.Adam(flow.parameters(), lr=config.lr)
    flow.train()
    with torch.no_grad():  # data-dependent actnorm initialisation on the whole set
        flow(data + config.noise * torch.randn(data.shape, generator=generator))
    steps_per_epoch = max(1, int(np.ceil(len(data) / config.batch_size)))
    total = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
    nll = float("nan")
    with progress(disable=quiet) as bar:
        task = bar.add_task("speaker flow", total=config.epochs, info="")
        for _ in range(config.epochs):
            order = torch.randperm(len(data), generator=generator)
            for start in range(0, len(data), config.batch_size):
                batch = data[order[start : start + config.batch_size]]
                batch = batch + config.noise * torch.randn(batch.shape, generator=generator)
                loss = -flow.log_prob(batch).mean() / data.shape[1]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(flow.parameters(), 5.0)
                optimizer.step()
                schedule.step()
                nll = float(loss.detach())
            bar.update(task, advance=1, info=f"nll/dim {nll:.3f}")
    flow.eval()
    with torch.no_grad():
        z, _ = flow(data)
    stats = {
        "flow_nll_per_dim": nll,
        "latent_mean_abs": float(z.mean(0).abs().mean()),
        "latent_std": float(z.std(0).mean()),
    }
    log.info(
        f"speaker flow: nll/dim {nll:.3f}, latent mean |{stats['latent_mean_abs']:.3f}|, std {stats['latent_std']:.3f}"
    )
    return flow, stats


@torch.no_grad()
def speaker_gaussians(
    flow: Glow1d, embeddings: np.ndarray, speakers: list[str], names: list[str], min_sigma: float
) -> tuple[Tensor, Tensor]:
    """Per speaker (in ``names`` order): mean and spread (floored) of its utterances' latents."""
    z, _ = flow(torch.from_numpy(np.asarray(embeddings, np.float32)))
    index = torch.tensor([names.index(s) for s in speakers])
    means = torch.zeros(len(names), z.shape[1])
    sigmas = torch.zeros(len(names), z.shape[1])
    for i in range(len(names)):
        rows = z[index == i]
        means[i] = rows.mean(0)
        sigmas[i] = rows.std(0, unbiased=True) if len(rows) > 1 else torch.full_like(rows[0], min_sigma)
    return means, sigmas.nan_to_num(min_sigma).clamp(min_sigma, 1.0)


@torch.no_grad()
def latents_to_embeddings(flow: Glow1d, z: Tensor) -> Tensor:
    """Invert latents to the encoder's space: clipped to its non-negative orthant and renormalised."""
    x = flow.inverse(z).clamp_min(0)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-9)
