"""How much the duration model's prosody conditioning moves its predictions, per checkpoint.

For the proposed variant: the residual branch's posterior on unseen sentences (KL to N(0, I) in
nats, per dimension and in all; mean sigma; "active" dimensions whose mu varies across sentences,
Burda et al.'s active units, variance > 0.01) and what a draw of z does to the predictions: the
standard deviation, over ``--draws`` draws per sentence, of the utterance's predicted length (frames),
mean f0 of its voiced phones (Hz) and mean energy (normalised). For the baseline variant the same
spread over the voice's own recordings fed to the reference encoder (``--corpus``). A branch
collapsed to its prior has KL ~ 0, sigma ~ 1, no active dimension, and draws that change nothing.

    OMP_NUM_THREADS=1 python recipes/tts/residual_usage.py runs/tts-fastspeech/snapshot-800.pt \
        runs/tts-fs-baseline/snapshot-800.pt --corpus runs/corpus-aligned --out runs/residual-usage.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch

from dlcli.files import write_text_atomic
from dlcli.tts.corpus import read_corpus
from dlcli.tts.evaluate import EvaluateConfig, _choose_speakers, _give_baseline_references
from dlcli.tts.sentences import SentenceGrammar
from dlcli.tts.synth import Synthesizer, Voice


def prediction_spread(synth: Synthesizer, phones: torch.Tensor, vector: torch.Tensor, references: list) -> dict:
    """Std over the draws (and the mean length) (proposed: ``references`` is a list of None) of length, mean f0, mean energy."""
    model = synth.model
    lengths, f0s, energies = [], [], []
    for reference in references:
        x, mask, _ = model.encode(phones, vector[None], None if reference is None else reference[None])
        predicted = model.predict_variances(x, mask)
        durations = torch.expm1(predicted["log_duration"]).clamp_min(0).round() * mask.squeeze(2)
        voiced = (predicted["voicing"] > 0) & (mask.squeeze(2) > 0)
        hz = (predicted["pitch"] * model.variance_stats[1] + model.variance_stats[0]).exp()
        lengths.append(float(durations.sum()))
        f0s.append(float(hz[voiced].mean()) if voiced.any() else float("nan"))
        energies.append(float(predicted["energy"][mask.squeeze(2) > 0].mean()))
    return {
        "frames": np.std(lengths),
        "f0_hz": np.nanstd(f0s),
        "energy": np.std(energies),
        "mean_frames": np.mean(lengths),
    }


def usage(path: Path, corpus: Path, sentences: int, voices: int, draws: int) -> dict:
    torch.manual_seed(0)
    synth = Synthesizer(path)
    if not synth.duration_model:
        raise SystemExit(f"{path}: not a duration model")
    seen, _ = read_corpus(corpus)
    texts = SentenceGrammar(EvaluateConfig().seed).sentences(sentences, exclude={u.text for u in seen})
    speakers = _choose_speakers(synth, voices)
    proposed = synth.config.variant == "proposed"
    if not proposed:
        config = EvaluateConfig(references_per_voice=draws)
        _give_baseline_references({"baseline": synth}, speakers, seen, config)
    model = synth.model
    kls, sigmas, mus, spreads = [], [], [], []
    for i, text in enumerate(texts):
        speaker = speakers[i % len(speakers)]
        vector, _ = synth._conditioning(Voice(speaker=speaker), 0)
        phones = torch.tensor([[p for piece in synth._phone_pieces(text) for p in piece]])
        with torch.no_grad():
            if proposed:
                mask = (phones != 0).unsqueeze(2).float()
                x = model.embedding(phones) * mask
                for block in model.encoder:
                    x = block(x, mask)
                mu, log_sigma = model.residual(x, mask.sum((1, 2)).long())
                kls.append((0.5 * (mu.pow(2) + (2 * log_sigma).exp() - 1 - 2 * log_sigma))[0].numpy())
                sigmas.append(log_sigma.exp()[0].numpy())
                mus.append(mu[0].numpy())
                references = [None] * draws
            else:
                references = synth.speaker_references[synth.speaker_index(speaker)][:draws]
            spreads.append(prediction_spread(synth, phones, vector, references))
    result = {
        "checkpoint": str(path),
        "variant": synth.config.variant,
        "step": int(torch.load(path, weights_only=True, map_location="cpu")["metrics"].get("step", -1))
        if path.is_file()
        else None,
        "sentences": len(texts),
        "draws": draws,
        "spread": {k: round(float(np.nanmean([s[k] for s in spreads])), 4) for k in spreads[0]},
    }
    if proposed:
        kl = np.stack(kls)
        result["kl_nats"] = round(float(kl.sum(1).mean()), 4)
        result["kl_per_dim_max"] = round(float(kl.mean(0).max()), 4)
        result["mean_sigma"] = round(float(np.stack(sigmas).mean()), 4)
        result["active_dims"] = int((np.stack(mus).var(0) > 0.01).sum())
        result["dims"] = int(kl.shape[1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=30)
    parser.add_argument("--voices", type=int, default=6)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("runs/residual-usage.json"))
    args = parser.parse_args()
    random.seed(0)
    results = [usage(path, args.corpus, args.sentences, args.voices, args.draws) for path in args.checkpoints]
    for row in results:
        print(json.dumps(row))
    write_text_atomic(args.out, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
