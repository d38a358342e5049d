"""Give the Free Spoken Digit Dataset the Speech Commands layout, split by speaker.

FSDD names its clips ``{digit}_{speaker}_{index}.wav|flac`` in one folder. This writes
``OUT/{zero..nine}/{speaker}_nohash_{index}.flac`` as symbolic links (no audio is copied),
``testing_list.txt`` with every clip of the test speakers and ``validation_list.txt`` with
every tenth clip of the others, so ``dlcli kws train/evaluate --task digits`` use it as is.

    python recipes/kws/fsdd_layout.py ../shared/data/free-spoken-digit/recordings runs/fsdd --test-speakers lucas,theo
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
PATTERN = re.compile(r"^(\d)_([a-z]+)_(\d+)\.(wav|flac)$")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recordings", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--test-speakers", default="lucas,theo")
    args = parser.parse_args()
    test_speakers = set(args.test_speakers.split(","))
    clips = sorted(p for p in args.recordings.iterdir() if PATTERN.match(p.name))
    if not clips:
        print(f"error: {args.recordings}: no FSDD clips (digit_speaker_index.wav)", file=sys.stderr)
        return 3
    speakers = {PATTERN.match(p.name).group(2) for p in clips}
    if not test_speakers <= speakers:
        print(
            f"error: unknown test speakers {sorted(test_speakers - speakers)}; FSDD has {sorted(speakers)}",
            file=sys.stderr,
        )
        return 2
    validation, testing = [], []
    for path in clips:
        digit, speaker, index, extension = PATTERN.match(path.name).groups()
        name = f"{NAMES[int(digit)]}/{speaker}_nohash_{index}.{extension}"
        link = args.out / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(path.resolve(), link)
        if speaker in test_speakers:
            testing.append(name)
        elif int(index) % 10 == 0:
            validation.append(name)
    (args.out / "testing_list.txt").write_text("".join(f"{n}\n" for n in testing))
    (args.out / "validation_list.txt").write_text("".join(f"{n}\n" for n in validation))
    print(
        f"{len(clips)} clips of {len(speakers)} speakers; testing {len(testing)} ({', '.join(sorted(test_speakers))}), validation {len(validation)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
