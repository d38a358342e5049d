"""``tts train``: corpus -> speaker embeddings -> speaker flow -> Tacotron, resumable.

Stages that are expensive and deterministic are cached: utterance embeddings next to the
corpus, the fitted flow and the mel features in the run folder, so ``--resume`` goes
straight back to the acoustic model where ``last.pt`` left it.
"""

from __future__ import annotations

import json
import logging
import math
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dlcli.config import save_config, to_dict
from dlcli.console import console_is_quiet
from dlcli.errors import InputError, UsageError
from dlcli.files import locks_run_folder
from dlcli.train import Trainer, seed_everything
from dlcli.tts.config import TTSConfig
from dlcli.tts.corpus import read_corpus, read_voices
from dlcli.tts.data import BucketBatches, Example, log_mels
from dlcli.tts.flow import fit_flow, speaker_gaussians
from dlcli.tts.model import Tacotron, guided_attention_loss
from dlcli.tts.speakers import CACHE_NAME, embed_files, real_speaker_embeddings, speaker_means
from dlcli.tts.text import SYMBOLS, phonemise

log = logging.getLogger("dlcli.tts")
TASK = "tts"


def _load_waveforms(utterances, config: TTSConfig):
    from dlcli.audio import load_audio
    from dlcli.errors import AudioError

    kept, waveforms, problems = [], [], []
    limit = int(config.data.max_seconds * config.audio.sample_rate)
    for utterance in utterances:
        try:
            samples, _ = load_audio(utterance.audio, config.audio.sample_rate)
        except AudioError as error:
            problems.append(str(error))
            continue
        if len(samples) > limit:
            problems.append(f"{utterance.audio}: longer than data.max_seconds ({config.data.max_seconds:g} s)")
            continue
        kept.append(utterance)
        waveforms.append(samples)
    return kept, waveforms, problems


