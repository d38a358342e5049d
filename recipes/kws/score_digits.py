"""Score digit models on real and synthetic test clips, the embedding front end's features computed once.

`dlcli kws evaluate` gives the same accuracy (same clips, same model); this recipe exists because
on a shared 2-core machine embedding the 3,000 real clips again for every model of an ablation
costs minutes each: here they are embedded once (block-cached like training features) and
every head is scored on the cached features. Models with other front ends are scored on the clips.

    python recipes/kws/score_digits.py --real runs/fsdd6 --synthetic runs/digits400 RUN [RUN ...]

Prints one JSON line per run: accuracy on every real clip (split "all") and on the synthetic
corpus's test voices, and writes them into RUN/score-digits.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from dlcli.kws.data import build_split, get_task, scan_corpus, speaker_of
from dlcli.kws.embedding import cached_embeddings
from dlcli.kws.evaluate import predict
from dlcli.kws.predictor import load_predictor


def clips_of(folder: Path, split: str | None, labels: list[str]):
    task = get_task("digits")
    return build_split(scan_corpus(folder), task, labels, split)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--real", type=Path, required=True, help="FSDD in the Speech Commands layout (all scored)")
    parser.add_argument("--synthetic", type=Path, required=True, help="synthetic corpus (its testing split)")
    args = parser.parse_args()
    labels = get_task("digits").labels([])
    sets = {"real": clips_of(args.real, None, labels), "synthetic": clips_of(args.synthetic, "testing", labels)}
    features = {name: cached_embeddings(data.clips) for name, data in sets.items()}  # also warms the cache
    for run in args.runs:
        predictor = load_predictor(run, device="cpu")
        if predictor.labels != labels:
            print(f"error: {run}: not a digits model", file=sys.stderr)
            return 2
        result = {"run": str(run)}
        for name, data in sets.items():
            if predictor.model_config.get("frontend") == "embedding":
                with torch.no_grad():
                    logits = predictor.model(features[name]).numpy()
            else:
                logits = predict(predictor, data.clips)
            correct = logits.argmax(1) == data.targets
            result[f"{name}_accuracy"] = round(float(correct.mean()), 4)
            result[f"{name}_clips"] = int(len(data.targets))
            if name == "real":  # per speaker: the file names are SPEAKER_nohash_N
                speakers = np.array([speaker_of(path) for path in data.paths])
                result["real_by_speaker"] = {
                    s: round(float(correct[speakers == s].mean()), 4) for s in sorted(set(speakers))
                }
        (run / "score-digits.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
