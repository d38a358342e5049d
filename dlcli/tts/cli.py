"""``dlcli tts``: corpus, train, synth, speakers, evaluate (multi-speaker TTS, dissertation ch. 7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.config import choices
from dlcli.options import ConfigFile, Json, PrintConfig, echo_json, fit_summary, resolve_config
from dlcli.runtime import runtime

app = typer.Typer(help="Multi-speaker text-to-speech: corpus, train, synth, speakers, evaluate.", no_args_is_help=True)


Variant = choices("Variant", ("proposed", "baseline"))
Architecture = choices("Architecture", ("fastspeech", "tacotron"))
VocoderChoice = choices("VocoderChoice", ("auto", "griffin-lim", "source-filter"))
DurationSource = choices("DurationSource", ("auto", "given", "learned"))  # tts.train.DURATION_SOURCES
Preset = choices("Preset", ("small", "paper", "tiny"))  # tts.config.PRESETS (which imports torch)


ModelOption = Annotated[
    Optional[Path], typer.Option("--model", "-m", help="Checkpoint or run folder (default: the shipped model).")
]
ThreadsOption = Annotated[
    Optional[int],
    typer.Option(min=1, help="CPU threads (default: DLCLI_THREADS, else 1, the fastest for one utterance)."),
]


@app.command()
def corpus(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (metadata.csv, wavs/, speakers.json).")],
    speakers: Annotated[int, typer.Option(help="Number of voices.")] = 12,
    utterances: Annotated[int, typer.Option(help="Sentences per voice.")] = 40,
    flite_share: Annotated[float, typer.Option(help="Share of flite voices (the rest espeak-ng).")] = 0.6,
    seed: Annotated[int, typer.Option(help="Seed of voices and sentences.")] = 0,
    jobs: Annotated[int, typer.Option("--workers", "--jobs", help="Parallel synthesis processes.")] = 2,
    audio_format: Annotated[str, typer.Option("--format", help="wav or flac.")] = "wav",
    as_json: Json = False,
    plain_utterances: Annotated[
        Optional[int], typer.Option(help="Sentences for each unmodified flite voice (default: --utterances).")
    ] = None,
) -> None:
    """Generate a multi-speaker corpus from offline voices over generated sentences."""
    from dlcli.tts.corpus import generate_corpus

    made = generate_corpus(
        out,
        speakers=speakers,
        utterances_per_speaker=utterances,
        flite_share=flite_share,
        seed=seed,
        jobs=jobs,
        audio_format=audio_format,
        plain_utterances=plain_utterances,
    )
    if as_json:
        return echo_json({"utterances": len(made), "speakers": speakers, "out": str(out)})
    typer.echo(f"{len(made)} utterances by {speakers} voices written to {out}")


@app.command()
def train(
    corpus: Annotated[Path, typer.Argument(exists=True, help="Corpus folder (metadata.csv: wav|speaker|text).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder.")],
    config: ConfigFile = None,
    preset: Annotated[
        Preset, typer.Option(help="Model sizes: small (CPU), paper, tiny (tests).", rich_help_panel="Model")
    ] = Preset("small"),
    arch: Annotated[
        Optional[Architecture],
        typer.Option("--arch", help="fastspeech (duration model) or tacotron (attention).", rich_help_panel="Model"),
    ] = None,
    variant: Annotated[Optional[Variant], typer.Option(help="proposed or baseline.", rich_help_panel="Model")] = None,
    activation: Annotated[
        Optional[str],
        typer.Option(help="Activation of the encoder, prenet and residual branch.", rich_help_panel="Model"),
    ] = None,
    reduction: Annotated[
        Optional[int], typer.Option(help="Mel frames per decoder step.", rich_help_panel="Model")
    ] = None,
    real_speakers: Annotated[
        Optional[Path], typer.Option(exists=True, help="Real recordings for the speaker flow.", rich_help_panel="Data")
    ] = None,
    durations: Annotated[
        Optional[DurationSource],
        typer.Option(
            help="Duration model: phone durations from the corpus's alignments (given), learned by an aligner and "
            "monotonic alignment search (learned), or given where the corpus has them and learned for the rest "
            "(auto, the default).",
            rich_help_panel="Data",
        ),
    ] = None,
    epochs: Annotated[Optional[int], typer.Option(rich_help_panel="Optimization")] = None,
    max_steps: Annotated[Optional[int], typer.Option(rich_help_panel="Optimization")] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help="Utterances per step.", rich_help_panel="Optimization")
    ] = None,
    lr: Annotated[Optional[float], typer.Option(rich_help_panel="Optimization")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over in --out.")] = False,
    show_config: PrintConfig = False,
    as_json: Json = False,
) -> None:
    """Train the speaker flow and the acoustic model (resumable; mel PNGs at each validation)."""
    from dlcli.config import from_dict
    from dlcli.nn.names import canonical_name
    from dlcli.runtime import train_overrides
    from dlcli.tts.config import PRESETS, TTSConfig
    from dlcli.tts.train import train_tts

    base = from_dict(TTSConfig, PRESETS[preset.value])
    overrides = {
        "architecture": arch.value if arch else None,
        "model.variant": variant.value if variant else None,
        "fastspeech.variant": variant.value if variant else None,
        "model.activation": canonical_name(activation) if activation else None,
        "model.reduction": reduction,
        "data.real_speakers": str(real_speakers) if real_speakers else None,
        "data.durations": durations.value if durations else None,
        "data.batch_size": batch_size,
        "train.epochs": epochs,
        "train.max_steps": max_steps,
        "train.lr": lr,
        **train_overrides(),
    }
    resolved = resolve_config(TTSConfig, config, overrides, base=base, show=show_config)
    result = train_tts(corpus, out, resolved, resume=resume, overwrite=overwrite)
    if as_json:
        return echo_json(fit_summary(result))
    typer.echo(f"trained {result.steps} steps; best {result.monitor} {result.best_metric}; checkpoints in {out}")


@app.command()
def synth(
    text: Annotated[Optional[str], typer.Argument(help="Text to speak (or use --input / --stdin).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output wav (numbered for batches).")] = Path("out.wav"),
    model: ModelOption = None,
    speaker: Annotated[Optional[str], typer.Option(help="Speaker name, unique prefix or id.")] = None,
    sample_speaker: Annotated[bool, typer.Option("--sample-speaker", help="A new voice drawn from the flow.")] = False,
    mix: Annotated[Optional[str], typer.Option(help="Mix two voices: A:B:WEIGHT (weight of B).")] = None,
    vary_speaker: Annotated[bool, typer.Option("--vary-speaker", help="Draw from the speaker's Gaussian.")] = False,
    temperature: Annotated[float, typer.Option(help="Spread of --sample-speaker draws (N(0, T^2 I)).")] = 1.0,
    prosody_scale: Annotated[float, typer.Option(help="Multiplier of the residual branch's sigma.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the voice draw and prosody.")] = 0,
    input_file: Annotated[
        Optional[Path], typer.Option("--input", "-i", exists=True, dir_okay=False, help="Text or JSON-lines file.")
    ] = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read lines (text or JSON) from standard input.")] = False,
    iterations: Annotated[int, typer.Option(help="Griffin-Lim iterations.")] = 32,
    vocoder: Annotated[
        VocoderChoice, typer.Option(help="auto (the model's), griffin-lim, or source-filter (duration models).")
    ] = VocoderChoice("auto"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON report per utterance.")] = False,
    threads: ThreadsOption = None,
) -> None:
    """Speak text with a voice of the model (one utterance, or a batch with the model loaded once)."""
    from dlcli.errors import PartialFailure, UsageError
    from dlcli.tts.synth import (
        Request,
        Synthesizer,
        Voice,
        read_requests,
        read_text_lines,
        set_synthesis_threads,
        synthesize_batch,
    )

    set_synthesis_threads(threads)

    if sum(map(bool, (speaker, sample_speaker, mix))) > 1:
        raise UsageError("choose one of --speaker, --sample-speaker and --mix")
    sources = sum(map(bool, (text is not None, input_file, stdin)))
    if sources != 1:
        raise UsageError("give the text as an argument, or --input FILE, or --stdin")
    seed = runtime.seed if runtime.seed is not None else seed
    voice = Voice(speaker=speaker, sample=sample_speaker, mix=mix, vary_speaker=vary_speaker, temperature=temperature)
    device = "cpu" if runtime.device == "auto" else runtime.device
    synthesizer = Synthesizer(model, device=device, iterations=iterations, vocoder=vocoder.value)
    if text is not None:
        requests = [Request(text, out, voice, seed)]
    else:
        lines = read_text_lines(input_file)
        requests = read_requests(lines, out, voice, seed, source=input_file.name if input_file else "stdin")
        if not requests:
            raise UsageError("no lines to synthesise in the input")
    reports, problems = synthesize_batch(synthesizer, requests, prosody_scale=prosody_scale, quiet=runtime.quiet)
    if len(requests) == 1 and problems:
        raise problems[0]
    for report in reports:
        if as_json:
            typer.echo(json.dumps(report))
        elif not runtime.quiet:
            typer.echo(
                f"{report['output_file']}  {report['seconds_audio']:.2f} s audio  real-time factor {report['rtf']:.3f}"
            )
    for problem in problems:
        typer.secho(f"skipped {problem.item}: {problem}", fg=typer.colors.YELLOW, err=True)
    if problems:
        written = "the rest were written" if reports else "nothing was written"
        raise PartialFailure(f"{len(problems)} of {len(requests)} utterances skipped; {written}")


@app.command()
def speakers(
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the model's voices (use the name or the id with synth --speaker)."""
    from dlcli.tts.synth import Synthesizer

    synth = Synthesizer(model)
    rows = [
        {
            "id": i,
            "name": name,
            "utterances": int(synth.counts[i]),
            "default": name == synth.default_speaker,
            **synth.voices.get(name, {}),
        }
        for i, name in enumerate(synth.speakers)
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        mark = "  (default)" if row["default"] else ""
        typer.echo(f"{row['id']:4d}  {row['name'].ljust(width)}  {row['utterances']:5d} utterances{mark}")
    if synth.config.variant == "proposed":
        typer.echo("new voices: --sample-speaker [--seed N]; mixtures: --mix A:B:0.3")


@app.command()
def evaluate(
    model: Annotated[
        Optional[Path], typer.Argument(help="Proposed model (checkpoint or run; default: shipped).")
    ] = None,
    corpus: Annotated[
        Path, typer.Option(exists=True, help="The training corpus (voices' recipes, seen sentences).")
    ] = Path("runs/corpus-default"),
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for report.md, results.json, utterances.jsonl.")
    ] = Path("runs/tts-evaluation"),
    baseline: Annotated[Optional[Path], typer.Option(help="Baseline model, for prosody and the comparisons.")] = None,
    sentences: Annotated[Optional[int], typer.Option(help="Unseen sentences per voice.")] = None,
    speakers: Annotated[Optional[int], typer.Option(help="Voices evaluated.")] = None,
    prosody_pairs: Annotated[Optional[int], typer.Option(help="Speaker-sentence pairs for prosody.")] = None,
    prosody_seeds: Annotated[Optional[int], typer.Option(help="Syntheses per pair (paper: 30).")] = None,
    interpolation_speakers: Annotated[Optional[int], typer.Option(help="Voices whose pairs are mixed.")] = None,
    parts: Annotated[
        Optional[str], typer.Option(help="Comma-separated: intelligibility,prosody,interpolation.")
    ] = None,
    config: ConfigFile = None,
    threads: ThreadsOption = None,
    as_json: Json = False,
) -> None:
    """Intelligibility (pocketsphinx WER), distinctiveness (FAR), prosody variability, interpolation."""
    from dlcli.config import load_config
    from dlcli.tts.evaluate import EvaluateConfig, evaluate_models
    from dlcli.tts.synth import set_synthesis_threads

    set_synthesis_threads(threads)

    overrides = {
        "sentences": sentences,
        "speakers": speakers,
        "prosody_pairs": prosody_pairs,
        "prosody_seeds": prosody_seeds,
        "interpolation_speakers": interpolation_speakers,
        "parts": [p.strip() for p in parts.split(",") if p.strip()] if parts else None,
    }
    resolved = load_config(EvaluateConfig, config, overrides)
    results = evaluate_models(model, baseline, corpus, out, resolved)
    if as_json:
        echo_json(results)
    elif not runtime.quiet:
        typer.echo((out / "report.md").read_text())


@app.command()
def export(
    run: Annotated[Path, typer.Argument(exists=True, help="Run folder or checkpoint.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Inference checkpoint to write.")],
    default_speaker: Annotated[Optional[str], typer.Option(help="Voice used when synth gets no --speaker.")] = None,
    fp32: Annotated[bool, typer.Option("--fp32", help="Keep fp32 weights (default: fp16, half the size).")] = False,
    as_json: Json = False,
    vocoder: Annotated[
        Optional[VocoderChoice], typer.Option(help="The vocoder synth uses by default with this model.")
    ] = None,
) -> None:
    """Write a compact inference checkpoint (how the shipped default model is made)."""
    from dlcli.tts.synth import export_model

    chosen = vocoder.value if vocoder and vocoder.value != "auto" else None
    path = export_model(run, out, default_speaker=default_speaker, half=not fp32, vocoder=chosen)
    if as_json:
        return echo_json({"path": str(path), "bytes": path.stat().st_size})
    typer.echo(f"{path}: {path.stat().st_size / 1e6:.1f} MB")
