"""Letter-to-sound for words the CMU dictionary lacks (names, coinages, typos), learned from the dictionary.

Each dictionary word is aligned letter by letter to its phonemes (a letter says nothing,
one phoneme, or a pair such as x -> K S), by hard expectation-maximisation over
letter -> phoneme-chunk probabilities. A letter's chunk is then predicted from the
letters around it with back-off: the widest context window seen in the dictionary
decides, down to the letter alone (in the spirit of the context-window classifiers of
Daelemans & van den Bosch, 1996). Only contexts that change the narrower context's
answer are kept, which keeps the table small enough to ship
(``data/lts.json.gz``, rebuilt by ``python -m dlcli.tts.lts``).
"""

from __future__ import annotations

import functools
import gzip
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

TABLE = Path(__file__).with_name("data") / "lts.json.gz"
# context windows (letters left, letters right), narrowest first: each backs off to the previous one
WINDOWS = ((0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (2, 3), (3, 3))
_PAIR = "+"  # joins the two phonemes of a two-phoneme chunk in the table
_LETTER_NAMES = {
    "a": "EY", "b": "B IY", "c": "S IY", "d": "D IY", "e": "IY", "f": "EH F", "g": "JH IY", "h": "EY CH",
    "i": "AY", "j": "JH EY", "k": "K EY", "l": "EH L", "m": "EH M", "n": "EH N", "o": "OW", "p": "P IY",
    "q": "K Y UW", "r": "AA R", "s": "EH S", "t": "T IY", "u": "Y UW", "v": "V IY", "w": "D AH B AH L Y UW",
    "x": "EH K S", "y": "W AY", "z": "Z IY",
}  # fmt: skip


# ----------------------------------------------------------------------------- alignment


def _align(word: str, phonemes: tuple[str, ...], score) -> list[str] | None:
    """Best chunk per letter (``""``, one phoneme, or two joined by +) under ``score(letter, chunk)``."""
    n, m = len(word), len(phonemes)
    best = [[-math.inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, str] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for i in range(n):
        letter = word[i]
        for j in range(m + 1):
            if best[i][j] == -math.inf:
                continue
            for width in (0, 1, 2):
                if j + width > m:
                    break
                chunk = _PAIR.join(phonemes[j : j + width])
                value = best[i][j] + score(letter, chunk)
                if value > best[i + 1][j + width]:
                    best[i + 1][j + width] = value
                    back[i + 1][j + width] = (j, chunk)
    if best[n][m] == -math.inf:
        return None
    chunks, j = [], m
    for i in range(n, 0, -1):
        j, chunk = back[i][j]
        chunks.append(chunk)
    return chunks[::-1]


def align_lexicon(entries: dict[str, tuple[str, ...]], iterations: int = 4) -> dict[str, list[str]]:
    """Hard-EM alignment of every word to its phonemes (words that cannot be aligned are left out)."""
    log_prob: dict[tuple[str, str], float] = {}

    def score(letter: str, chunk: str) -> float:
        if not log_prob:  # first pass: prefer one phoneme per letter
            return {0: -1.0, 1: 0.0}.get(chunk.count(_PAIR) + bool(chunk), -2.0)
        return log_prob.get((letter, chunk), -12.0)

    aligned: dict[str, list[str]] = {}
    for _ in range(iterations):
        counts: Counter = Counter()
        letters: Counter = Counter()
        aligned = {}
        for word, phonemes in entries.items():
            chunks = _align(word, phonemes, score)
            if chunks is None:
                continue
            aligned[word] = chunks
            for letter, chunk in zip(word, chunks):
                counts[letter, chunk] += 1
                letters[letter] += 1
        log_prob = {(letter, chunk): math.log(c / letters[letter]) for (letter, chunk), c in counts.items()}
    return aligned


# ----------------------------------------------------------------------------- the context table


def _context(padded: str, index: int, window: tuple[int, int]) -> str:
    left, right = window
    return padded[index - left : index + right + 1] + f"/{left}"


def build_table(aligned: dict[str, list[str]], min_count: int = 2) -> dict[str, str]:
    """Context -> chunk, keeping a context only where it changes the narrower context's answer."""
    pad = "###"
    counts: dict[str, Counter] = defaultdict(Counter)
    for word, chunks in aligned.items():
        padded = pad + word + pad
        for i, chunk in enumerate(chunks):
            for window in WINDOWS:
                counts[_context(padded, i + len(pad), window)][chunk] += 1
    table: dict[str, str] = {}
    for word, chunks in aligned.items():  # walk contexts in back-off order, word by word
        padded = pad + word + pad
        for i in range(len(chunks)):
            answer = None
            for window in WINDOWS:
                key = _context(padded, i + len(pad), window)
                if key in table:
                    answer = table[key]
                    continue
                chunk, count = counts[key].most_common(1)[0]
                if answer is None or (chunk != answer and count >= min_count):
                    table[key] = chunk
                    answer = chunk
    return table


@functools.cache
def _table() -> dict[str, str]:
    with gzip.open(TABLE, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def predict(word: str, table: dict[str, str] | None = None) -> tuple[str, ...]:
    table = _table() if table is None else table
    pad = "###"
    padded = pad + word + pad
    phonemes: list[str] = []
    for i in range(len(word)):
        answer = ""
        for window in WINDOWS:
            answer = table.get(_context(padded, i + len(pad), window), answer)
        if answer:
            phonemes += answer.split(_PAIR)
    return tuple(phonemes)


def letters_to_sounds(word: str) -> tuple[str, ...]:
    """Phonemes (ARPAbet, no stress) for a lower-case word; letters outside a-z are skipped."""
    word = "".join(c for c in word.lower() if "a" <= c <= "z")
    if not word:
        return ()
    if len(word) <= 3 and not any(c in "aeiouy" for c in word):
        return tuple(p for letter in word for p in _LETTER_NAMES[letter].split())  # "bbc" -> B IY B IY S IY
    return predict(word)


def main() -> None:  # pragma: no cover - rebuilds the shipped table
    import random

    from dlcli.tts.text import _PACKAGED_DICTIONARY, lexicon

    entries = {w: p for w, p in lexicon(str(_PACKAGED_DICTIONARY)).items() if w.isalpha()}
    words = sorted(entries)
    random.Random(0).shuffle(words)
    held_out = set(words[:2000])
    aligned = align_lexicon({w: entries[w] for w in words[2000:]})
    table = build_table(aligned)
    exact = sum(predict(w, table) == entries[w] for w in held_out)
    print(
        f"{len(aligned)} words aligned, {len(table)} contexts; held-out exact words {100 * exact / len(held_out):.1f}%"
    )
    TABLE.parent.mkdir(exist_ok=True)
    with gzip.open(TABLE, "wt", encoding="utf-8", compresslevel=9) as handle:
        json.dump(table, handle, separators=(",", ":"))


if __name__ == "__main__":  # pragma: no cover
    main()
