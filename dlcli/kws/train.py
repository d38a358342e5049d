"""Training a keyword spotter on a Speech Commands folder with the shared engine.

Clips are decoded once into an int16 tensor; the engine hands whole batches to the step
function, which augments them on the training device (the paper's distortions plus
background noise) before the forward pass. The paper's offline mode instead appends N
distorted copies of every training clip before training starts.
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
from dlcli.kws.model import build_model, count_parameters
from dlcli.train import Trainer, load_checkpoint, seed_everything
from dlcli.train.data import TensorBatchDataset

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


@locks_run_folder("out", "the training run")
def train(
    data_dir: str | Path,
    out: str | Path,
    config: KwsConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    init: str | Path | None = None,
):
    """Train on ``data_dir`` into the run folder ``out``; returns the engine's FitResult."""
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
    val_clips = torch.from_numpy(val_split.clips)
    if model_config.frontend == "embedding":  # a frozen front end: embed every clip once (cached), train the head
        from dlcli.kws.embedding import cached_embeddings

        if online:
            log.warning("the embedding front end computes features once: online augmentation is not applied")
        if config.perturb.is_reference:
            clips = cached_embeddings(clips, show=show, what="embedding training clips")
        else:  # originals and copies apart, so the originals' cached blocks serve every variant
            from dlcli.kws.perturb import embed_copies

            originals, copies = clips[: len(train_split.targets)], clips[len(train_split.targets) :]
            parts = [cached_embeddings(originals, show=show, what="embedding training clips")]
            if len(copies):  # SpecAugment masks the mel bands of the copies it is for
                parts.append(embed_copies(copies, augmenter, data_seed, show=show))
            clips = torch.cat(parts)
        val_clips = cached_embeddings(val_clips, show=show, what="embedding validation clips")
        online = False
    elif config.perturb.specaugment:
        from dlcli.kws.perturb import add_specaugment

        if not add_specaugment(model, config.perturb):
            log.warning("specaugment needs a log-mel or embedding front end: not applied to the waveform model")
    mixup_alpha = config.perturb.mixup

    def step(model, batch):
        waveforms, target = batch
        waveforms = waveforms.float() * INT16_SCALE if waveforms.dtype == torch.int16 else waveforms  # or embeddings
        if model.training and online:
            if augmenter.noise is not None and augmenter.noise.device != waveforms.device:
                augmenter.to(waveforms.device)
            with torch.autocast(waveforms.device.type, enabled=False):  # STFTs stay in fp32
                waveforms = augmenter(waveforms)
        if model.training and mixup_alpha > 0:
            from dlcli.kws.perturb import mixup, mixup_loss

            waveforms, order, weight = mixup(waveforms, mixup_alpha)
            logits = model(waveforms)
            loss = mixup_loss(logits.float(), target, order, weight)
        else:
            logits = model(waveforms)
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
        collate_fn=TensorBatchDataset.collate,
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
    val_data = TensorBatchDataset(val_clips, torch.from_numpy(val_split.targets))
    return trainer.fit(
        TensorBatchDataset(clips, targets),
        val_data if len(val_split.targets) else None,
        resume=resume,
        overwrite=overwrite,
    )
