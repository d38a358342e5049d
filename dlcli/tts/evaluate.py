"""``tts evaluate``: intelligibility, distinctiveness, prosody variability and interpolation (ch. 7.5).

- Intelligibility: pocketsphinx WER of syntheses of sentences the corpus never contained,
  next to the WER of the corpus voices' own renderings of the same sentences.
- Distinctiveness: every synthesis is compared with 4 random syntheses of other voices by
  the GE2E speaker encoder; FAR = share of those pairs whose cosine passes a threshold.
- Prosody: per speaker-sentence pair, syntheses with different seeds; eight features;
  bootstrap + one-sided Wilcoxon of the variances against the baseline.
- Interpolation: all pairs of some voices mixed half-and-half (latents for the proposed
  model, embeddings for the baseline): FAR among the new voices and their WER.

The baseline variant's reference encoder is fed, for each voice, one of ``references_per_voice``
corpus recordings of that voice (the seed picks which), as it was fed each utterance's own
spectrogram in training; ``baseline_references: stored`` uses the checkpoint's few stored ones.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcli.errors import UsageError
from dlcli.files import write_text_atomic

log = logging.getLogger("dlcli.tts")
THRESHOLDS = (0.85, 0.90, 0.95, 0.99)
PARTS = ("intelligibility", "prosody", "interpolation")  # distinctiveness is scored on the intelligibility syntheses


@dataclass
class EvaluateConfig:
    sentences: int = 10  # unseen sentences per voice (intelligibility, distinctiveness)
    speakers: int = 8  # voices evaluated (flite voices first: the ones ASR understands)
    prosody_pairs: int = 8  # speaker-sentence pairs for prosody variability
    prosody_seeds: int = 10  # syntheses per pair (paper: 30)
    interpolation_speakers: int = 5  # all pairs of these voices are mixed 50/50
    comparisons: int = 4  # random other syntheses each one is compared with (FAR; more than there are: all)
    baseline_references: str = "own"  # own: each voice's own corpus recordings | stored: the checkpoint's few
    references_per_voice: int = 10  # own references per evaluated voice (the seed picks one)
    bootstrap: int = 100
    seed: int = 1234  # sentence grammar seed (differs from any corpus seed)
    parts: list[str] = field(default_factory=lambda: list(PARTS))  # which evaluations to run


def far(embeddings: np.ndarray, labels: list, comparisons: int, rng: random.Random) -> dict[str, float]:
    """False acceptance rate (%) at each threshold over pairs of different intended voices."""
    scores = []
    indices = list(range(len(labels)))
    for i in indices:
        others = [j for j in indices if labels[j] != labels[i]]
        for j in rng.sample(others, min(comparisons, len(others))):
            scores.append(float(embeddings[i] @ embeddings[j]))
    scores = np.array(scores)
    result = {f"far@{t:.2f}": float(100 * (scores >= t).mean()) if len(scores) else float("nan") for t in THRESHOLDS}
    result["mean_cosine"] = float(scores.mean()) if len(scores) else float("nan")
    return result


def _choose_speakers(synth, count: int) -> list[str]:
    """Voices that have a recipe (so references can be rendered): unmodified flite voices, other flite, espeak-ng."""
    named = [s for s in synth.speakers if s in synth.voices]
    flite = sorted((s for s in named if s.startswith("flite")), key=lambda s: ("-p+0-d1" not in s, s))
    rest = [s for s in named if not s.startswith("flite")]
    chosen = (flite[: max(1, (count * 3) // 4)] + rest)[:count]
    return chosen + [s for s in flite if s not in chosen][: count - len(chosen)]


def _give_baseline_references(systems: dict, speakers: list[str], seen: list, config: EvaluateConfig) -> None:
    """Baseline-variant systems get ``references_per_voice`` corpus recordings of each evaluated voice as the
    reference encoder's input (``baseline_references: own``); ``stored`` keeps the checkpoint's references."""
    if config.baseline_references not in ("own", "stored"):
        raise UsageError(f"baseline_references must be own or stored, not {config.baseline_references!r}")
    if config.baseline_references == "stored":
        return
    recordings: dict[str, list[Path]] = {}
    for utterance in seen:
        recordings.setdefault(utterance.speaker, []).append(Path(utterance.audio))
    for system in systems.values():
        if system.config.variant != "baseline":
            continue
        for speaker in speakers:
            files = sorted(recordings.get(speaker, []))
            picked = random.Random(f"{config.seed}:{speaker}").sample(
                files, min(config.references_per_voice, len(files))
            )
            if picked:
                system.add_references(speaker, picked)
            else:
                log.warning(f"no recordings of {speaker} in the corpus: the baseline uses its stored references")


def evaluate_models(model: Path | None, baseline: Path | None, corpus: Path, out: Path, config: EvaluateConfig) -> dict:
    """Run every evaluation; write report.md, results.json and utterances.jsonl into ``out``."""
    from dlcli.console import console_is_quiet, progress
    from dlcli.tts.asr import transcribe, wer
    from dlcli.tts.corpus import Voice as Recipe
    from dlcli.tts.corpus import read_corpus, render
    from dlcli.tts.prosody import FEATURES, compare_variability, prosody_features
    from dlcli.tts.sentences import SentenceGrammar
    from dlcli.tts.speakers import embed_waveform
    from dlcli.tts.synth import Synthesizer, Voice
    from dlcli.tts.text import normalise, phonemise

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    systems = {"proposed": Synthesizer(model)}
    if baseline is not None:
        systems["baseline"] = Synthesizer(baseline)
        if systems["baseline"].config.variant != "baseline":
            log.warning(
                f"{baseline}: not a baseline-variant model; comparing two {systems['baseline'].config.variant} models"
            )
    main = systems["proposed"]
    seen, _ = read_corpus(corpus)
    sentences = SentenceGrammar(config.seed).sentences(config.sentences, exclude={u.text for u in seen})
    speakers = _choose_speakers(main, config.speakers)
    if not speakers:
        raise UsageError("the model's voices have no recipes (speakers.json): cannot render references")
    _give_baseline_references(systems, speakers, seen, config)
    rate = main.audio.sample_rate
    rng = random.Random(config.seed)
    records, results = [], {"sentences": sentences, "speakers": speakers}
    if any(system.config.variant == "baseline" for system in systems.values()):
        results["baseline_references"] = config.baseline_references
    quiet = console_is_quiet()

    def spoken(text):
        return normalise(text).text

    # ---------------------------------------------------------------- intelligibility + distinctiveness
    unknown = set(config.parts) - set(PARTS)
    if unknown:
        raise UsageError(f"unknown evaluation part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    run_intelligibility = "intelligibility" in config.parts
    total = len(speakers) * len(sentences) * (1 + len(systems)) if run_intelligibility else 0
    with progress(disable=quiet) as bar:
        task = bar.add_task("intelligibility", total=total, info="")
        by_system = {
            name: {"refs": [], "hyps": [], "emb": [], "labels": [], "speaker": []} for name in ["corpus", *systems]
        }
        for speaker in speakers if run_intelligibility else []:
            recipe = Recipe.from_dict(main.voices[speaker])
            for sentence in sentences:
                reference = spoken(sentence)
                audio = render(recipe, reference, rate)
                outputs = {"corpus": audio}
                for name, system in systems.items():
                    outputs[name] = system.synthesize(sentence, Voice(speaker=speaker), seed=0)
                for name, wave in outputs.items():
                    heard = transcribe(wave, rate)
                    entry = by_system[name]
                    entry["refs"].append(reference)
                    entry["hyps"].append(heard)
                    entry["emb"].append(embed_waveform(wave, rate))
                    entry["labels"].append(speaker)
                    records.append({"system": name, "speaker": speaker, "text": reference, "heard": heard})
                    bar.update(task, advance=1)
    intelligibility, distinct = {}, {}
    for name, entry in by_system.items() if run_intelligibility else []:
        per_speaker = {}
        for speaker in speakers:
            rows = [i for i, s in enumerate(entry["labels"]) if s == speaker]
            per_speaker[speaker] = wer([entry["refs"][i] for i in rows], [entry["hyps"][i] for i in rows])
        intelligibility[name] = {
            "wer": wer(entry["refs"], entry["hyps"]),
            "median_speaker_wer": float(np.median(list(per_speaker.values()))),
            "per_speaker": per_speaker,
        }
        distinct[name] = far(np.stack(entry["emb"]), entry["labels"], config.comparisons, random.Random(config.seed))
    if run_intelligibility:
        results["intelligibility"] = intelligibility
        results["distinctiveness"] = distinct

    # ---------------------------------------------------------------- prosody variability
    if "baseline" in systems and config.prosody_pairs > 0 and "prosody" in config.parts:
        pairs = [(rng.choice(speakers), rng.choice(sentences)) for _ in range(config.prosody_pairs)]
        values = {name: np.full((len(pairs), config.prosody_seeds, len(FEATURES)), np.nan) for name in systems}
        with progress(disable=quiet) as bar:
            task = bar.add_task("prosody", total=len(pairs) * config.prosody_seeds * len(systems), info="")
            for p, (speaker, sentence) in enumerate(pairs):
                phonemes = phonemise(sentence).phoneme_count
                for name, system in systems.items():
                    for s in range(config.prosody_seeds):
                        wave = system.synthesize(sentence, Voice(speaker=speaker), seed=1000 + s)
                        features = prosody_features(wave, rate, phonemes)
                        values[name][p, s] = [features[f] for f in FEATURES]
                        bar.update(task, advance=1)
        results["prosody"] = {
            feature: compare_variability(values["proposed"][:, :, k], values["baseline"][:, :, k], config.bootstrap)
            for k, feature in enumerate(FEATURES)
        }

    # ---------------------------------------------------------------- interpolation
    mixed = speakers[: config.interpolation_speakers]
    combos = [(a, b) for i, a in enumerate(mixed) for b in mixed[i + 1 :]]
    if combos and "interpolation" in config.parts:
        interpolation = {}
        sentence = sentences[0]
        for name, system in systems.items():
            embeddings, labels, refs, hyps = [], [], [], []
            for a, b in combos:
                wave = system.synthesize(sentence, Voice(mix=f"{a}:{b}:0.5"), seed=0)
                embeddings.append(embed_waveform(wave, rate))
                labels.append(f"{a}+{b}")
                refs.append(spoken(sentence))
                hyps.append(transcribe(wave, rate))
            interpolation[name] = {
                "pairs": len(combos),
                "wer": wer(refs, hyps),
                **far(np.stack(embeddings), labels, config.comparisons, random.Random(config.seed)),
            }
        results["interpolation"] = interpolation

    write_text_atomic(out / "results.json", json.dumps(results, indent=1))
    write_text_atomic(out / "utterances.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    write_text_atomic(out / "report.md", report_markdown(results))
    return results


def report_markdown(results: dict) -> str:
    lines = [f"Voices: {len(results['speakers'])}; unseen sentences per voice: {len(results['sentences'])}", ""]
    if "baseline_references" in results:
        source = {"own": "recordings of the voice itself", "stored": "the checkpoint's stored spectrograms"}
        lines += [f"Baseline reference spectrograms: {source[results['baseline_references']]}", ""]
    if "intelligibility" in results:
        lines += _intelligibility_lines(results)
    return _other_lines(results, lines)


def _intelligibility_lines(results: dict) -> list[str]:
    lines = ["| system | WER % | median per-voice WER % |", "|---|---:|---:|"]
    for name, row in results["intelligibility"].items():
        label = "corpus voices (own renderings)" if name == "corpus" else name
        lines.append(f"| {label} | {row['wer']:.1f} | {row['median_speaker_wer']:.1f} |")
    lines += [
        "",
        "Per voice WER % (" + " / ".join(results["intelligibility"]) + ")",
        "",
        "| voice | " + " | ".join(results["intelligibility"]) + " |",
        "|---|" + "---:|" * len(results["intelligibility"]),
    ]
    for speaker in results["speakers"]:
        lines.append(
            f"| {speaker} | "
            + " | ".join(f"{row['per_speaker'][speaker]:.1f}" for row in results["intelligibility"].values())
            + " |"
        )
    lines += ["", "Distinctiveness: false acceptance rate % (lower is more distinct)", ""]
    lines += [
        "| system | " + " | ".join(f"{int(t * 100)}%" for t in THRESHOLDS) + " | mean cosine |",
        "|---|" + "---:|" * (len(THRESHOLDS) + 1),
    ]
    for name, row in results["distinctiveness"].items():
        lines.append(
            f"| {name} | "
            + " | ".join(f"{row[f'far@{t:.2f}']:.1f}" for t in THRESHOLDS)
            + f" | {row['mean_cosine']:.3f} |"
        )
    return lines


def _other_lines(results: dict, lines: list[str]) -> str:
    if "prosody" in results:
        lines += ["", "Prosody variability: % of speaker-sentence pairs with significantly higher variance", ""]
        lines += [
            "| feature | proposed > baseline % | baseline > proposed % | median var proposed | median var baseline |",
            "|---|---:|---:|---:|---:|",
        ]
        for feature, row in results["prosody"].items():
            lines.append(
                f"| {feature} | {row['proposed_higher_pct']:.0f} | {row['baseline_higher_pct']:.0f} | "
                f"{row['median_variance_proposed']:.4g} | {row['median_variance_baseline']:.4g} |"
            )
    if "interpolation" in results:
        lines += ["", "Interpolation (all pairs mixed 50/50)", ""]
        lines += [
            "| system | pairs | WER % | " + " | ".join(f"FAR {int(t * 100)}%" for t in THRESHOLDS) + " |",
            "|---|---:|---:|" + "---:|" * len(THRESHOLDS),
        ]
        for name, row in results["interpolation"].items():
            lines.append(
                f"| {name} | {row['pairs']} | {row['wer']:.1f} | "
                + " | ".join(f"{row[f'far@{t:.2f}']:.1f}" for t in THRESHOLDS)
                + " |"
            )
    return "\n".join(lines) + "\n"
