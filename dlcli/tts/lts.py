"""Letter-to-sound rules for words the CMU dictionary lacks (names, coinages, typos).

A greedy longest-match over English spelling patterns, with the contexts that decide
most English vowels and soft consonants: a silent final e that lengthens the vowel
before it ("made"), c and g softened before e/i/y, vowel pairs. It is a fallback: words
it spells are reported to the user, and the dictionary always wins.
"""

from __future__ import annotations

_VOWELS = set("aeiouy")
_FRONT = set("eiy")

# multi-letter patterns first (longest match wins); values are phoneme strings
_PATTERNS = {
    "tion": "SH AH N",
    "sion": "ZH AH N",
    "ture": "CH ER",
    "ough": "AO",
    "augh": "AO",
    "eigh": "EY",
    "igh": "AY",
    "tch": "CH",
    "dge": "JH",
    "sch": "S K",
    "que": "K",
    "ck": "K",
    "ch": "CH",
    "sh": "SH",
    "th": "TH",
    "ph": "F",
    "wh": "W",
    "ng": "NG",
    "qu": "K W",
    "kn": "N",
    "wr": "R",
    "gh": "G",
    "ee": "IY",
    "ea": "IY",
    "oo": "UW",
    "ai": "EY",
    "ay": "EY",
    "ei": "EY",
    "ey": "IY",
    "oa": "OW",
    "oe": "OW",
    "ou": "AW",
    "ow": "OW",
    "oi": "OY",
    "oy": "OY",
    "au": "AO",
    "aw": "AO",
    "ew": "UW",
    "ie": "IY",
    "ue": "UW",
    "ar": "AA R",
    "er": "ER",
    "ir": "ER",
    "ur": "ER",
    "or": "AO R",
    "ll": "L",
    "ss": "S",
    "ff": "F",
    "tt": "T",
    "pp": "P",
    "bb": "B",
    "dd": "D",
    "mm": "M",
    "nn": "N",
    "rr": "R",
    "zz": "Z",
    "cc": "K",
    "gg": "G",
}
_SHORT = {"a": "AE", "e": "EH", "i": "IH", "o": "AA", "u": "AH", "y": "IH"}
_LONG = {"a": "EY", "e": "IY", "i": "AY", "o": "OW", "u": "UW", "y": "AY"}
_CONSONANTS = {
    "b": "B",
    "c": "K",
    "d": "D",
    "f": "F",
    "g": "G",
    "h": "HH",
    "j": "JH",
    "k": "K",
    "l": "L",
    "m": "M",
    "n": "N",
    "p": "P",
    "q": "K",
    "r": "R",
    "s": "S",
    "t": "T",
    "v": "V",
    "w": "W",
    "x": "K S",
    "z": "Z",
}
_LONGEST = max(map(len, _PATTERNS))


def _silent_final_e(word: str, index: int) -> bool:
    return index == len(word) - 1 and word[index] == "e" and len(word) > 2 and any(c in _VOWELS for c in word[:-1])


def _magic_e(word: str, index: int) -> bool:
    """A vowel, one consonant, then a final e: the vowel says its name ("made", "ride")."""
    rest = word[index + 1 :]
    return len(rest) == 2 and rest[0] not in _VOWELS and rest[1] == "e" and len(word) > 3


def letters_to_sounds(word: str) -> tuple[str, ...]:
    """Phonemes (ARPAbet, no stress) for a lower-case word; letters outside a-z are skipped."""
    word = "".join(c for c in word.lower() if "a" <= c <= "z")
    if not word:
        return ()
    if len(word) <= 3 and not any(c in _VOWELS for c in word):
        return _spell(word)  # an abbreviation: "bbc" -> B IY B IY S IY
    phonemes: list[str] = []
    index = 0
    while index < len(word):
        for length in range(min(_LONGEST, len(word) - index), 1, -1):
            chunk = word[index : index + length]
            if chunk in _PATTERNS:
                phonemes += _PATTERNS[chunk].split()
                index += length
                break
        else:
            letter = word[index]
            following = word[index + 1 : index + 2]
            if _silent_final_e(word, index):
                pass
            elif letter in _VOWELS:
                if letter == "y" and index == 0:
                    phonemes.append("Y")
                elif letter == "y" and index == len(word) - 1:
                    phonemes.append("IY" if len(word) > 3 else "AY")
                elif _magic_e(word, index) or (index == len(word) - 1 and letter in "oi"):
                    phonemes.append(_LONG[letter])
                else:
                    phonemes.append(_SHORT[letter])
            elif letter == "c":
                phonemes.append("S" if following in _FRONT else "K")
            elif letter == "g":
                phonemes.append("JH" if following in _FRONT and index > 0 else "G")
            elif letter == "s" and 0 < index < len(word) - 1 and word[index - 1] in _VOWELS and following in _VOWELS:
                phonemes.append("Z")
            else:
                phonemes += _CONSONANTS[letter].split()
            index += 1
    return tuple(phonemes)


_LETTER_NAMES = {
    "a": "EY",
    "b": "B IY",
    "c": "S IY",
    "d": "D IY",
    "e": "IY",
    "f": "EH F",
    "g": "JH IY",
    "h": "EY CH",
    "i": "AY",
    "j": "JH EY",
    "k": "K EY",
    "l": "EH L",
    "m": "EH M",
    "n": "EH N",
    "o": "OW",
    "p": "P IY",
    "q": "K Y UW",
    "r": "AA R",
    "s": "EH S",
    "t": "T IY",
    "u": "Y UW",
    "v": "V IY",
    "w": "D AH B AH L Y UW",
    "x": "EH K S",
    "y": "W AY",
    "z": "Z IY",
}


def _spell(word: str) -> tuple[str, ...]:
    return tuple(p for letter in word for p in _LETTER_NAMES[letter].split())
