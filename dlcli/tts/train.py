"""``tts train``: corpus -> speaker embeddings -> speaker flow -> acoustic model (duration model or Tacotron), resumable.

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
from dlcli.tts.align import PHONES, VOICED
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


DURATION_SOURCES = ("auto", "given", "learned")


def _learns(utterance, mode: str) -> bool:
    """Whether an utterance's durations come from the aligner (rather than the corpus's alignment)."""
    return mode == "learned" or utterance.durations is None


def _duration_sources(utterances, corpus: Path, config: TTSConfig, run_dir: Path, problems: list[str]):
    """The utterances the duration model can use under ``data.durations`` (auto | given | learned).

    given: only those with a phone alignment at the configured hop; auto: those, and the rest with
    phones read from their text by the front end (durations learned); learned: every utterance,
    its durations learned (the corpus's phones kept where it has them, they are what was spoken)."""
    from dlcli.tts.corpus import read_layout

    mode = config.data.durations
    if mode not in DURATION_SOURCES:
        raise UsageError(f"data.durations must be one of {', '.join(DURATION_SOURCES)}, not {mode!r}")
    aligned = [u for u in utterances if u.phones is not None]
    if mode == "given" and not aligned:
        raise InputError(
            "no utterance has a phone alignment (the 4th metadata column) to train on with --durations given; "
            "learn them with --durations auto, or train the attention model with --arch tacotron",
            path=corpus,
        )
    if aligned and mode != "learned":
        layout = read_layout(corpus if Path(corpus).is_dir() else Path(corpus).parent)
        if (
            int(layout["hop_length"]) != config.audio.hop_length
            or int(layout["sample_rate"]) != config.audio.sample_rate
        ):
            raise InputError(
                f"the corpus's alignments count frames of {layout['hop_length']} samples at {layout['sample_rate']} "
                f"Hz, the model's features {config.audio.hop_length} at {config.audio.sample_rate} Hz",
                path=corpus,
            )
    if mode == "given":
        if len(aligned) < len(utterances):
            problems.append(
                f"{len(utterances) - len(aligned)} utterances without a phone alignment (not used with --durations given)"
            )
        return aligned
    missing = [u for u in utterances if u.phones is None]
    if missing:
        _front_end_phones(missing, Path(run_dir), problems)
    return [u for u in utterances if u.phones is not None]


def _front_end_phones(utterances, run_dir: Path, problems: list[str]) -> None:
    """Phones of utterances without alignments, read from their text by flite (the front end of synthesis,
    so training and synthesis share one phone set); cached in the run folder."""
    from concurrent.futures import ThreadPoolExecutor

    from dlcli.console import progress
    from dlcli.files import write_text_atomic
    from dlcli.tts.align import spoken_text, text_phones
    from dlcli.tts.text import normalise

    cache_path = run_dir / "phones.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    todo = sorted({u.text for u in utterances} - cache.keys())

    def read(text: str):
        words = spoken_text(normalise(text).tokens)
        if not words.strip(" ,.;:!?"):
            return text, "no words"
        try:
            return text, text_phones(words)
        except InputError as error:
            return text, str(error)

    if todo:
        log.info(f"reading {len(todo)} texts into phones with flite (utterances without alignments)")
        with ThreadPoolExecutor(max_workers=2) as pool, progress() as bar:
            task = bar.add_task("phones", total=len(todo), info="flite front end")
            for text, phones in pool.map(read, todo):
                cache[text] = phones
                bar.update(task, advance=1)
        write_text_atomic(cache_path, json.dumps(cache))
    for utterance in utterances:
        phones = cache.get(utterance.text)
        if isinstance(phones, list) and phones:
            utterance.phones = phones
        else:
            problems.append(f"{utterance.audio}: its text could not be read into phones ({phones})")


def _embedding_subset(speakers: list[str], per_speaker: int, seed: int) -> list[int]:
    """Indices of at most ``per_speaker`` utterances of each speaker (all when 0)."""
    if per_speaker <= 0:
        return list(range(len(speakers)))
    rng = random.Random(seed)
    by_speaker: dict[str, list[int]] = {}
    for i, speaker in enumerate(speakers):
        by_speaker.setdefault(speaker, []).append(i)
    chosen = []
    for indices in by_speaker.values():
        chosen += sorted(rng.sample(indices, min(per_speaker, len(indices))))
    return sorted(chosen)


def _phone_examples(utterances, waveforms, mels, index, problems, mode: str = "given", hop: int = 200):
    """Examples with per-phone pitch, voicing and energy (un-normalised); for utterances whose durations are
    learned, the frame-level values those are averaged from once alignment search has chosen durations."""
    from dlcli.tts.align import frame_pitch, phone_ids, phone_prosody
    from dlcli.tts.data import PhoneExample

    examples = []
    for i, (u, wave, mel) in enumerate(zip(utterances, waveforms, mels)):
        ids = torch.tensor(phone_ids(u.phones))
        if _learns(u, mode):
            if len(ids) > len(mel):
                problems.append(f"{u.audio}: {len(ids)} phones in {len(mel)} frames")
                continue
            f0, periodicity = frame_pitch(torch.from_numpy(wave), hop)
            n = len(mel)
            f0 = F.pad(f0[:n], (0, max(0, n - len(f0))), value=1.0)
            periodic = F.pad((periodicity[:n] > 0.5).float(), (0, max(0, n - len(periodicity))))
            zeros = torch.zeros(len(ids))
            examples.append(
                PhoneExample(
                    ids,
                    zeros.long(),
                    zeros,
                    zeros,
                    zeros,
                    mel,
                    index[u.speaker],
                    i,
                    learned=True,
                    frame_pitch=torch.log(f0) * periodic,
                    periodic=periodic,
                    frame_energy=mel.mean(1),
                )
            )
            continue
        durations = list(u.durations)
        gap = len(mel) - sum(durations)
        if abs(gap) > 2:
            problems.append(f"{u.audio}: alignment covers {sum(durations)} frames, the audio {len(mel)}")
            continue
        durations[-1] = max(0, durations[-1] + gap)
        if sum(durations) != len(mel):
            problems.append(f"{u.audio}: alignment does not match the audio")
            continue
        log_f0, voiced, energy = phone_prosody(torch.from_numpy(wave), mel, u.phones, durations, hop)
        examples.append(PhoneExample(ids, torch.tensor(durations), log_f0, voiced, energy, mel, index[u.speaker], i))
    return examples


def prepare(corpus: Path, run_dir: Path, config: TTSConfig):
    """Everything the acoustic model trains on: examples, speakers, conditioning tables, flow."""
    utterances, problems = read_corpus(corpus)
    duration_model = config.architecture == "fastspeech"
    if duration_model:
        utterances = _duration_sources(utterances, corpus, config, run_dir, problems)
    utterances, waveforms, audio_problems = _load_waveforms(utterances, config)
    problems += audio_problems
    for problem in problems[:5]:
        log.warning(f"skipped: {problem}")
    if len(problems) > 5:
        log.warning(f"skipped {len(problems)} utterances in all")
    if len(utterances) < 2:
        raise InputError("fewer than 2 usable utterances", path=corpus)
    cache = Path(corpus) / CACHE_NAME if Path(corpus).is_dir() else None
    all_speakers = [u.speaker for u in utterances]
    subset = _embedding_subset(all_speakers, config.data.embeddings_per_speaker, config.train.seed)
    embeddings = embed_files([utterances[i].audio for i in subset], cache, quiet=console_is_quiet())
    speakers = [all_speakers[i] for i in subset]
    names, means = speaker_means(embeddings, speakers)
    variant = config.fastspeech.variant if duration_model else config.model.variant

    flow_state, flow_stats = None, {}
    if variant == "proposed":
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
    index = {name: i for i, name in enumerate(names)}
    if duration_model:
        examples = _phone_examples(
            utterances, waveforms, mels, index, problems, config.data.durations, config.audio.hop_length
        )
        if not examples:
            reason = problems[-1] if problems else "none left"
            raise InputError(f"no usable utterances for the duration model ({reason})", path=corpus)
    else:
        phonemes = [phonemise(u.text) for u in utterances]
        examples = [
            Example(torch.tensor(p.ids), mel, index[u.speaker], i)
            for i, (u, p, mel) in enumerate(zip(utterances, phonemes, mels))
        ]
    del waveforms
    rng = random.Random(config.train.seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    held = max(1, round(len(examples) * config.data.validation_fraction)) if len(examples) >= 4 else 0
    val_ids, train_ids = set(order[:held]), order[held:]
    stacked = torch.cat([examples[i].mel for i in train_ids])
    mel_mean, mel_std = stacked.mean(0), stacked.std(0).clamp_min(1e-3)
    for example in examples:
        example.mel = (example.mel - mel_mean) / mel_std
    variance_stats = None
    if duration_model:  # normalise log f0 (voiced phones) and energy with the training set's statistics
        given = [examples[i] for i in train_ids if not examples[i].learned]
        if given:  # per phone, from the corpus's alignments
            voiced = torch.cat([e.pitch[e.voiced > 0] for e in given])
            energy = torch.cat([e.energy for e in given])
        else:  # per frame: no durations are known before training
            learned = [examples[i] for i in train_ids]
            voiced = torch.cat([e.frame_pitch[e.periodic > 0] for e in learned])
            energy = torch.cat([e.frame_energy for e in learned])
        if len(voiced) < 2:
            voiced = torch.tensor([math.log(120.0), math.log(120.0)])
        variance_stats = torch.stack([voiced.mean(), voiced.std().clamp_min(1e-3), energy.mean(), energy.std()])
        for example in examples:
            example.pitch = (example.pitch - variance_stats[0]) / variance_stats[1] * example.voiced
            example.energy = (example.energy - variance_stats[2]) / variance_stats[3].clamp_min(1e-3)
            if example.learned:
                example.frame_pitch = (example.frame_pitch - variance_stats[0]) / variance_stats[1] * example.periodic
                example.frame_energy = (example.frame_energy - variance_stats[2]) / variance_stats[3].clamp_min(1e-3)
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
        "variance_stats": variance_stats,
        "flow_state": flow_state,
        "flow_stats": flow_stats,
        "voices": {name: to_dict(v) for name, v in read_voices(corpus).items() if name in index},
        "counts": {name: all_speakers.count(name) for name in names},
        "learned": sum(1 for e in examples if getattr(e, "learned", False)),
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


def sharpness_loss(prediction, target, mask):
    """L1 between the differences of neighbouring frames and of neighbouring mel bins.

    A blurred prediction has flat differences where the target has harmonics, formant edges
    and onsets, so unlike L1 on the mel alone this term does not reward averaging."""
    time = (prediction[:, 1:] - prediction[:, :-1]) - (target[:, 1:] - target[:, :-1])
    time_mask = mask[:, 1:] * mask[:, :-1]
    frequency = (prediction[..., 1:] - prediction[..., :-1]) - (target[..., 1:] - target[..., :-1])
    return (time.abs() * time_mask).sum() / (time_mask.sum() * time.shape[2]).clamp_min(1) + (
        frequency.abs() * mask
    ).sum() / (mask.sum() * frequency.shape[2]).clamp_min(1)


def phone_targets_from_frames(durations, phones, frame_pitch, periodic, frame_energy):
    """Per-phone (normalised pitch, voicing 0/1, normalised energy) of frame-level values, for durations
    chosen during training (the same definitions as ``align.phone_prosody``, batched)."""
    from dlcli.tts.aligner import phone_averages

    voiced_table = torch.tensor([phone in VOICED for phone in PHONES], device=phones.device)
    pitch_sum, periodic_count = phone_averages(frame_pitch, periodic, durations)
    energy_sum, frames = phone_averages(frame_energy, torch.ones_like(frame_energy), durations)
    voiced = (periodic_count / durations.clamp_min(1) > 0.3) & voiced_table[phones] & (phones != 0)
    pitch = torch.where(voiced, pitch_sum / periodic_count.clamp_min(1e-3), torch.zeros_like(pitch_sum))
    return pitch, voiced.float(), energy_sum / frames.clamp_min(1) * (phones != 0)


def learned_durations(core, batch, weights, step: int):
    """Rows of utterances without given durations: the aligner's losses, and their durations by monotonic
    alignment search with the per-phone targets those imply. Returns (durations, pitch, voiced, energy,
    aligner loss, metrics) for the whole batch (given rows unchanged)."""
    from dlcli.tts.aligner import binarisation_loss, durations_to_path, forward_sum_loss

    rows = batch["learned"].nonzero().squeeze(1)
    phones, mels, lengths = batch["phones"][rows], batch["mels"][rows], batch["mel_lengths"][rows]
    log_attention, found = core.align(phones, mels, lengths)
    forward_sum = forward_sum_loss(log_attention.float(), (phones != 0).sum(1), lengths)
    binarisation = binarisation_loss(durations_to_path(found, mels.shape[1]), log_attention.float())
    ramp = min(1.0, step / max(1, weights.binarisation_warmup))
    loss = weights.alignment * forward_sum + weights.binarisation * ramp * binarisation
    pitch, voiced, energy = phone_targets_from_frames(
        found, phones, batch["frame_pitch"][rows], batch["periodic"][rows], batch["frame_energy"][rows]
    )
    out = []
    for key, value in (("durations", found), ("pitch", pitch), ("voiced", voiced), ("energy", energy)):
        full = batch[key].clone()
        full[rows] = value.to(full.dtype)
        out.append(full)
    metrics = {"align": forward_sum.detach(), "binarisation": binarisation.detach()}
    return (*out, loss, metrics)


def make_duration_step(config: TTSConfig):
    """Loss of the duration model: mel L1 (decoder and post-net) + sharpness + variance predictors + KL."""
    weights = config.loss

    def step(model, batch, context):
        core = context.model  # the bare model (under DDP, ``model`` is the wrapper)
        vectors = core.speaker_vectors(batch["speakers"], sample=True)
        reference = batch["mels"] if core.config.variant == "baseline" else None
        durations, pitch, voiced, energy = batch["durations"], batch["pitch"], batch["voiced"], batch["energy"]
        align_loss, align_metrics = 0.0, {}
        learned = batch.get("learned")
        if learned is not None and bool(learned.any()):
            durations, pitch, voiced, energy, align_loss, align_metrics = learned_durations(
                core, batch, weights, context.step
            )
        mel, post, frame_mask, predicted, kl = model(
            batch["phones"], durations, pitch, voiced, energy, vectors, reference
        )
        target, lengths = batch["mels"], batch["mel_lengths"]
        frames = min(target.shape[1], mel.shape[1])
        mel, post, target = mel[:, :frames].float(), post[:, :frames].float(), target[:, :frames]
        mask = frame_mask[:, :frames].unsqueeze(2).float()
        mel_loss = masked_l1(mel, target, lengths)
        post_loss = masked_l1(post, target, lengths)
        sharp = sharpness_loss(post, target, mask)
        phones = (batch["phones"] != 0).float()
        count = phones.sum().clamp_min(1)
        duration_loss = ((predicted["log_duration"].float() - torch.log1p(durations.float())) ** 2 * phones).sum()
        duration_loss = duration_loss / count
        voiced_phones = voiced * phones
        pitch_loss = ((predicted["pitch"].float() - pitch) ** 2 * voiced_phones).sum() / voiced_phones.sum().clamp_min(
            1
        )
        voicing_loss = (
            F.binary_cross_entropy_with_logits(predicted["voicing"].float(), voiced, reduction="none") * phones
        ).sum() / count
        energy_loss = ((predicted["energy"].float() - energy) ** 2 * phones).sum() / count
        kl_loss = kl.float().mean()
        loss = (
            mel_loss
            + post_loss
            + weights.sharpness * sharp
            + weights.duration * duration_loss
            + weights.pitch * (pitch_loss + voicing_loss)
            + weights.energy * energy_loss
            + weights.kl * kl_loss
            + align_loss
        )
        if align_metrics:  # the post-net mel L1 of the learned-duration rows alone (e.g. espeak-ng voices)
            rows = learned.nonzero().squeeze(1)
            align_metrics["mel_learned"] = masked_l1(post[rows], target[rows], lengths[rows]).detach()
        metrics = {
            "mel": post_loss.detach(),
            "sharpness": sharp.detach(),
            "duration": duration_loss.detach(),
            "pitch": pitch_loss.detach(),
            "voicing": voicing_loss.detach(),
            "energy": energy_loss.detach(),
        }
        if core.config.variant == "proposed":
            metrics["kl"] = kl_loss.detach()
        return loss, {**metrics, **align_metrics}

    return step


def make_duration_plots(config: TTSConfig, run_dir: Path, val_examples, names: list[str]):
    """After the engine's teacher-forced validation: free-running mels (predicted durations) as PNGs."""
    from dlcli.tts.plots import plot_validation

    def plots(model, context):
        core, index = context.model, context.validation
        device = core.mel_mean.device
        for i, example in enumerate(val_examples[: config.data.plots]):
            vectors = core.speaker_vectors(torch.tensor([example.speaker], device=device), sample=False)
            reference = example.mel[None].to(device) if core.config.variant == "baseline" else None
            mel, frames, durations = core.infer(example.phones[None].to(device), vectors, reference)
            # which phone each synthesised frame speaks (the duration model's "alignment")
            alignment = torch.nn.functional.one_hot(
                torch.repeat_interleave(torch.arange(durations.shape[1]), durations[0].cpu()), durations.shape[1]
            )
            plot_validation(
                run_dir / "plots" / f"validation-{index:04d}-{i}.png",
                target=example.mel.numpy(),
                predicted=mel[0, : int(frames[0])].float().cpu().numpy(),
                alignment=alignment.float().numpy(),
                title=f"{names[example.speaker]}  (validation {index})",
            )

    return plots


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
    if config.architecture not in ("fastspeech", "tacotron"):
        raise UsageError(f"architecture must be fastspeech or tacotron, not {config.architecture!r}")
    duration_model = config.architecture == "fastspeech"
    prepared = prepare(corpus, run_dir, config)
    if duration_model:
        from dlcli.tts.data import PhoneBatches
        from dlcli.tts.fastspeech import FastSpeech

        config.fastspeech.symbols = len(PHONES)
        config.fastspeech.speakers = len(prepared["names"])
        config.fastspeech.aligner = prepared["learned"] > 0
        save_config(config, run_dir / "config.yaml")
        if prepared["learned"]:
            log.info(f"{prepared['learned']} utterances learn their durations (aligner + monotonic alignment search)")
        model = FastSpeech(config.fastspeech)
        model.variance_stats.copy_(prepared["variance_stats"])
        train_data = PhoneBatches(prepared["train"], config.data.batch_size, seed)
        val_data = PhoneBatches(prepared["val"], config.data.batch_size, shuffle=False) if prepared["val"] else None
        step_fn = make_duration_step(config)
        plots_fn = make_duration_plots(config, run_dir, prepared["val"], prepared["names"])
        model_config, symbols = to_dict(config.fastspeech), list(PHONES)
    else:
        config.model.symbols = len(SYMBOLS)
        config.model.speakers = len(prepared["names"])
        model = Tacotron(config.model)
        train_data = BucketBatches(prepared["train"], config.data.batch_size, config.model.reduction, seed)
        val_data = (
            BucketBatches(prepared["val"], config.data.batch_size, config.model.reduction, shuffle=False)
            if prepared["val"]
            else None
        )
        step_fn = make_step(config)
        plots_fn = make_plots(config, run_dir, prepared["val"], prepared["names"])
        model_config, symbols = to_dict(config.model), list(SYMBOLS)
    model.speaker_mean.copy_(prepared["table_mean"])
    model.speaker_sigma.copy_(prepared["table_sigma"])
    model.mel_mean.copy_(prepared["mel_mean"])
    model.mel_std.copy_(prepared["mel_std"])
    extra = {
        "speakers": prepared["names"],
        "speaker_embeddings": prepared["speaker_embeddings"],
        "speaker_counts": [prepared["counts"][n] for n in prepared["names"]],
        "voices": json.dumps(prepared["voices"]),
        "flow_state": prepared["flow_state"],
        "flow_config": to_dict(config.flow),
        "flow_stats": prepared["flow_stats"],
        "corpus": str(corpus),
        "symbols": symbols,
    }
    if model.config.variant == "baseline":  # synthesis needs reference spectrograms: keep a few real ones
        extra["reference_mels"] = [e.mel.half() for e in prepared["train"][:8]]
    trainer = Trainer(
        task=TASK,
        model=model,
        step_fn=step_fn,
        config=config.train,
        run_dir=run_dir,
        after_evaluate=plots_fn,
        collate_fn=BucketBatches.unwrap,
        model_config=model_config,
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