def prepare(corpus: Path, run_dir: Path, config: TTSConfig):
    """Everything the acoustic model trains on: examples, speakers, conditioning tables, flow."""
    utterances, problems = read_corpus(corpus)
    utterances, waveforms, audio_problems = _load_waveforms(utterances, config)
    problems += audio_problems
    for problem in problems[:5]:
        log.warning(f"skipped: {problem}")
    if len(problems) > 5:
        log.warning(f"skipped {len(problems)} utterances in all")
    if len(utterances) < 2:
        raise InputError("fewer than 2 usable utterances", path=corpus)
    cache = Path(corpus) / CACHE_NAME if Path(corpus).is_dir() else None
    embeddings = embed_files([u.audio for u in utterances], cache, quiet=console_is_quiet())
    speakers = [u.speaker for u in utterances]
    names, means = speaker_means(embeddings, speakers)

    flow_state, flow_stats = None, {}
    if config.model.variant == "proposed":
        flow_path = run_dir / "flow.pt"
        flow_data = embeddings
        if config.data.real_speakers:
            real = real_speaker_embeddings(
                Path(config.data.real_speakers), Path(run_dir) / "real-speaker-embeddings.npz"
            )
            flow_data = np.concatenate([embeddings, real])
            log.info(f"speaker flow: {len(embeddings)} corpus + {len(real)} real utterance embeddings")
        if flow_path.is_file():
            stored = torch.load(flow_path, weights_only=True)
            from dlcli.tts.flow import build_flow

            flow = build_flow(config.flow)
            flow.load_state_dict(stored["state_dict"])
            flow.eval()
            flow_stats = stored["stats"]
        else:
            flow, flow_stats = fit_flow(flow_data, config.flow, quiet=console_is_quiet())
            from dlcli.train.checkpoint import save_checkpoint

            save_checkpoint({"state_dict": flow.state_dict(), "stats": flow_stats}, flow_path)
        table_mean, table_sigma = speaker_gaussians(flow, embeddings, speakers, names, config.flow.min_sigma)
        flow_state = {k: v.clone() for k, v in flow.state_dict().items()}
    else:
        table_mean, table_sigma = torch.from_numpy(means), torch.zeros(len(names), means.shape[1])

    mels = log_mels(waveforms, config.audio)
    phonemes = [phonemise(u.text) for u in utterances]
    index = {name: i for i, name in enumerate(names)}
    examples = [
        Example(torch.tensor(p.ids), mel, index[u.speaker], i)
        for i, (u, p, mel) in enumerate(zip(utterances, phonemes, mels))
    ]
    rng = random.Random(config.train.seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    held = max(1, round(len(examples) * config.data.validation_fraction)) if len(examples) >= 4 else 0
    val_ids, train_ids = set(order[:held]), order[held:]
    stacked = torch.cat([examples[i].mel for i in train_ids])
    mel_mean, mel_std = stacked.mean(0), stacked.std(0).clamp_min(1e-3)
    for example in examples:
        example.mel = (example.mel - mel_mean) / mel_std
    train = [examples[i] for i in train_ids]
    val = [examples[i] for i in sorted(val_ids)]
    return {
        "utterances": utterances,
        "train": train,
        "val": val,
        "names": names,
        "embeddings": embeddings,
        "speaker_embeddings": torch.from_numpy(means),
        "table_mean": table_mean,
        "table_sigma": table_sigma,
        "mel_mean": mel_mean,
        "mel_std": mel_std,
        "flow_state": flow_state,
        "flow_stats": flow_stats,
        "voices": {name: to_dict(v) for name, v in read_voices(corpus).items() if name in index},
        "counts": {name: speakers.count(name) for name in names},
    }


def masked_l1(prediction, target, lengths):
    mask = (torch.arange(target.shape[1], device=target.device)[None] < lengths[:, None]).unsqueeze(2)
    return ((prediction - target).abs() * mask).sum() / (mask.sum() * target.shape[2]).clamp_min(1)


def make_step(config: TTSConfig):
    r = config.model.reduction
    weights = config.loss

    def step(model, batch, context):
        core = context.model  # the bare Tacotron (under DDP, ``model`` is the wrapper)
        vectors = core.speaker_vectors(batch["speakers"], sample=True)
        reference = batch["mels"] if core.config.variant == "baseline" else None
        mel, post, stop_logits, alignments, kl = model(
            batch["symbols"], batch["text_lengths"], batch["mels"], vectors, reference
        )
        target, lengths = batch["mels"], batch["mel_lengths"]
        mel_loss = masked_l1(mel.float(), target, lengths)
        post_loss = masked_l1(post.float(), target, lengths)
        steps = (lengths + r - 1) // r
        stop_mask = torch.arange(stop_logits.shape[1], device=target.device)[None] < steps[:, None] + 2
        stop_loss = F.binary_cross_entropy_with_logits(
            stop_logits.float(), batch["stop"], pos_weight=torch.tensor(weights.stop_pos_weight), reduction="none"
        )
        stop_loss = (stop_loss * stop_mask).sum() / stop_mask.sum()
        attention_loss = guided_attention_loss(
            alignments.float(), batch["text_lengths"], steps, weights.guided_attention_g
        )
        kl_loss = kl.float().mean()
        loss = (
            mel_loss
            + post_loss
            + weights.stop * stop_loss
            + weights.guided_attention * attention_loss
            + weights.kl * kl_loss
        )
        metrics = {"mel": post_loss.detach(), "stop": stop_loss.detach(), "attention": attention_loss.detach()}
        if core.config.variant == "proposed":
            metrics["kl"] = kl_loss.detach()
        return loss, metrics

    return step


def make_plots(config: TTSConfig, run_dir: Path, val_examples: list[Example], names: list[str]):
    """After the engine's teacher-forced validation: free-running synthesis of a few utterances, plotted to PNG."""
    from dlcli.tts.plots import plot_validation

    def plots(model, context):
        core, index = context.model, context.validation
        for i, example in enumerate(val_examples[: config.data.plots]):
            symbols = example.symbols[None].to(core.mel_mean.device)
            vectors = core.speaker_vectors(torch.tensor([example.speaker], device=symbols.device), sample=False)
            reference = example.mel[None].to(symbols.device) if core.config.variant == "baseline" else None
            mel, frames, alignment = core.infer(symbols, torch.tensor([len(example.symbols)]), vectors, reference)
            plot_validation(
                run_dir / "plots" / f"validation-{index:04d}-{i}.png",
                target=example.mel.numpy(),
                predicted=mel[0, : int(frames[0])].float().cpu().numpy(),
                alignment=alignment[0].float().cpu().numpy(),
                title=f"{names[example.speaker]}  (validation {index})",
            )

    return plots


@locks_run_folder("run_dir", "the training run")
def train_tts(corpus: Path, run_dir: Path, config: TTSConfig, *, resume: bool = False, overwrite: bool = False):
    """Train the acoustic model (and, for the proposed variant, the speaker flow first)."""
    run_dir = Path(run_dir)
    if (run_dir / "last.pt").exists() and not (resume or overwrite):
        raise UsageError(
            f"{run_dir} already holds a training run; add --resume to continue it, or choose another --out"
        )
    if overwrite and not resume and (run_dir / "flow.pt").exists():
        (run_dir / "flow.pt").unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = config.train.seed  # the root --seed is already in it (one seed rule: dlcli.runtime)
    config.train.seed = seed
    config.train.batch_size = 1  # the engine's unit is one length bucket of data.batch_size utterances
    seed_everything(seed)
    save_config(config, run_dir / "config.yaml")
    prepared = prepare(corpus, run_dir, config)
    config.model.symbols = len(SYMBOLS)
    config.model.speakers = len(prepared["names"])
    model = Tacotron(config.model)
    model.speaker_mean.copy_(prepared["table_mean"])
    model.speaker_sigma.copy_(prepared["table_sigma"])
    model.mel_mean.copy_(prepared["mel_mean"])
    model.mel_std.copy_(prepared["mel_std"])
    train_data = BucketBatches(prepared["train"], config.data.batch_size, config.model.reduction, seed)
    val_data = (
        BucketBatches(prepared["val"], config.data.batch_size, config.model.reduction, shuffle=False)
        if prepared["val"]
        else None
    )
    extra = {
        "speakers": prepared["names"],
        "speaker_embeddings": prepared["speaker_embeddings"],
        "speaker_counts": [prepared["counts"][n] for n in prepared["names"]],
        "voices": json.dumps(prepared["voices"]),
        "flow_state": prepared["flow_state"],
        "flow_config": to_dict(config.flow),
        "flow_stats": prepared["flow_stats"],
        "corpus": str(corpus),
        "symbols": list(SYMBOLS),
    }
    if config.model.variant == "baseline":  # synthesis needs reference spectrograms: keep a few real ones
        extra["reference_mels"] = [e.mel.half() for e in prepared["train"][:8]]
    trainer = Trainer(
        task=TASK,
        model=model,
        step_fn=make_step(config),
        config=config.train,
        run_dir=run_dir,
        after_evaluate=make_plots(config, run_dir, prepared["val"], prepared["names"]),
        collate_fn=BucketBatches.unwrap,
        model_config=to_dict(config.model),
        run_config=config,
        labels=prepared["names"],
        features=to_dict(config.audio),
        extra=extra,
    )
    log.info(
        f"{len(prepared['train'])} training and {len(prepared['val'])} validation utterances, "
        f"{len(prepared['names'])} speakers, {math.ceil(len(prepared['train']) / config.data.batch_size)} steps per epoch"
    )
    return trainer.fit(train_data, val_data, resume=resume, overwrite=overwrite)
