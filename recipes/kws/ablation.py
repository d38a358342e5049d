"""Ablation of the robustness methods on real spoken digits, trained on synthetic voices only.

Every row trains the embedding front end's head with ``dlcli kws train`` on the same seeded
subset of the synthetic digits corpus (``--max-train-clips``, ``--data-seed``), with one
offline copy of every clip made by the row's distortions (``--augment offline --copies 1
--distortions NAME``), the same epochs, and three seeds of the head on the same embedded
features; then scores every run on all real FSDD clips and the synthetic test voices
(``score_digits.py``: each test set embedded once). Rows:

- ``default``: the shipped setting, no copies (half the steps of the others);
- ``none``: one plain repeat of every clip: the same budget without augmentation, the baseline;
- one row per distortion of ``dlcli.kws.perturb`` (``paper`` is the dissertation's five), ``mixup``;
- ``voices80``: the same number of clips from 80 voices (all ten digits each) instead of ~320;
- ``combined``: the distortions of ``--combine``, all of them on every copy;
- ``combined-one``: the same distortions, one of them (at random) per copy.

Resumable: a run with ``score-digits.json`` is kept. Writes OUT/ablation.json and OUT/ablation.md.

    python recipes/kws/ablation.py runs/kt/digits400 --real runs/fsdd6 \\
        --background ../shared/data/speech-commands-background-noise --out runs/ablation
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROWS = {
    "default": [],
    "none": ["--distortions", "none"],
    "paper": ["--distortions", "paper"],
    "noise": ["--distortions", "noise"],
    "speed": ["--distortions", "speed"],
    "pitch": ["--distortions", "pitch"],
    "vtlp": ["--distortions", "vtlp"],
    "formant": ["--distortions", "formant"],
    "room": ["--distortions", "room"],
    "band": ["--distortions", "band"],
    "codec": ["--distortions", "codec"],
    "specaugment": ["--distortions", "specaugment"],
    "mixup": ["--distortions", "none", "--mixup", "0.4"],
    "voices80": ["--distortions", "none"],
}
HERE = Path(__file__).resolve().parent


def voice_subset(corpus: Path, out: Path, voices: int, seed: int) -> Path:
    """A corpus with only ``voices`` of the training voices (symbolic links), validation and test kept."""
    import random

    from dlcli.kws.data import speaker_of

    listed = set()
    for name in ("validation_list.txt", "testing_list.txt"):
        listed |= set((corpus / name).read_text().split())
    words = [d for d in sorted(corpus.iterdir()) if d.is_dir() and not d.name.startswith("_")]
    training = sorted({speaker_of(p) for w in words for p in w.iterdir() if f"{w.name}/{p.name}" not in listed})
    keep = set(random.Random(seed).sample(training, voices))
    for word in words:
        (out / word.name).mkdir(parents=True, exist_ok=True)
        for path in word.iterdir():
            name = f"{word.name}/{path.name}"
            if name in listed or speaker_of(path) in keep:
                link = out / name
                if not link.is_symlink():
                    os.symlink(path.resolve(), link)
    for name in ("validation_list.txt", "testing_list.txt"):
        (out / name).write_text((corpus / name).read_text())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="synthetic digits corpus (synth-corpus --voices 400)")
    parser.add_argument("--real", type=Path, required=True, help="FSDD in the Speech Commands layout")
    parser.add_argument("--background", type=Path, required=True, help="real noise recordings (the noise row)")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--rows", default=",".join(ROWS), help="which rows, in order")
    parser.add_argument("--combine", default="", help="distortions of the combined row, e.g. band,room")
    parser.add_argument("--combine-mixup", type=float, default=0.0, help="mixup alpha of the combined row")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--clips", type=int, default=800, help="training clips (a seeded subset)")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--table-only", action="store_true", help="write the table from finished runs")
    args = parser.parse_args()
    rows = dict(ROWS)
    if args.combine:
        rows["combined"] = ["--distortions", args.combine] + (["--mixup", str(args.combine_mixup)] if args.combine_mixup else [])  # fmt: skip
        rows["combined-one"] = [*rows["combined"], "--distortion-mode", "one"]
    names = [r for r in args.rows.split(",") if r]
    names += [r for r in ("combined", "combined-one") if args.combine and r not in names]
    unknown = [r for r in names if r not in rows]
    if unknown:
        print(f"error: unknown rows {unknown}; known: {', '.join(rows)}", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    python = sys.executable
    for row in [] if args.table_only else names:
        corpus = args.corpus
        if row == "voices80":
            corpus = voice_subset(args.corpus, args.out / "corpus-voices80", 80, args.data_seed)
        for seed in seeds:
            run = args.out / f"{row}-s{seed}"
            if (run / "score-digits.json").is_file():
                continue
            command = [python, "-m", "dlcli", "--quiet", "--seed", str(seed), "kws", "train", str(corpus),
                       "--out", str(run), "--frontend", "embedding", "--task", "digits",
                       "--max-train-clips", str(args.clips), "--data-seed", str(args.data_seed),
                       "--background", str(args.background), "--overwrite"]  # fmt: skip
            if row != "default":
                command += ["--augment", "offline", "--copies", "1", *rows[row]]
            started = time.time()
            subprocess.run(command, check=True, env=env)
            trained = time.time() - started
            subprocess.run([python, str(HERE / "score_digits.py"), "--real", str(args.real), "--synthetic", str(args.corpus), str(run)], check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
            score = json.loads((run / "score-digits.json").read_text())
            score["train_seconds"] = round(trained, 1)
            (run / "score-digits.json").write_text(json.dumps(score, indent=2) + "\n")
            print(f"{row} seed {seed}: real {score['real_accuracy']:.4f} synthetic {score['synthetic_accuracy']:.4f} ({trained:.0f} s)", flush=True)  # fmt: skip
    table = []
    for row in names:
        scores = [json.loads(p.read_text()) for s in seeds if (p := args.out / f"{row}-s{s}" / "score-digits.json").is_file()]  # fmt: skip
        if not scores:
            continue
        real = [100 * s["real_accuracy"] for s in scores]
        synthetic = [100 * s["synthetic_accuracy"] for s in scores]
        table.append({
            "row": row, "options": (" ".join(rows[row]) or "(none: no copies)") + (" (80 training voices)" if row == "voices80" else ""), "seeds": len(scores),
            "real": real, "real_mean": statistics.mean(real), "real_std": statistics.stdev(real) if len(real) > 1 else 0.0,
            "synthetic_mean": statistics.mean(synthetic),
            "by_speaker": {k: statistics.mean(100 * s["real_by_speaker"][k] for s in scores) for k in scores[0]["real_by_speaker"]},
        })  # fmt: skip
    baseline = next((t["real_mean"] for t in table if t["row"] == "none"), None)
    lines = ["| row | options | real, 6 speakers (per seed) | real mean ± std | vs `none` | synthetic test voices |",
             "|---|---|---|---:|---:|---:|"]  # fmt: skip
    for t in table:
        delta = f"{t['real_mean'] - baseline:+.1f}" if baseline is not None else ""
        per_seed = ", ".join(f"{v:.1f}" for v in t["real"])
        lines.append(f"| {t['row']} | `{t['options']}` | {per_seed} | {t['real_mean']:.1f} ± {t['real_std']:.1f}% | {delta} | {t['synthetic_mean']:.1f}% |")  # fmt: skip
    speakers = list(table[0]["by_speaker"]) if table else []
    lines += ["", "| row | " + " | ".join(speakers) + " |", "|---|" + "---:|" * len(speakers)]
    for t in table:
        lines.append(f"| {t['row']} | " + " | ".join(f"{t['by_speaker'][k]:.1f}%" for k in speakers) + " |")
    (args.out / "ablation.json").write_text(json.dumps(table, indent=2) + "\n")
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
