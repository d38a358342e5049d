"""A keyword model made from text by `dlcli kws train --keywords` beside openWakeWord's shipped model.

Both are scored on the same audio: every held-out voice's keyword clip (the corpus's testing split)
inside 0.5 s of silence, and keyword-free negatives: the testing voices' generated speech (an hour of
general speech and the near-miss stream), and optionally real speech and real noise recordings. Each
model keeps its own post-processing: dlcli's is `kws infer --stream`'s (a window every 0.1 s, 0.3 s
smoothing), openWakeWord's a score every 80 ms on 16 embeddings, unsmoothed; both then count a
detection at every crossing of the threshold followed by 1 s of quiet. Each model's threshold is
calibrated the same way, on the validation voices' speech `kws train --keywords` calibrated dlcli's on
(the lowest with at most TARGET false accepts per hour there: the hour of general speech and the
near-miss stream together, and the hour of general speech alone); a clip is recalled when it is detected.
Real speech and noise are test-only.

    python recipes/kws/compare_openwakeword.py runs/kw-jarvis --openwakeword hey_jarvis_v0.1.onnx \
        --negatives ../shared/data/speech-commands-background-noise --speech ../shared/data/librispeech-speakers
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from dlcli.audio import list_audio_files, load_audio
from dlcli.kws.data import scan_corpus
from dlcli.kws.embedding import EMBEDDING_STEP, cached_stream, resource_folder
from dlcli.kws.infer import StreamConfig, detect, window_probabilities
from dlcli.kws.keywords import THRESHOLDS
from dlcli.kws.predictor import load_predictor, onnx_session

PAD = 8000  # 0.5 s of silence around each positive clip
RATE = 16000


class Dlcli:
    """dlcli's model exactly as `kws infer --stream` runs it."""

    def __init__(self, run: Path):
        self.predictor = load_predictor(run, device="cpu")
        self.config = StreamConfig()
        self.hop = int(round(self.config.hop_seconds * RATE))

    def scores(self, audio: np.ndarray) -> np.ndarray:  # (windows,) keyword probability
        probabilities = window_probabilities(self.predictor, audio, self.hop, cache=True)
        return probabilities[:, self.predictor.keyword_indices].max(axis=1)


class OpenWakeWord:
    """openWakeWord's model on the same front end: 16 embeddings, a score every 80 ms, no smoothing."""

    def __init__(self, model: str):
        self.session = onnx_session(resource_folder() / model)
        self.name = self.session.get_inputs()[0].name
        self.config = StreamConfig(hop_seconds=EMBEDDING_STEP / RATE, smooth_seconds=0.0)

    def scores(self, audio: np.ndarray) -> np.ndarray:
        stream = cached_stream(audio)
        if len(stream) < 16:
            stream = np.pad(stream, ((16 - len(stream), 0), (0, 0)))
        windows = np.lib.stride_tricks.sliding_window_view(stream, (16, stream.shape[1]))[:, 0]
        return np.array([self.session.run(None, {self.name: w[None].astype(np.float32)})[0].item() for w in windows])


def count(scores: np.ndarray, config: StreamConfig, threshold: float) -> int:
    return len(detect(scores[:, None], [0], config.hop_seconds, dataclasses.replace(config, threshold=threshold)))


def _at(value: float, best: np.ndarray, scored: dict, config: StreamConfig, hours: dict) -> dict:
    """Recall and false accepts of each kind of negatives at threshold ``value``."""
    row = {"recall": round(float((best >= value).mean()), 4)}
    for kind, series in scored.items():
        false = sum(count(s, config, value) for s in series)
        row[kind] = {"false_accepts": false, "per_hour": round(false / hours[kind], 2)}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder of kws train --keywords (keywords.json inside)")
    parser.add_argument("--openwakeword", default="hey_jarvis_v0.1.onnx", help="model file of the openwakeword wheel")
    parser.add_argument("--negatives", type=Path, action="append", default=[], help="keyword-free noise recordings")
    parser.add_argument("--speech", type=Path, action="append", default=[], help="keyword-free real speech")
    parser.add_argument("--target", type=float, default=1.0, help="false accepts per hour allowed on validation speech")
    parser.add_argument("--out", type=Path, help="JSON report (default: RUN/compare-MODEL.json)")
    args = parser.parse_args()
    info = json.loads((args.run / "keywords.json").read_text())
    streams = info["streams"]
    models = {"dlcli": Dlcli(args.run), "openwakeword": OpenWakeWord(args.openwakeword)}
    predictor = models["dlcli"].predictor
    label = predictor.labels[predictor.keyword_indices[0]]
    positives = [c.path for c in scan_corpus(info["corpus"]).clips if c.split == "testing" and c.word == label]
    negatives = {"generated general speech": [Path(streams["testing_general"])] if "testing_general" in streams else []}
    negatives["generated near misses"] = [Path(streams["testing_near_miss"])]
    negatives["real speech"] = [f for folder in args.speech for f in list_audio_files(folder)]
    negatives["real noise"] = [f for folder in args.negatives for f in list_audio_files(folder)]
    audio = {
        path: load_audio(path, RATE)[0] for path in [*map(Path, streams["calibration"])] + sum(negatives.values(), [])
    }
    hours = {kind: sum(len(audio[p]) for p in paths) / RATE / 3600 for kind, paths in negatives.items() if paths}
    calibration_hours = sum(len(audio[Path(p)]) for p in streams["calibration"]) / RATE / 3600
    allowed = int(np.floor(args.target * calibration_hours + 1e-9))
    report = {"positives": len(positives), "hours": {k: round(v, 4) for k, v in hours.items()}}
    report["calibration_hours"], report["allowed_false_accepts"] = round(calibration_hours, 4), allowed
    for name, model in models.items():
        print(f"scoring {name}", file=sys.stderr, flush=True)
        validation = [model.scores(audio[Path(p)]) for p in streams["calibration"]]
        threshold = next(
            (t for t in THRESHOLDS if sum(count(s, model.config, t) for s in validation) <= allowed), THRESHOLDS[-1]
        )
        general_hours = len(audio[Path(streams["calibration"][0])]) / RATE / 3600  # the hour of general speech alone
        general_allowed = int(np.floor(args.target * general_hours + 1e-9))
        general_threshold = next(
            (t for t in THRESHOLDS if count(validation[0], model.config, t) <= general_allowed), THRESHOLDS[-1]
        )
        best = []
        for path in positives:
            scores = model.scores(np.pad(load_audio(path, RATE)[0], (PAD, PAD)))
            span = max(1, int(round(model.config.smooth_seconds / model.config.hop_seconds)))
            best.append(np.convolve(scores, np.ones(span) / span, mode="same").max())  # the detector's smoothed peak
        best = np.array(best)
        scored = {kind: [model.scores(audio[p]) for p in paths] for kind, paths in negatives.items() if paths}

        report[name] = {"threshold": threshold, "at_threshold": _at(threshold, best, scored, model.config, hours)}
        report[name]["threshold_general_speech_only"] = general_threshold
        report[name]["at_threshold_general_speech_only"] = _at(general_threshold, best, scored, model.config, hours)
        report[name]["sweep"] = {str(v): _at(v, best, scored, model.config, hours) for v in (0.5, 0.9, 0.99, 0.999)}
        print(json.dumps({name: report[name]["at_threshold"], "threshold": threshold}), file=sys.stderr, flush=True)
    text = json.dumps(report, indent=2)
    print(text)
    (args.out or args.run / f"compare-{Path(args.openwakeword).stem}.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
