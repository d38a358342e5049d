"""Training a keyword spotter on a Speech Commands folder with the shared engine.

Clips are decoded once into an int16 tensor (and kept in the clip cache for the next run).
Online augmentation (the paper's distortions plus background noise) is done on the training
device: on a CPU by the training dataset, as the engine's prefetch thread fetches each batch,
so it overlaps the steps; on a GPU by the step function before the forward pass. Models with a
log-mel front end get the pitch shift as a warp of their spectrogram (``augment.pitch_method``).
The paper's offline mode instead appends N distorted copies of every training clip before
training starts.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dlcli.config import save_config, to_dict
from dlcli.console import console_is_quiet
from dlcli.errors import InputError, UsageError
from dlcli.files import locks_run_folder
from dlcli.kws.augment import Augmenter, distort
from dlcli.kws.config import KwsConfig
from dlcli.kws.data import (
    CLIP_SAMPLES,
    SAMPLE_RATE,
    SILENCE,
    UNKNOWN,
    build_split,
    get_task,
    load_background,
    scan_corpus,
)
from dlcli.kws.model import build_model, count_parameters, has_logmel_frontend, pitch_warp
from dlcli.train import Trainer, load_checkpoint, seed_everything
from dlcli.train.data import TensorBatchDataset
from dlcli.train.device import choose_device

log = logging.getLogger("dlcli.kws")

TASK = "kws"
INT16_SCALE = 1.0 / 32768.0


def checkpoint_features() -> dict:
    """What inference needs to prepare audio exactly as training did."""
    return {"input": "waveform", "sample_rate": SAMPLE_RATE, "clip_samples": CLIP_SAMPLES, "normalize": "peak"}


def _report_failures(failures, what: str) -> None:
    for path, reason in failures[:10]:
        log.warning(f"skipped {path}: {reason}")
    if len(failures) > 10:
        log.warning(f"... and {len(failures) - 10} more unreadable {what} files")


def _background_noise(config: KwsConfig, corpus_background: list[Path]) -> list[np.ndarray]:
    from dlcli.audio import list_audio_files

    if config.data.background:
        folder = Path(config.data.background)
        if not folder.exists():
            raise InputError("no such background-noise folder", path=folder)
        paths = list_audio_files(folder)
        if not paths:
            raise InputError("no audio files in the background-noise folder", path=folder)
    else:
        paths = corpus_background
    return load_background(paths)


def offline_copies(clips: torch.Tensor, targets: torch.Tensor, augmenter: Augmenter, copies: int, seed: int):
    """The paper's offline augmentation: ``copies`` distorted versions of every clip, appended."""
    if copies == 0:
        return clips, targets
    state = torch.get_rng_state()
    torch.manual_seed(seed + 7)
    made = []
    for _ in range(copies):
        for start in range(0, len(clips), 256):
            batch = clips[start : start + 256].float() * INT16_SCALE
            distorted = augmenter(batch) if augmenter.noise is not None else distort(batch, augmenter.config)
            peak = distorted.abs().amax(-1, keepdim=True).clamp_min(1e-8)
            made.append((distorted / peak * 32767).round().to(torch.int16))
    torch.set_rng_state(state)
    return torch.cat([clips, *made]), torch.cat([targets] + [targets] * copies)


def _initial_weights(model, path: str | Path, labels: list[str]) -> None:
    """Start from another kws checkpoint (fine-tuning); a classifier for other labels is left fresh."""
    checkpoint = load_checkpoint(path, TASK)
    state = checkpoint["state_dict"]
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if checkpoint.get("labels") != labels:
        usable = {k: v for k, v in usable.items() if not k.startswith("head.2.")}
    missing = sorted(set(own) - set(usable))
    if len(usable) < len(own) // 2:
        raise UsageError(f"{path}: its model does not match this configuration (only {len(usable)} tensors fit)")
    model.load_state_dict({**own, **usable})
    log.info(
        f"initialised from {path}" + (f" ({len(missing)} tensors left fresh: {', '.join(missing)})" if missing else "")
    )


def _pitch_by_warp(config: KwsConfig, model) -> bool:
    """Whether online augmentation shifts pitch by warping the model's spectrogram (see augment.py)."""
    method = config.augment.pitch_method
    if config.augment.pitch_octaves_std <= 0 or method == "vocoder":
        return False
    if has_logmel_frontend(model):
        return True
    if method == "warp":
        raise UsageError("augment.pitch_method warp needs a model with a log-mel front end (use vocoder or auto)")
    return False


