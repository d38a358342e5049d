"""The keyword-spotting tasks: which words are classes (a registry the command line builds its choices from).

Kept free of heavy imports so that ``dlcli --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dlcli.errors import UsageError

UNKNOWN = "_unknown_"
SILENCE = "_silence_"

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
AUXILIARY = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")
ADDED_IN_V2 = ("backward", "follow", "forward", "learn", "visual")
WORDS = COMMANDS + DIGITS + AUXILIARY + ADDED_IN_V2  # the 35 words of v0.02 (v0.01: the first 30)


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """Which words are classes, and what happens to the others."""

    name: str
    keywords: tuple[str, ...] | None  # None: every word of the corpus is a class
    unknown: bool  # other words become UNKNOWN (else they are left out)
    silence: bool  # a SILENCE class cut from the background noise
    description: str

    def labels(self, words: Sequence[str]) -> list[str]:
        """Class names in logit order: keywords, then unknown, then silence."""
        labels = sorted(words) if self.keywords is None else list(self.keywords)
        return labels + ([UNKNOWN] if self.unknown else []) + ([SILENCE] if self.silence else [])

    def label_of(self, word: str, labels: Sequence[str]) -> int | None:
        if word in labels and word not in (UNKNOWN, SILENCE):
            return labels.index(word)
        if word == SILENCE:  # a _silence_ folder of the released test-set layout
            return labels.index(SILENCE) if self.silence else None
        return labels.index(UNKNOWN) if self.unknown else None


TASKS = {
    "35-words": Task("35-words", None, False, False, "every word is a class (v0.01: 30 words)"),
    "20-commands": Task("20-commands", COMMANDS + DIGITS, True, False, "10 commands + 10 digits, others unknown"),
    "10-commands": Task(
        "10-commands", COMMANDS, True, False, "yes no up down left right on off stop go, others unknown"
    ),
    "left-right": Task("left-right", ("left", "right"), True, False, "left and right, others unknown"),
    "12-class": Task("12-class", COMMANDS, True, True, "10 commands + silence + unknown (the literature's task)"),
    "digits": Task("digits", DIGITS, False, False, "zero..nine only, other words left out"),
    # kws train --keywords: every word folder is a keyword, _unknown_ holds the negatives
    "keywords": Task("keywords", None, True, True, "every word folder a keyword + _unknown_ folder + silence"),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise UsageError(f"unknown task '{name}' (use {', '.join(TASKS)})")
    return TASKS[name]
