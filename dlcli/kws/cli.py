"""``dlcli kws``: keyword spotting on one-second clips (Xception-1d, dissertation ch. 6)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.config import choices
from dlcli.errors import PartialFailure, UsageError
from dlcli.kws.tasks import TASKS
from dlcli.nn.names import Activation
from dlcli.options import ConfigFile, Json, PrintConfig, echo_json, fit_summary, resolve_config
from dlcli.runtime import runtime

app = typer.Typer(
    help="Keyword spotting: train, evaluate, score files and recordings, export; generate corpora.",
    no_args_is_help=True,
)

log = logging.getLogger("dlcli.kws")

DATA, MODEL, OPTIM, OUTPUT, STREAM = "Data", "Model", "Optimization", "Output", "Streaming"


TaskName = choices("TaskName", TASKS)


ModelName = choices("ModelName", ("xception1d", "small"))  # the presets of kws.model (which imports torch)
AugmentMode = choices("AugmentMode", ("online", "offline", "none"))
OutputFormat = choices("OutputFormat", ("csv", "jsonl"))


FrontEnd = choices("FrontEnd", ("waveform", "logmel", "embedding"))


def _model_for_device(model) -> str:
    """The model asked for, or the one that fits the device: the reference model needs a GPU to train in hours."""
    if model is not None:
        return model.value
    from dlcli.train.device import choose_device

    if choose_device(runtime.device).type == "cuda":
        return "xception1d"
    log.info("no GPU: training the small model (--model xception1d for the reference, 21M parameters)")
    return "small"


def _words(values: Optional[str]) -> Optional[list[str]]:
    return None if values is None else [w.strip().lower() for w in values.split(",") if w.strip()]


def _threads() -> None:
    """Honour DLCLI_THREADS (on a shared machine one thread per process is often fastest)."""
    from dlcli.train.device import configure_threads

    configure_threads()


def _echo(text: str) -> None:
    if text:
        typer.echo(text)


@app.command("synth-corpus")
def synth_corpus(
    out: Annotated[Path, typer.Argument(help="Folder for the corpus (Speech Commands layout).")],
    voices: Annotated[int, typer.Option(help="Synthetic speakers.", rich_help_panel=DATA)] = 200,
    words: Annotated[
        Optional[str], typer.Option(help="Comma-separated words (default: the 35).", rich_help_panel=DATA)
    ] = None,
    takes: Annotated[int, typer.Option(help="Clips per word and voice.", rich_help_panel=DATA)] = 1,
    flite_share: Annotated[
        float, typer.Option(help="Share of flite voices (the rest espeak-ng).", rich_help_panel=DATA)
    ] = 0.4,
    noise: Annotated[
        Optional[Path], typer.Option(exists=True, file_okay=False, help="Real noise recordings mixed into clips too.")
    ] = None,
    noise_seconds: Annotated[float, typer.Option(help="Length of each generated noise file.")] = 60.0,
    audio_format: Annotated[str, typer.Option("--format", help="wav or flac.")] = "wav",
    seed: Annotated[int, typer.Option(help="Same seed, same corpus.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes (0: one per CPU).")] = 0,
    as_json: Json = False,
) -> None:
    """Write a Speech Commands-layout corpus spoken by espeak-ng and flite voices (speaker-disjoint splits)."""
    from dlcli.kws.synth import SynthConfig, generate_corpus

    try:
        config = SynthConfig(
            voices=voices, takes=takes, seed=runtime.seed if runtime.seed is not None else seed, flite_share=flite_share,
            format=audio_format, noise_seconds=noise_seconds, noise_folder=str(noise) if noise else None, workers=workers,
            **({"words": _words(words)} if words else {}),
        )  # fmt: skip
    except ValueError as error:
        raise UsageError(str(error)) from None
    summary = generate_corpus(out, config, quiet=runtime.quiet)
    if as_json:
        return echo_json({**summary, "out": str(out)})
    split = summary["voices"]
    typer.echo(
        f"{summary['clips']} clips of {summary['words']} words by {sum(split.values())} voices "
        f"({split['training']} training, {split['validation']} validation, {split['testing']} testing; "
        f"{summary['engines']['espeak-ng']} espeak-ng, {summary['engines']['flite']} flite) in {out}"
    )


@app.command()
def train(
    data: Annotated[
        Optional[Path],
        typer.Argument(exists=True, file_okay=False, help="Speech Commands folder (none with --keywords)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (checkpoints, metrics, curves).")] = ...,
    keywords: Annotated[
        Optional[str],
        typer.Option(
            help='Comma-separated keywords to make from text alone ("hey lumen,lights on"): a synthetic corpus '
            "(cached), the embedding front end, a calibrated threshold.",
            rich_help_panel=DATA,
        ),
    ] = None,
    voices: Annotated[int, typer.Option(help="--keywords: synthetic voices.", rich_help_panel=DATA)] = 200,
    corpus: Annotated[
        Optional[Path],
        typer.Option(
            file_okay=False,
            help="--keywords: corpus folder (default: a cache keyed by the settings).",
            rich_help_panel=DATA,
        ),
    ] = None,
    target_false_accepts: Annotated[
        float,
        typer.Option(help="--keywords: false accepts per hour of speech the threshold allows.", rich_help_panel=DATA),
    ] = 1.0,
    negative_bank: Annotated[
        Optional[Path],
        typer.Option(
            file_okay=False,
            help="--keywords: folder of cached negative-speech banks, shared by every keyword (default: the dlcli cache).",
            rich_help_panel=DATA,
        ),
    ] = None,
    negative_speech: Annotated[
        Optional[list[Path]],
        typer.Option(
            exists=True,
            help="--keywords: your own keyword-free speech recordings (folder or file, repeatable): training negatives.",
            rich_help_panel=DATA,
        ),
    ] = None,
    bank_hours: Annotated[
        float,
        typer.Option(
            help="--keywords: hours of generated keyword-free speech whose every window is a negative (0: clips only).",
            rich_help_panel=DATA,
        ),
    ] = 2.0,
    negative_weight: Annotated[
        float, typer.Option(help="--keywords: loss weight of a negative speech window.", rich_help_panel=OPTIM)
    ] = 5.0,
    shifted_copies: Annotated[
        int,
        typer.Option(
            help="--keywords: time-shifted copies of every keyword clip (up to 0.12 s).", rich_help_panel=OPTIM
        ),
    ] = 4,
    calibration_minutes: Annotated[
        float,
        typer.Option(help="--keywords: validation voices' speech for calibrating the threshold.", rich_help_panel=DATA),
    ] = 60.0,
    task: Annotated[Optional[TaskName], typer.Option(help="Which words are classes.", rich_help_panel=DATA)] = None,
    background: Annotated[
        Optional[Path],
        typer.Option(
            exists=True,
            help="Noise recordings for augmentation (default: DATA/_background_noise_).",
            rich_help_panel=DATA,
        ),
    ] = None,
    max_train_clips: Annotated[
        Optional[int], typer.Option(help="Seeded subset for bounded runs.", rich_help_panel=DATA)
    ] = None,
    max_validation_clips: Annotated[
        Optional[int], typer.Option(help="Validation subset.", rich_help_panel=DATA)
    ] = None,
    model: Annotated[
        Optional[ModelName],
        typer.Option(help="xception1d (reference) or small (default: small on a CPU).", rich_help_panel=MODEL),
    ] = None,
    frontend: Annotated[
        Optional[FrontEnd],
        typer.Option(
            help="waveform, logmel, or embedding: a frozen speech-embedding network pre-trained on real speech "
            "and a small head (needs dlcli[wakeword]; its own recipe, --model is ignored).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    activation: Annotated[
        Optional[Activation], typer.Option(help="Any registered activation.", rich_help_panel=MODEL)
    ] = None,
    width: Annotated[Optional[float], typer.Option(help="Channel multiplier.", rich_help_panel=MODEL)] = None,
    middle_blocks: Annotated[
        Optional[int], typer.Option(help="Middle-flow blocks (reference: 8).", rich_help_panel=MODEL)
    ] = None,
    init: Annotated[
        Optional[Path], typer.Option(help="Start from this kws checkpoint (fine-tuning).", rich_help_panel=MODEL)
    ] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Reference: 50.", rich_help_panel=OPTIM)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Reference: 32.", rich_help_panel=OPTIM)] = None,
    lr: Annotated[
        Optional[float], typer.Option(help="Adam learning rate (reference: 1e-4).", rich_help_panel=OPTIM)
    ] = None,
    augment: Annotated[
        Optional[AugmentMode], typer.Option(help="online, offline (N copies) or none.", rich_help_panel=OPTIM)
    ] = None,
    copies: Annotated[
        Optional[int], typer.Option(help="Offline copies per clip (reference: 5).", rich_help_panel=OPTIM)
    ] = None,
    distortions: Annotated[
        Optional[str],
        typer.Option(
            help="Comma-separated distortions for the copies or online batches, in order: paper, noise, speed, "
            "pitch, vtlp, formant, room, band, codec, specaugment, or none (default: paper,noise, the reference).",
            rich_help_panel=OPTIM,
        ),
    ] = None,
    distortion_mode: Annotated[
        Optional[str],
        typer.Option(
            help="all: every named distortion on every clip, in order; one: one of them per clip, at random.",
            rich_help_panel=OPTIM,
        ),
    ] = None,
    mixup: Annotated[
        Optional[float],
        typer.Option(help="Mixup Beta(alpha, alpha) on the head's inputs (0: off).", rich_help_panel=OPTIM),
    ] = None,
    data_seed: Annotated[
        Optional[int],
        typer.Option(help="Seed of the training subset and the copies (default: --seed).", rich_help_panel=DATA),
    ] = None,
    config: ConfigFile = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over in an existing --out.")] = False,
    show_config: PrintConfig = False,
    as_json: Json = False,
) -> None:
    """Train a keyword spotter (reference recipe by default); writes best.pt, last.pt, metrics, curves."""
    from dlcli.kws.config import KwsConfig, default_config, embedding_config
    from dlcli.kws.train import train as run_training
    from dlcli.runtime import train_overrides

    _threads()

    if keywords is not None:
        from dlcli.kws.keywords import NegativeSpeechConfig

        if bank_hours < 0 or negative_weight <= 0 or calibration_minutes <= 0:
            raise UsageError("--bank-hours must not be negative; --negative-weight and --calibration-minutes positive")
        negative = NegativeSpeechConfig(
            bank=str(negative_bank) if negative_bank else None, hours=bank_hours,
            speech=[str(p) for p in negative_speech or []], weight=negative_weight,
        ) if bank_hours > 0 or negative_speech else None  # fmt: skip
        if shifted_copies < 0:
            raise UsageError("--shifted-copies must not be negative")
        extra = {
            "negative": negative,
            "positive_shifts": shifted_copies,
            "calibration_seconds": calibration_minutes * 60,
        }
        _train_keywords(
            keywords, out, voices, corpus, target_false_accepts, background, epochs, config, overwrite, extra
        )
        return
    if data is None:
        raise UsageError("give a Speech Commands folder to train on, or --keywords to make one from text")
    saved = out / "config.yaml"
    if resume and saved.exists() and config is None:
        base = None
    elif frontend == FrontEnd.embedding:
        from dlcli.kws.embedding import resource_folder

        resource_folder()  # one clear line now, not after the clips are read, when openwakeword is missing
        base = embedding_config()
    else:
        base = default_config(_model_for_device(model))
    overrides = {
        "data.task": task.value if task else None,
        "data.background": str(background) if background else None,
        "data.max_train_clips": max_train_clips,
        "data.max_validation_clips": max_validation_clips,
        "model.frontend": frontend.value if frontend else None,
        "model.activation": activation.value if activation else None,
        "model.width": width,
        "model.middle_blocks": middle_blocks,
        "train.epochs": epochs,
        "train.batch_size": batch_size,
        "train.lr": lr,
        "augment.mode": augment.value if augment else None,
        "augment.copies": copies,
        "perturb.distortions": _words(distortions),
        "perturb.mixup": mixup,
        "perturb.choose": distortion_mode,
        "data.seed": data_seed,
        **train_overrides(),
    }
    resolved = resolve_config(KwsConfig, saved if base is None else config, overrides, base=base, show=show_config)
    result = run_training(data, out, resolved, resume=resume, overwrite=overwrite, init=init)
    if as_json:
        return echo_json(fit_summary(result))
    best = f"{result.monitor} {result.best_metric:.4f}" if result.best_metric is not None else "no validation"
    typer.echo(f"{result.epochs} epochs, {result.steps} steps; best {best}; {result.best_path or result.last_path}")


def _train_keywords(keywords, out, voices, corpus, target, background, epochs, config_file, overwrite, extra) -> None:
    """``kws train --keywords``: corpus from text, the embedding front end, a calibrated threshold."""
    from dlcli.config import load_config
    from dlcli.kws.config import KwsConfig, embedding_config
    from dlcli.kws.embedding import resource_folder
    from dlcli.kws.keywords import KeywordCorpusConfig, train_keywords
    from dlcli.runtime import train_overrides

    resource_folder()  # one clear line before minutes of corpus generation, when openwakeword is missing
    try:
        corpus_config = KeywordCorpusConfig(
            keywords=keywords.split(","), voices=voices, background=str(background) if background else None,
            seed=runtime.seed if runtime.seed is not None else 0,
        )  # fmt: skip
    except ValueError as error:
        raise UsageError(str(error)) from None
    base = embedding_config()
    if extra["negative"]:  # an epoch holds every bank window: fewer, larger steps
        base.train.epochs, base.train.batch_size = 10, 256
    resolved = load_config(KwsConfig, config_file, {"train.epochs": epochs, **train_overrides()}, base=base)
    report = train_keywords(
        out, corpus_config, resolved, corpus_dir=corpus, target_per_hour=target, overwrite=overwrite,
        quiet=runtime.quiet, echo=lambda line: typer.echo(line, err=True), **extra,
    )  # fmt: skip
    test = report["test_clips"]
    stream = report["test_stream_recall"]
    recalls = ", ".join(
        f"{k[len('recall_') :]} {100 * stream[k]:.1f}% in a stream ({100 * v:.1f}% of aligned clips)"
        for k, v in test.items()
        if k.startswith("recall_")
    )
    speech = report["test_speech_false_accepts"]
    general = report.get("test_general_speech_false_accepts")
    general_text = (
        f"{general['false_accepts_per_hour']} false accepts per hour in {60 * general['hours']:.0f} min of their "
        "speech, "
        if general
        else ""
    )
    typer.echo(
        f"threshold {report['threshold']} (at most {target:g} false accepts per hour on validation speech); "
        f"held-out voices: recall {recalls}; {general_text}{speech['false_accepts_per_hour']} per hour in "
        f"{60 * speech['hours']:.0f} min of near misses; {report['timings']['total_s']:.0f} s; {out / 'keywords.json'}\n"
        f"spot it: dlcli kws infer {out} RECORDING --stream --threshold {report['threshold']}"
    )


def _evaluation_folder(model: Path) -> Path:
    return model if model.is_dir() else model.parent


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(exists=True, help="Run folder, kws checkpoint or .onnx export.")],
    data: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Speech Commands folder.")],
    split: Annotated[str, typer.Option(help="testing, validation, training or all.", rich_help_panel=DATA)] = "testing",
    negatives: Annotated[
        Optional[Path],
        typer.Option(
            exists=True,
            help="Keyword-free recordings for false accepts per hour (default: DATA/_background_noise_).",
            rich_help_panel=DATA,
        ),
    ] = None,
    max_clips: Annotated[Optional[int], typer.Option(help="Seeded subset.", rich_help_panel=DATA)] = None,
    threshold: Annotated[
        float, typer.Option(help="Detection threshold for false accepts.", rich_help_panel=STREAM)
    ] = 0.8,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            "-o",
            help="Folder for the report and confusion PNG (default: beside the model).",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Clips per forward pass.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.", rich_help_panel=OUTPUT)] = False,
) -> None:
    """Accuracy, per-class precision/recall/F1, confusion matrix, false accepts per hour."""
    from dlcli.kws.evaluate import evaluate as run_evaluation
    from dlcli.kws.evaluate import markdown
    from dlcli.kws.infer import StreamConfig
    from dlcli.kws.predictor import load_predictor

    _threads()
    predictor = load_predictor(model, device=runtime.device)
    report = run_evaluation(
        predictor, data, split=split, out_dir=out or _evaluation_folder(model), negatives=negatives,
        stream=StreamConfig(threshold=threshold), batch_size=batch_size, max_clips=max_clips, show=not runtime.quiet,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(markdown(report))
        typer.echo(f"written: {', '.join(report['written'])}")
    if report["skipped"]:
        raise PartialFailure(f"{len(report['skipped'])} unreadable files were skipped; the report covers the rest")


@app.command()
def infer(
    model: Annotated[Path, typer.Argument(exists=True, help="Run folder, kws checkpoint or .onnx export.")],
    paths: Annotated[list[Path], typer.Argument(help="Audio files and folders (searched recursively).")],
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="CSV or JSONL file (default: stdout).", rich_help_panel=OUTPUT)
    ] = None,
    output_format: Annotated[
        Optional[OutputFormat],
        typer.Option("--format", help="csv or jsonl (default: from --out).", rich_help_panel=OUTPUT),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Labels per file, best first.", rich_help_panel=OUTPUT)] = 3,
    batch_size: Annotated[int, typer.Option(help="Clips per forward pass.")] = 64,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first unreadable file.")] = False,
    stream: Annotated[
        bool, typer.Option("--stream", help="Long recordings: detections with timestamps.", rich_help_panel=STREAM)
    ] = False,
    hop: Annotated[float, typer.Option(help="Seconds between windows.", rich_help_panel=STREAM)] = 0.1,
    smooth: Annotated[float, typer.Option(help="Seconds of probability smoothing.", rich_help_panel=STREAM)] = 0.3,
    threshold: Annotated[
        float, typer.Option(help="Smoothed score that fires a detection.", rich_help_panel=STREAM)
    ] = 0.8,
    refractory: Annotated[
        float, typer.Option(help="Seconds of quiet after a detection.", rich_help_panel=STREAM)
    ] = 1.0,
) -> None:
    """Label audio files (path, label, score, top-k), or spot keywords in long recordings (--stream).

    Unreadable files are skipped and reported (exit code 5); --strict stops at the first.
    """
    from dlcli.audio import list_audio_files
    from dlcli.errors import InputError
    from dlcli.kws.infer import StreamConfig, score_files, stream_files
    from dlcli.kws.predictor import load_predictor

    _threads()
    predictor = load_predictor(model, device=runtime.device)
    files = list_audio_files(paths)
    if not files:
        raise InputError(f"no audio files in {', '.join(map(str, paths))}")
    fmt = (
        output_format.value
        if output_format
        else ("jsonl" if out and out.suffix.lower() in (".jsonl", ".json") else "csv")
    )
    show = not runtime.quiet and out is not None
    if stream:
        try:
            config = StreamConfig(
                hop_seconds=hop, smooth_seconds=smooth, threshold=threshold, refractory_seconds=refractory
            )
        except ValueError as error:
            raise UsageError(str(error)) from None
        result = stream_files(
            predictor, files, out, config, fmt=fmt, batch_size=batch_size, strict=strict, show=show, echo=_echo
        )
    else:
        result = score_files(
            predictor, files, out, fmt=fmt, top_k=top_k, batch_size=batch_size, strict=strict, show=show, echo=_echo
        )
    if out is not None and not runtime.quiet:
        typer.echo(f"{result.rows} rows written to {out}", err=True)
    if result.failures:
        raise PartialFailure(f"{len(result.failures)} of {len(files)} files could not be read and were skipped")


@app.command()
def export(
    model: Annotated[Path, typer.Argument(exists=True, help="Run folder or kws checkpoint.")],
    onnx: Annotated[Path, typer.Option("--onnx", help="Destination .onnx file.")],
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write a dynamically quantised int8 model (FILE-int8.onnx).")
    ] = False,
    data: Annotated[
        Optional[Path],
        typer.Option(exists=True, file_okay=False, help="Measure the accuracy of each export on this folder."),
    ] = None,
    split: Annotated[str, typer.Option(help="Split of --data to measure on.")] = "testing",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Export to ONNX (checked against torch), optionally int8, with accuracy and speed of each."""
    from dlcli.kws.evaluate import evaluate as run_evaluation
    from dlcli.kws.export import export_onnx, quantize_int8, throughput
    from dlcli.kws.predictor import load_predictor

    _threads()
    report = export_onnx(model, onnx)
    files = {"torch": model, "onnx": onnx}
    if int8:
        quantized = onnx.with_name(onnx.stem + "-int8.onnx")
        report.update(quantize_int8(onnx, quantized))
        files["onnx_int8"] = quantized
    for name, path in files.items():
        predictor = load_predictor(path, device="cpu")
        report[f"{name}_clips_per_second"] = round(throughput(predictor, clips=128, batch_size=32), 1)
        if data is not None:
            result = run_evaluation(predictor, data, split=split, negatives=None, show=False)
            report[f"{name}_accuracy"] = round(result["accuracy"], 5)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        typer.echo(f"{key}: {value}")


@app.command()
def bench(
    model: Annotated[Path, typer.Argument(exists=True, help="Run folder or kws checkpoint.")],
    folder: Annotated[
        Optional[Path], typer.Option(exists=True, help="Audio folder for end-to-end `infer` throughput.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Clips per forward pass.")] = 64,
    clips: Annotated[int, typer.Option(help="Clips per measurement.")] = 512,
    rounds: Annotated[int, typer.Option(help="Interleaved repeats (median reported).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Clips per second: torch eager vs ONNX Runtime, and end-to-end `infer` on a folder vs the model alone."""
    from dlcli.kws.bench import benchmark

    _threads()
    result = benchmark(model, folder, batch_size=batch_size, clips=clips, rounds=rounds)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        typer.echo(f"{key}: {value}")