@locks_run_folder("out", "the training run")
def train(
    data_dir: str | Path,
    out: str | Path,
    config: KwsConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    init: str | Path | None = None,
    negatives=None,
    positive_shifts: int = 0,
    max_shift_seconds: float = 0.12,
):
    """Train on ``data_dir`` into the run folder ``out``; returns the engine's FitResult.

    ``negatives`` (a ``kws.negatives.BankNegatives``, embedding front end only): windows of hours of
    keyword-free speech embeddings that join the training clips as heavily weighted ``_unknown_``
    examples, and some of the validation clips. ``positive_shifts``: that many copies of every keyword
    clip moved by up to ``max_shift_seconds`` (a task with keywords and an unknown class).
    """
    out = Path(out)
    seed = config.train.seed  # the root --seed is already in it (one seed rule: dlcli.runtime)
    config.train.seed = seed
    seed_everything(seed)
    data_seed = seed if config.data.seed is None else config.data.seed  # subset and copies: --data-seed
    corpus = scan_corpus(
        data_dir, validation_percent=config.data.validation_percent, testing_percent=config.data.testing_percent
    )
    task = get_task(config.data.task)
    labels = task.labels(corpus.words)
    absent = [w for w in (task.keywords or ()) if w not in corpus.words]
    if task.keywords and len(absent) == len(task.keywords):
        raise InputError(f"none of the words of task '{task.name}' has a folder here", path=data_dir)
    if absent:
        log.warning(f"{data_dir}: no clips of {', '.join(absent)} (task '{task.name}' expects them)")
    show = not console_is_quiet()
    noises = _background_noise(config, corpus.background)
    if task.silence and not noises:
        log.warning(f"{data_dir}: no background noise; the silence class is made of quiet white noise")
    train_split = build_split(
        corpus,
        task,
        labels,
        "training",
        noises=noises,
        max_clips=config.data.max_train_clips,
        seed=data_seed,
        show=show,
        cache=config.data.clip_cache,
    )
    val_split = build_split(
        corpus,
        task,
        labels,
        "validation",
        noises=noises,
        max_clips=config.data.max_validation_clips,
        seed=data_seed,
        show=show,
        cache=config.data.clip_cache,
    )
    for split in (train_split, val_split):
        _report_failures(split.failures, "training")
    if len(train_split.targets) == 0:
        raise InputError(f"no training clips for task '{task.name}' (split from {corpus.split_source})", path=data_dir)
    counts = np.bincount(train_split.targets, minlength=len(labels))
    if (counts == 0).any():
        empty = [labels[i] for i in np.flatnonzero(counts == 0)]
        log.warning(f"no training clips for {', '.join(empty)}")

    model_config = dataclasses.replace(config.model, classes=len(labels))
    config.model = model_config
    model = build_model(model_config)
    if init is not None:
        _initial_weights(model, init, labels)
    noise = torch.from_numpy(np.concatenate(noises)) if noises else None
    augmenter = Augmenter(config.augment, noise)
    clips, targets = torch.from_numpy(train_split.clips), torch.from_numpy(train_split.targets)
    if not config.perturb.is_reference:  # named distortions (dlcli.kws.perturb) instead of the reference's
        from dlcli.kws.perturb import Perturber, perturbed_copies

        augmenter = Perturber(config.perturb, config.augment, noise, seed=data_seed)
    if config.augment.mode == "offline" and config.perturb.is_reference:
        clips, targets = offline_copies(clips, targets, augmenter, config.augment.copies, data_seed)
    elif config.augment.mode == "offline":
        clips, targets = perturbed_copies(clips, targets, augmenter, config.augment.copies, data_seed)
    online = config.augment.mode == "online"
    perturbed_end = len(targets)  # originals, then their perturbed copies; time-shifted keyword copies after them
    if positive_shifts:
        # a head trained on aligned clips learns the keyword at the clip's exact alignment only; a stream meets
        # it anywhere between two embeddings (80 ms apart): time-shifted copies of the keyword clips
        from dlcli.kws.negatives import shifted_copies

        keyword = ~np.isin(targets.numpy(), [labels.index(x) for x in (UNKNOWN, SILENCE) if x in labels])
        shift = int(max_shift_seconds * SAMPLE_RATE)
        moved = shifted_copies(clips.numpy()[keyword], positive_shifts, shift, np.random.default_rng(seed + 11))
        clips = torch.cat([clips, torch.from_numpy(moved)])
        targets = torch.cat([targets, targets[torch.from_numpy(keyword)].repeat(positive_shifts)])
    val_clips = torch.from_numpy(val_split.clips)
    if model_config.frontend == "embedding":  # a frozen front end: embed every clip once (cached), train the head
        from dlcli.kws.embedding import cached_embeddings

        if online:
            log.warning("the embedding front end computes features once: online augmentation is not applied")
        if config.perturb.is_reference:
            clips = cached_embeddings(clips, show=show, what="embedding training clips")
        else:  # originals and copies apart, so the originals' cached blocks serve every variant
            from dlcli.kws.perturb import embed_copies

            originals, copies = clips[: len(train_split.targets)], clips[len(train_split.targets) : perturbed_end]
            parts = [cached_embeddings(originals, show=show, what="embedding training clips")]
            if len(copies):  # SpecAugment masks the mel bands of the copies it is for
                parts.append(embed_copies(copies, augmenter, data_seed, show=show))
            if perturbed_end < len(clips):
                parts.append(cached_embeddings(clips[perturbed_end:], show=show, what="embedding shifted copies"))
            clips = torch.cat(parts)
        val_clips = cached_embeddings(val_clips, show=show, what="embedding validation clips")
        online = False
    elif config.perturb.specaugment:
        from dlcli.kws.perturb import add_specaugment

        if not add_specaugment(model, config.perturb):
            log.warning("specaugment needs a log-mel or embedding front end: not applied to the waveform model")
    mixup_alpha = config.perturb.mixup
    val_targets = torch.from_numpy(val_split.targets)
    train_data = TensorBatchDataset(clips, targets)
    ramp = None
    if negatives is not None:
        from dlcli.kws.negatives import BankMixDataset

        if model_config.frontend != "embedding" or not task.unknown:
            raise UsageError("negative speech banks train the embedding front end's head of a task with _unknown_")
        unknown = labels.index(UNKNOWN)
        train_data = BankMixDataset(clips, targets, negatives, clips.shape[1], unknown)
        held_out = torch.from_numpy(
            negatives.embeddings[negatives.validation_starts[:, None] + np.arange(clips.shape[1])]
        )
        val_clips = torch.cat([val_clips, held_out.float()])
        val_targets = torch.cat([val_targets, torch.full((len(held_out),), unknown, dtype=val_targets.dtype)])
        steps = config.train.epochs * -(-len(train_data) // config.train.batch_size)
        ramp = {"step": 0, "steps": max(1, steps // 3), "weight": float(negatives.weight)}
        log.info(
            f"negative speech: {len(negatives.train_starts):,} bank windows (weight {negatives.weight:g}), "
            f"{0 if negatives.hard_starts is None else len(negatives.hard_starts):,} hard ones, "
            f"{len(held_out):,} held out for validation; clips repeated {train_data.repeats}x"
        )

    reference = type(augmenter) is Augmenter  # the named distortions (Perturber) stay in the step, as they were
    warp = online and reference and _pitch_by_warp(config, model)
    # on a CPU the training dataset augments each batch as the prefetch thread fetches it
    augment_in_data = online and reference and choose_device(config.train.device).type == "cpu"
    if augment_in_data:
        from dlcli.kws.batches import AugmentedBatches

        train_data = AugmentedBatches(clips, targets, augmenter, seed=seed, warp=warp)

    def step(model, batch):
        # a third item, when there is one: the clips' pitch factors (drawn by the data path) or, with a negative
        # speech bank (the embedding front end, never augmented online), each example's loss weight
        waveforms, target, *extra = batch
        pitch = extra if warp else []
        weight = extra if negatives is not None else []
        waveforms = waveforms.float() * INT16_SCALE if waveforms.dtype == torch.int16 else waveforms  # or embeddings
        if model.training and online and not augment_in_data:
            if augmenter.noise is not None and augmenter.noise.device != waveforms.device:
                augmenter.to(waveforms.device)
            with torch.autocast(waveforms.device.type, enabled=False):  # STFTs stay in fp32
                if warp:
                    waveforms, factors = augmenter.with_pitch_factors(waveforms)
                    pitch = [factors]
                else:
                    waveforms = augmenter(waveforms)
        mixing = model.training and mixup_alpha > 0
        if mixing:
            from dlcli.kws.perturb import mixup, mixup_loss

            waveforms, order, share = mixup(waveforms, mixup_alpha)
        with pitch_warp(model, pitch[0] if pitch and model.training else None):
            logits = model(waveforms)
        if mixing:
            loss = mixup_loss(logits.float(), target, order, share)
        elif weight and model.training:  # bank windows: openWakeWord's false-positive penalty, ramped up from 1
            progress = min(1.0, ramp["step"] / ramp["steps"])
            ramp["step"] += 1
            scale = 1 + (weight[0] - 1) * progress
            loss = (F.cross_entropy(logits.float(), target, reduction="none") * scale).mean()
        else:
            loss = F.cross_entropy(logits.float(), target)
        accuracy = (logits.argmax(-1) == target).float().mean()
        return loss, {"accuracy": accuracy}

    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    log.info(
        f"task {task.name}: {len(labels)} classes, {len(targets):,} training clips"
        f"{' (with offline copies)' if config.augment.mode == 'offline' else ''}, {len(val_split.targets):,} validation; "
        f"splits from {corpus.split_source}; model {count_parameters(model):,} parameters"
    )
    trainer = Trainer(
        task=TASK,
        model=model,
        step_fn=step,
        config=config.train,
        run_dir=out,
        collate_fn=TensorBatchDataset.collate,  # BankMixDataset's batches pass through the same way
        model_config=to_dict(model_config),
        run_config=config,
        labels=labels,
        features=checkpoint_features(),
        extra={
            "task": task.name,
            "unknown_label": UNKNOWN if task.unknown else None,
            "silence_label": SILENCE if task.silence else None,
            "data": str(Path(data_dir).resolve()),
            "split_source": corpus.split_source,
            "validation_percent": config.data.validation_percent,
            "testing_percent": config.data.testing_percent,
        },
    )
    val_data = TensorBatchDataset(val_clips, val_targets)
    return trainer.fit(
        train_data,
        val_data if len(val_targets) else None,
        resume=resume,
        overwrite=overwrite,
    )
