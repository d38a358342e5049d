"""The text front-end: normalisation, then phonemes from the CMU dictionary.

Text -> words (``normaliser.py``): numbers, ordinals, money, times, years, abbreviations and
symbols are spelled out; punctuation that shapes prosody (, . ? ! ; : -) is kept as tokens;
accents are folded; any other character is reported and dropped, never a crash. Words -> phonemes: the CMU
Pronouncing Dictionary (the copy shipped with pocketsphinx, or the compact copy inside
dlcli), then the letter-to-sound rules of ``lts.py`` for words it lacks. The model reads
phoneme ids with explicit word boundaries and punctuation, which makes small Tacotrons
align far sooner than characters do.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass, field
from pathlib import Path

# the normaliser's names are part of this module's interface (text.normalise, text.cardinal, ...)
from dlcli.tts.normaliser import (  # noqa: F401
    PUNCTUATION,
    Normalised,
    cardinal,
    fold_accents,
    normalise,
    ordinal,
    year,
)

PHONEMES = [
    "AA",
    "AE",
    "AH",
    "AO",
    "AW",
    "AY",
    "B",
    "CH",
    "D",
    "DH",
    "EH",
    "ER",
    "EY",
    "F",
    "G",
    "HH",
    "IH",
    "IY",
    "JH",
    "K",
    "L",
    "M",
    "N",
    "NG",
    "OW",
    "OY",
    "P",
    "R",
    "S",
    "SH",
    "T",
    "TH",
    "UH",
    "UW",
    "V",
    "W",
    "Y",
    "Z",
    "ZH",
]
PAD, EOS, SPACE = "<pad>", "<eos>", " "
SYMBOLS = [PAD, EOS, SPACE, *PUNCTUATION, *PHONEMES]
SYMBOL_ID = {symbol: index for index, symbol in enumerate(SYMBOLS)}


# ----------------------------------------------------------------------------- lexicon

_PACKAGED_DICTIONARY = Path(__file__).with_name("data") / "cmudict.txt.gz"


def _pocketsphinx_dictionary() -> Path | None:
    try:
        import pocketsphinx
    except ImportError:
        return None
    path = Path(pocketsphinx.__file__).parent / "model" / "en-us" / "cmudict-en-us.dict"
    return path if path.is_file() else None


def dictionary_path() -> Path:
    """pocketsphinx's copy of the CMU dictionary when installed, else the compact one shipped with dlcli."""
    return _pocketsphinx_dictionary() or _PACKAGED_DICTIONARY


@functools.cache
def lexicon(path: str | None = None) -> dict[str, tuple[str, ...]]:
    """Word -> phonemes (first pronunciation; stress marks, if any, removed)."""
    source = Path(path) if path else dictionary_path()
    opener = gzip.open if source.suffix == ".gz" else open
    entries: dict[str, tuple[str, ...]] = {}
    with opener(source, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) < 2 or parts[0].startswith(";;;") or "(" in parts[0]:
                continue
            phonemes = tuple(p.rstrip("012") for p in parts[1:])
            if all(p in SYMBOL_ID for p in phonemes):
                entries.setdefault(parts[0].lower(), phonemes)
    return entries


@dataclass
class Phonemised:
    symbols: list[str]  # phonemes, word boundaries and punctuation, ending with <eos>
    ids: list[int]
    words: list[str]  # the normalised words
    guessed: list[str] = field(default_factory=list)  # words spelled by the letter-to-sound rules
    dropped: list[str] = field(default_factory=list)  # characters that were not understood

    @property
    def phoneme_count(self) -> int:
        return sum(symbol in PHONEMES for symbol in self.symbols)


def word_phonemes(word: str, entries: dict[str, tuple[str, ...]] | None = None) -> tuple[tuple[str, ...], bool]:
    """Phonemes of one word and whether they were guessed (not in the dictionary)."""
    from dlcli.tts.lts import letters_to_sounds

    entries = lexicon() if entries is None else entries
    if word in entries:
        return entries[word], False
    if "'" in word:
        stem, _, suffix = word.partition("'")
        if stem in entries and suffix in ("s", "d", "ll", "re", "ve", "t"):
            return entries[stem] + {"s": ("Z",), "d": ("D",), "ll": ("L",), "re": ("R",), "ve": ("V",), "t": ("T",)}[
                suffix
            ], False
    return letters_to_sounds(word), True


def phonemise(text: str) -> Phonemised:
    """Text -> symbol ids the acoustic model reads (see the module docstring)."""
    normalised = normalise(text)
    entries = lexicon()
    symbols: list[str] = []
    words: list[str] = []
    guessed: list[str] = []
    for token in normalised.tokens:
        if token in PUNCTUATION:
            if symbols and symbols[-1] == SPACE:
                symbols.pop()
            symbols += [token, SPACE]
            continue
        phonemes, was_guessed = word_phonemes(token, entries)
        if not phonemes:
            continue
        if was_guessed:
            guessed.append(token)
        words.append(token)
        symbols += [*phonemes, SPACE]
    while symbols and symbols[-1] == SPACE:
        symbols.pop()
    symbols.append(EOS)
    return Phonemised(symbols, [SYMBOL_ID[s] for s in symbols], words, guessed, normalised.dropped)
