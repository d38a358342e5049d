"""The text front-end: normalisation, then phonemes from the CMU dictionary.

Text -> words: numbers, ordinals, money, times, years, abbreviations and symbols are
spelled out; punctuation that shapes prosody (, . ? ! ; : -) is kept as tokens; any
other character is reported and dropped, never a crash. Words -> phonemes: the CMU
Pronouncing Dictionary (the copy shipped with pocketsphinx, or the compact copy inside
dlcli), then the letter-to-sound rules of ``lts.py`` for words it lacks. The model reads
phoneme ids with explicit word boundaries and punctuation, which makes small Tacotrons
align far sooner than characters do.
"""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

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
PUNCTUATION = [",", ".", "?", "!", ";", ":", "-"]
PAD, EOS, SPACE = "<pad>", "<eos>", " "
SYMBOLS = [PAD, EOS, SPACE, *PUNCTUATION, *PHONEMES]
SYMBOL_ID = {symbol: index for index, symbol in enumerate(SYMBOLS)}

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")]
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miz",
    "dr": "doctor",
    "prof": "professor",
    "jr": "junior",
    "sr": "senior",
    "st": "saint",
    "mt": "mount",
    "ave": "avenue",
    "rd": "road",
    "co": "company",
    "ltd": "limited",
    "inc": "incorporated",
    "vs": "versus",
    "etc": "et cetera",
    "approx": "approximately",
    "dept": "department",
    "gen": "general",
    "capt": "captain",
    "sgt": "sergeant",
    "no": "number",
    "jan": "january",
    "feb": "february",
    "mar": "march",
    "apr": "april",
    "aug": "august",
    "sep": "september",
    "sept": "september",
    "oct": "october",
    "nov": "november",
    "dec": "december",
    "mon": "monday",
    "tue": "tuesday",
    "wed": "wednesday",
    "thu": "thursday",
    "fri": "friday",
    "sat": "saturday",
    "sun": "sunday",
}
_NEEDS_NUMBER = {"no"}  # "No. 5" is "number five", "no" alone is a word
_SYMBOL_WORDS = {"&": "and", "@": "at", "+": "plus", "=": "equals", "%": "percent", "#": "number", "/": "slash"}
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}
_QUOTES = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2026": "."}
)

_TOKEN = re.compile(
    r"(?P<money>[$£€]\d[\d,]*(?:\.\d+)?)"
    r"|(?P<time>\b\d{1,2}:\d{2}\b)"
    r"|(?P<ordinal>\b\d+(?:st|nd|rd|th)\b)"
    r"|(?P<decade>\b\d{4}s\b)"
    r"|(?P<number>-?\d[\d,]*(?:\.\d+)?)"
    r"|(?P<abbrev>\b[A-Za-z]+\.(?=\s|$))"
    r"|(?P<word>[A-Za-z]+(?:'[A-Za-z]+)?)"
    r"|(?P<punct>[,.?!;:-])"
    r"|(?P<symbol>[&@+=%#/])"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)"
)


def cardinal(number: int) -> str:
    """Spell a non-negative integer: 1234 -> 'one thousand two hundred thirty four'."""
    if number < 0:
        return "minus " + cardinal(-number)
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    for scale, name in _SCALES:
        if number >= scale:
            head, rest = divmod(number, scale)
            return f"{cardinal(head)} {name}" + ("" if rest == 0 else " " + cardinal(rest))
    raise AssertionError("unreachable")


def ordinal(number: int) -> str:
    """1 -> 'first', 23 -> 'twenty third', 100 -> 'one hundredth'."""
    words = cardinal(number).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year(number: int) -> str:
    """Four-digit years the way people read them: 1995 'nineteen ninety five', 2005 'two thousand five'."""
    if 2000 <= number < 2010:
        return cardinal(number)
    head, tail = divmod(number, 100)
    if tail == 0:
        return cardinal(head) + " hundred"
    return cardinal(head) + (" oh " + _ONES[tail] if tail < 10 else " " + cardinal(tail))


def _number_words(text: str) -> str:
    negative = text.startswith("-")
    digits = text.lstrip("-").replace(",", "")
    whole, _, fraction = digits.partition(".")
    value = int(whole) if whole else 0
    if not fraction and not negative and "," not in text and len(whole) == 4 and 1100 <= value <= 2099:
        words = year(value)
    else:
        words = cardinal(value)
    if fraction:
        words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    return ("minus " if negative else "") + words


def _money_words(text: str) -> str:
    singular, plural, small, smalls = _CURRENCIES[text[0]]
    whole, _, fraction = text[1:].replace(",", "").partition(".")
    units = int(whole or 0)
    words = f"{cardinal(units)} {singular if units == 1 else plural}"
    if fraction:
        cents = int((fraction + "0")[:2])
        if cents:
            words += f" {cardinal(cents)} {small if cents == 1 else smalls}"
    return words


def _time_words(text: str) -> str:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes == 0:
        return f"{cardinal(hours)} o'clock"
    return f"{cardinal(hours)} " + (f"oh {_ONES[minutes]}" if minutes < 10 else cardinal(minutes))


@dataclass
class Normalised:
    tokens: list[str]  # lower-case words and punctuation marks
    dropped: list[str] = field(default_factory=list)  # characters that were not understood

    @property
    def text(self) -> str:
        """Words and punctuation joined back into plain text (what ASR output is compared with)."""
        return " ".join(token for token in self.tokens if token not in PUNCTUATION)


def normalise(text: str) -> Normalised:
    """Spell out everything that is not a plain word; keep prosodic punctuation; report the rest."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    tokens: list[str] = []
    dropped: list[str] = []
    matches = list(_TOKEN.finditer(text))
    for position, match in enumerate(matches):
        kind, value = match.lastgroup, match.group()
        if kind == "money":
            tokens += _money_words(value).split()
        elif kind == "time":
            tokens += _time_words(value).split()
        elif kind == "ordinal":
            tokens += ordinal(int(value[:-2])).split()
        elif kind == "decade":
            words = year(int(value[:-1])).split()
            words[-1] = words[-1][:-1] + "ies" if words[-1].endswith("y") else words[-1] + "s"
            tokens += words
        elif kind == "number":
            if value.startswith("-") and match.start() > 0 and text[match.start() - 1].isdigit():
                tokens.append("-")  # "3-4" is a range, not minus four
                value = value[1:]
            tokens += _number_words(value).split()
        elif kind == "abbrev":
            word = value[:-1].lower()
            following = matches[position + 1 :][:2]
            next_is_digit = any(m.lastgroup == "number" for m in following)
            if word in _ABBREVIATIONS and (word not in _NEEDS_NUMBER or next_is_digit):
                tokens += _ABBREVIATIONS[word].split()
            else:  # an ordinary word that ends a sentence
                tokens += [word, "."]
        elif kind == "word":
            tokens.append(value.lower())
        elif kind == "punct":
            if value == "-" and (not tokens or tokens[-1] in PUNCTUATION):
                continue
            tokens.append(value)
        elif kind == "symbol":
            tokens.append(_SYMBOL_WORDS[value])
        elif kind == "other":
            if value in "\"'()[]{}*_~`^|<>\\":
                continue  # quotes and brackets carry no sound
            dropped.append(value)
    return Normalised(tokens, dropped)


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
