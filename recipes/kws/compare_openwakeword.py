"""A keyword model made from text by `dlcli kws train --keywords` beside openWakeWord's shipped model.

Both are scored the same way, on the same audio: every held-out voice's keyword clip (the corpus's
testing split) inside 0.5 s of silence, and keyword-free negatives (the generated speech stream of
the testing voices and, optionally, real noise recordings). Scores come every 80 ms (dlcli's head on
9 embeddings, openWakeWord's on 16, from the same front end); a clip is recalled when its best
score reaches the threshold; on negatives every peak above it, then 1 s of quiet, is a false accept.
Each model gets the lowest threshold with at most TARGET false accepts per hour of negatives.

    python recipes/kws/compare_openwakeword.py runs/kw-jarvis --openwakeword hey_jarvis_v0.1.onnx \
        --negatives ../shared/data/speech-commands-background-noise --speech ../shared/data/librispeech-speakers
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from dlcli.audio import list_audio_files, load_audio
from dlcli.kws.data import scan_corpus
from dlcli.kws.embedding import EMBEDDING_STEP, resource_folder, speech_embedding
from dlcli.kws.predictor import load_predictor, onnx_session

PAD = 8000  # 0.5 s of silence around each positive clip


def dlcli_scores(model, keyword: int):
    def score(stream: np.ndarray) -> np.ndarray:
        frames = model.frames
        windows = np.lib.stride_tricks.sliding_window_view(stream, (frames, stream.shape[1]))[:, 0]
        with torch.no_grad():
            logits = model.head(torch.from_numpy(np.ascontiguousarray(windows)).float())
        return torch.softmax(logits, -1)[:, keyword].numpy()

    return score


def openwakeword_scores(path: Path):
    session = onnx_session(path)
    name = session.get_inputs()[0].name

    def score(stream: np.ndarray) -> np.ndarray:
        windows = np.lib.stride_tricks.sliding_window_view(stream, (16, stream.shape[1]))[:, 0]
        return np.array([session.run(None, {name: w[None].astype(np.float32)})[0].item() for w in windows])

    return score


def peaks_above(scores: np.ndarray, threshold: float, refractory: int) -> int:
    count, index = 0, 0
    while index < len(scores):
        if scores[index] >= threshold:
            count += 1
            index += refractory
        else:
            index += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder of kws train --keywords (keywords.json inside)")
    parser.add_argument("--openwakeword", default="hey_jarvis_v0.1.onnx", help="model file of the openwakeword wheel")
    parser.add_argument("--negatives", type=Path, action="append", default=[], help="keyword-free noise recordings")
    parser.add_argument("--speech", type=Path, action="append", default=[], help="keyword-free real speech")
    parser.add_argument("--target", type=float, default=1.0, help="false accepts per hour allowed")
    args = parser.parse_args()
    info = json.loads((args.run / "keywords.json").read_text())
    corpus = Path(info["corpus"])
    predictor = load_predictor(args.run, device="cpu")
    label = predictor.labels[predictor.keyword_indices[0]]
    front_end = speech_embedding()
    positives = [c.path for c in scan_corpus(corpus).clips if c.split == "testing" and c.word == label]
    negatives = sorted((corpus / "_streams_").glob("testing-*.wav"))
    kinds = ["generated speech"] * len(negatives)
    for kind, folders in (("noise", args.negatives), ("real speech", args.speech)):
        for folder in folders:
            files = list_audio_files(folder)
            negatives += files
            kinds += [kind] * len(files)
    streams_pos = [front_end.stream(np.pad(load_audio(p, 16000)[0], (PAD, PAD))) for p in positives]
    negative_audio = [load_audio(p, 16000)[0] for p in negatives]
    hours = sum(len(a) for a in negative_audio) / 16000 / 3600
    streams_neg = [front_end.stream(np.pad(a, (PAD, PAD))) for a in negative_audio]  # short files get 16 windows
    models = {
        "dlcli": dlcli_scores(predictor.model.eval(), predictor.keyword_indices[0]),
        "openwakeword": openwakeword_scores(resource_folder() / args.openwakeword),
    }
    refractory = int(round(16000 / EMBEDDING_STEP))
    allowed = int(np.floor(args.target * hours + 1e-9))
    report = {"positives": len(positives), "negative_hours": round(hours, 4)}
    report["hours_by_kind"] = {
        k: round(sum(len(a) for a, c in zip(negative_audio, kinds) if c == k) / 16000 / 3600, 4)
        for k in sorted(set(kinds))
    }
    kinds = np.array(kinds)
    seconds = np.array([len(a) / 16000 for a in negative_audio])
    for name, score in models.items():
        best = np.array([score(s).max() for s in streams_pos])
        negative_scores = [score(s) for s in streams_neg]
        chosen = None
        for threshold in np.round(np.arange(0.01, 1.0, 0.01), 2):
            false = sum(peaks_above(s, threshold, refractory) for s in negative_scores)
            if false <= allowed:
                chosen = (float(threshold), false)
                break
        threshold, false = chosen if chosen else (None, None)
        sweep = {}
        for value in (0.5, 0.7, 0.9, 0.95, 0.99, 0.999):
            counts = np.array([peaks_above(s, value, refractory) for s in negative_scores])
            sweep[str(value)] = {"recall": round(float((best >= value).mean()), 4)}
            for kind in sorted(set(kinds)):
                hours_of_kind = seconds[kinds == kind].sum() / 3600
                sweep[str(value)][f"{kind} false accepts per hour"] = round(
                    counts[kinds == kind].sum() / hours_of_kind, 1
                )
        report[name] = {
            "threshold_for_target": threshold,
            "false_accepts": false,
            "recall_at_target": round(float((best >= threshold).mean()), 4) if threshold else None,
            "sweep": sweep,
        }
    print(json.dumps(report, indent=2))
    (args.run / "compare-openwakeword.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
