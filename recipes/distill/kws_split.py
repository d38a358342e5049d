"""Split a Speech Commands-layout corpus by voice for the distillation experiment.

The teachers and the student learn from the labelled voices only; the transfer set is
made of *other* voices, written without labels (flat, shuffled, neutral names), so the
distillation sees speakers none of the models trained on, as in the dissertation's
chapter 4. Validation and testing voices (the corpus's lists) stay labelled for early
stopping and the final report. Clips are symbolic links: no audio is copied.

    python recipes/distill/kws_split.py CORPUS OUT --labelled-voices 80 [--transfer-voices 160]

writes ``OUT/labelled`` (Speech Commands layout with the corpus's validation and testing
lists) and ``OUT/transfer`` (``clip-NNNNN.flac``).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
from pathlib import Path

AUDIO = {".wav", ".flac", ".ogg"}
LISTS = ("validation_list.txt", "testing_list.txt")


def voice_of(path: Path) -> str:
    return path.name.split("_nohash_")[0]


def link(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(source.resolve(), dest.parent.resolve()), dest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--labelled-voices", type=int, default=80)
    parser.add_argument("--transfer-voices", type=int, default=None, help="default: all the other training voices")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    held_out = set()
    for name in LISTS:
        listed = args.corpus / name
        if not listed.is_file():
            sys.exit(f"error: {listed}: missing (the corpus must name its validation and testing clips)")
        held_out |= {line.strip() for line in listed.read_text().splitlines() if line.strip()}

    clips = sorted(
        p
        for p in args.corpus.glob("*/*")
        if p.suffix.lower() in AUDIO and not p.parent.name.startswith("_") and "_nohash_" in p.name
    )
    training = [p for p in clips if f"{p.parent.name}/{p.name}" not in held_out]
    voices = sorted({voice_of(p) for p in training})
    random.Random(args.seed).shuffle(voices)
    labelled = set(voices[: args.labelled_voices])
    rest = voices[args.labelled_voices :]
    transfer = set(rest[: args.transfer_voices] if args.transfer_voices else rest)
    if not labelled or not transfer:
        sys.exit(f"error: {args.corpus}: {len(voices)} training voices cannot make both sets")

    if args.out.exists():
        shutil.rmtree(args.out)
    for clip in clips:
        if f"{clip.parent.name}/{clip.name}" in held_out or voice_of(clip) in labelled:
            link(clip, args.out / "labelled" / clip.parent.name / clip.name)
    for name in LISTS:
        shutil.copyfile(args.corpus / name, args.out / "labelled" / name)
    noise = args.corpus / "_background_noise_"
    if noise.is_dir():
        link(noise, args.out / "labelled" / "_background_noise_")

    unlabeled = [p for p in training if voice_of(p) in transfer]
    random.Random(args.seed + 1).shuffle(unlabeled)
    for index, clip in enumerate(unlabeled):
        link(clip, args.out / "transfer" / f"clip-{index:05d}{clip.suffix}")
    print(
        f"{args.out}: {len(labelled)} labelled voices, {len(transfer)} transfer voices "
        f"({len(unlabeled)} unlabeled clips), validation and testing voices from the corpus lists"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
