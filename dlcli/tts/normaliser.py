"""Text normalisation: everything that is not a plain word is spelled out the way people read it.

Numbers, ordinals, years and decimals are spelled by num2words (without the British "and":
flite, whose voices the corpus is made of, reads 101 as "one hundred one"); money, times,
fractions, units, decades, weekdays, months, titles and street names by the rules below,
which look at the words around a token before they expand it ("He sat." is not Saturday,
"Sat. 5 May" is). Latin letters with accents are folded to their base letters; prosodic
punctuation (, . ? ! ; : -) is kept as tokens; any other character is reported and dropped,
never a crash. ``python -m dlcli.tts.normaliser "text" ...`` prints the spoken form.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, field

from num2words import num2words

PUNCTUATION = [",", ".", "?", "!", ";", ":", "-"]

# ----------------------------------------------------------------------------- numbers (num2words)


def _plain(words: str) -> str:
    """num2words' text as bare words: hyphens and commas become spaces, and the British "and" goes
    (flite, whose voices the corpus is made of, reads 101 as "one hundred one")."""
    return " ".join(word for word in re.split(r"[\s,-]+", words) if word and word != "and")


_DIGIT_BY_DIGIT = 10**15  # from here on a number is an identifier (a card, an account): read its digits


def cardinal(number: int) -> str:
    """1234 -> 'one thousand two hundred thirty four'; -5 -> 'minus five'; 16 digits and more digit by digit."""
    if abs(number) >= _DIGIT_BY_DIGIT:
        return ("minus " if number < 0 else "") + " ".join(_plain(num2words(int(d))) for d in str(abs(number)))
    return _plain(num2words(number))


def ordinal(number: int) -> str:
    """1 -> 'first', 23 -> 'twenty third', 100 -> 'one hundredth'."""
    if number >= _DIGIT_BY_DIGIT:
        head, last = divmod(number, 10)
        return f"{' '.join(_plain(num2words(int(d))) for d in str(head))} {ordinal(last)}"
    return _plain(num2words(number, to="ordinal"))


def year(number: int) -> str:
    """Years the way people read them: 1995 'nineteen ninety five', 2005 'two thousand five', 2024 'twenty twenty four'."""
    return _plain(num2words(number, to="year"))


def _digits(fraction: str) -> str:
    return " ".join(cardinal(int(digit)) for digit in fraction)


def _decimal(text: str) -> str:
    """'1,234.05' -> 'one thousand two hundred thirty four point zero five' (digits after the point one by one)."""
    whole, _, fraction = text.replace(",", "").partition(".")
    words = cardinal(int(whole or 0))
    return words + (" point " + _digits(fraction) if fraction else "")


def _plural(word: str) -> str:
    """The plural of a number word (for decades and fractions): twenty -> twenties, third -> thirds."""
    if word.endswith("y"):
        return word[:-1] + "ies"
    if word.endswith("x"):
        return word + "es"
    return word + "s"


_SCALE_WORDS = {
    "thousand": "thousand",
    "k": "thousand",
    "million": "million",
    "m": "million",
    "mn": "million",
    "billion": "billion",
    "b": "billion",
    "bn": "billion",
    "trillion": "trillion",
    "tn": "trillion",
}
_CURRENCIES = {  # symbol -> (one, many, one of the hundredth, many of the hundredth)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", None, None),
}
_UNITS = {  # after a number: (one, many)
    "km": ("kilometer", "kilometers"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kmh": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "ml": ("milliliter", "milliliters"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ft": ("foot", "feet"),
    "kb": ("kilobyte", "kilobytes"),
    "mb": ("megabyte", "megabytes"),
    "gb": ("gigabyte", "gigabytes"),
    "tb": ("terabyte", "terabytes"),
    "hz": ("hertz", "hertz"),
    "khz": ("kilo hertz", "kilo hertz"),
    "mhz": ("megahertz", "megahertz"),
    "ghz": ("giga hertz", "giga hertz"),
    "kw": ("kilowatt", "kilowatts"),
    "kwh": ("kilowatt hour", "kilowatt hours"),
}


def _money_words(text: str) -> str:
    """'$12.50' -> 'twelve dollars fifty cents'; '$1.5 million' / '$1.5m' -> 'one point five million dollars'."""
    negative = text.startswith("-")
    text = text.lstrip("-").strip()
    if text[0] in _CURRENCIES:
        symbol, amount = text[0], text[1:].strip()
    else:  # 5€, 20 £
        symbol, amount = text[-1], text[:-1].strip()
    singular, plural, small, smalls = _CURRENCIES[symbol]
    number = re.match(r"[\d,]*\.?\d*", amount).group()
    scale = _SCALE_WORDS.get(amount[len(number) :].strip().lower())
    whole, _, fraction = number.replace(",", "").partition(".")
    units = int(whole or 0)
    if scale:  # an amount of millions is read as a decimal number: one point five million dollars
        words = f"{_decimal(number)} {scale} {plural}"
    elif fraction and (len(fraction) > 2 or small is None):  # $1.999, ¥2.5: a decimal amount
        words = f"{_decimal(number)} {plural}"
    else:
        cents = int((fraction + "0")[:2]) if fraction else 0  # $1.5 is one dollar fifty
        words = f"{cardinal(units)} {singular if units == 1 else plural}" if units or not cents else ""
        if cents:
            words += f" {cardinal(cents)} {small if cents == 1 else smalls}"
    return ("minus " if negative else "") + words.strip()


def _time_words(text: str) -> str:
    """'7:30' -> 'seven thirty', '7:05 pm' -> 'seven oh five p m', '7:00' -> "seven o'clock", '10am' -> 'ten a m'."""
    meridiem = re.search(r"([AaPp])\.?\s*[Mm]\.?$", text)
    clock = text[: meridiem.start()].strip() if meridiem else text
    parts = [int(part) for part in clock.split(":")]
    hours, minutes = parts[0], parts[1] if len(parts) > 1 else 0
    if hours > 24 or minutes > 59:  # a score or a ratio, not a time
        return " ".join(cardinal(part) for part in parts)
    words = cardinal(hours)
    if minutes:
        words += " " + (f"oh {cardinal(minutes)}" if minutes < 10 else cardinal(minutes))
    if len(parts) > 2 and parts[2]:
        words += f" and {cardinal(parts[2])} second" + ("s" if parts[2] != 1 else "")
    if meridiem:
        return words + (" a m" if meridiem.group(1).lower() == "a" else " p m")
    return words if minutes else words + " o'clock"


_MONTH_NAMES = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]


def _date_words(text: str) -> str:
    """ISO dates as people say them: '2024-05-03' -> 'may third twenty twenty four'."""
    year_, month, day = (int(part) for part in text.split("-"))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return " ".join(cardinal(part) for part in (year_, month, day))
    return f"{_MONTH_NAMES[month - 1]} {ordinal(day)} {year(year_)}"


def _fraction_words(text: str) -> str:
    """'1/2' -> 'one half', '3/4' -> 'three quarters', '2/3' -> 'two thirds'."""
    numerator, denominator = (int(part) for part in text.split("/"))
    if not 0 < numerator < denominator <= 16:  # 24/7, 3/0: not a fraction
        return f"{cardinal(numerator)} slash {cardinal(denominator)}"
    name = {2: "half", 4: "quarter"}.get(denominator) or ordinal(denominator)
    if numerator != 1:
        name = "halves" if name == "half" else " ".join(name.split()[:-1] + [_plural(name.split()[-1])])
    return f"{cardinal(numerator)} {name}"


# ----------------------------------------------------------------------------- words and abbreviations

_TITLES = {  # expanded before a name (a capitalised word): "Dr. Smith", "Mr Brown", "St. Paul"
    "mr": "mister",
    "mrs": "missus",
    "ms": "miz",
    "dr": "doctor",
    "prof": "professor",
    "st": "saint",
    "mt": "mount",
    "capt": "captain",
    "sgt": "sergeant",
    "lt": "lieutenant",
    "col": "colonel",
    "gen": "general",
    "gov": "governor",
    "rev": "reverend",
    "sen": "senator",
    "fr": "father",
}
_UNDOTTED_TITLES = {"mr", "mrs", "ms", "dr", "st"}  # British style: "Dr Smith", "St Paul's"
_STREETS = {"st": "street", "dr": "drive", "ave": "avenue", "rd": "road", "blvd": "boulevard", "ln": "lane"}
_ABBREVIATIONS = {  # always expanded when written with a full stop
    "jr": "junior",
    "sr": "senior",
    "co": "company",
    "ltd": "limited",
    "inc": "incorporated",
    "corp": "corporation",
    "vs": "versus",
    "etc": "et cetera",
    "approx": "approximately",
    "dept": "department",
    "fig": "figure",
    "vol": "volume",
    "ave": "avenue",
    "blvd": "boulevard",
}
_UNDOTTED = {"vs": "versus"}
_INITIALISMS = {"e.g.": "for example", "i.e.": "that is", "a.m.": "a m", "p.m.": "p m"}
_DAYS = {
    "mon": "monday",
    "tue": "tuesday",
    "tues": "tuesday",
    "wed": "wednesday",
    "thu": "thursday",
    "thur": "thursday",
    "thurs": "thursday",
    "fri": "friday",
    "sat": "saturday",
    "sun": "sunday",
}
_MONTHS = {
    "jan": "january",
    "feb": "february",
    "mar": "march",
    "apr": "april",
    "jun": "june",
    "jul": "july",
    "aug": "august",
    "sep": "september",
    "sept": "september",
    "oct": "october",
    "nov": "november",
    "dec": "december",
}
_MONTH_WORDS = set(_MONTHS) | set(_MONTHS.values()) | {"may"}
_NOT_NAMES = {"the", "a", "an", "this", "that", "my", "our", "your", "his", "her", "their", "and", "but", "ask"}
_DAY_CUES = {"on", "until", "till", "by", "next", "last", "every", "this", "from", "before", "after", "each"}
_SYMBOL_WORDS = {"&": "and", "@": "at", "+": "plus", "=": "equals", "%": "percent", "#": "number", "/": "slash"}
_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",  # the minus sign
        "\u2044": "/",  # the fraction slash (NFKC writes ½ as 1⁄2)
        "\u2026": ".",
    }
)
_LETTERS = {"ß": "ss", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L"}
_LETTERS |= {"đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i"}


def fold_accents(text: str) -> str:
    """Latin letters with diacritics become their base letters (café -> cafe, Zoë -> Zoe, straße -> strasse);
    every other character is left for the tokenizer to judge."""
    folded = []
    for character in text:
        if character.isascii():
            folded.append(character)
        elif character in _LETTERS:
            folded.append(_LETTERS[character])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", character) if not unicodedata.combining(c))
            folded.append(base if base.isascii() and base.isalpha() else character)
    return "".join(folded)


@dataclass
class Normalised:
    tokens: list[str]  # lower-case words and punctuation marks
    dropped: list[str] = field(default_factory=list)  # characters that were not understood

    @property
    def text(self) -> str:
        """Words and punctuation joined back into plain text (what ASR output is compared with)."""
        return " ".join(token for token in self.tokens if token not in PUNCTUATION)


_NUMBER = r"(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"  # 1,234,567.89; commas only as thousands groups
_MERIDIEM = r"[AaPp]\.?\s?[Mm]\b\.?"
_TOKEN = re.compile(
    rf"(?P<money>-?[$£€¥]\s?{_NUMBER}(?:\s?(?i:thousand|million|billion|trillion|k|mn?|bn?|tn)\b)?"
    rf"|-?{_NUMBER}\s?[$£€¥](?!\d))"
    rf"|(?P<time>\b\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?!\d)(?:\s?{_MERIDIEM})?|\b\d{{1,2}}\s?{_MERIDIEM})"
    r"|(?P<date>\b\d{4}-\d{2}-\d{2}\b)"
    r"|(?P<phone>(?<![\d-])(?:\(\d{3}\)\s?|\d{3}[-.])?\d{3}-\d{4}(?![\d-]))"
    r"|(?P<ordinal>\b(?:\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th)\b)"
    r"|(?P<decade>\b(?:\d\d)?\d0s\b)"
    r"|(?P<fraction>(?<![\d/.])\d{1,2}/\d{1,2}(?![\d/]))"
    r"|(?P<degrees>°\s?[CF]\b|°)"
    rf"|(?P<number>-?{_NUMBER})"
    r"|(?P<initials>\b(?:[A-Za-z]\.){2,})"
    r"|(?P<abbrev>\b[A-Za-z]+\.(?=[\s,;:!?\"')\]]|$))"
    r"|(?P<word>[A-Za-z]+(?:'[A-Za-z]+)?)"
    r"|(?P<punct>[,.?!;:-])"
    r"|(?P<symbol>[&@+=%#/])"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)"
)


@dataclass
class _Token:
    kind: str
    value: str
    start: int
    end: int

    @property
    def word(self) -> str:
        return self.value.rstrip(".").lower()

    @property
    def capitalised(self) -> bool:
        return self.kind in ("word", "abbrev") and self.value[:1].isupper()

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "ordinal")


class _Context:
    """The tokens around position ``i`` (spaces skipped) that decide how an abbreviation is read."""

    def __init__(self, tokens: list[_Token], i: int):
        self.tokens, self.i = tokens, i

    def at(self, offset: int) -> _Token | None:
        j = self.i + offset
        return self.tokens[j] if 0 <= j < len(self.tokens) else None

    def sentence_start(self, offset: int = 0) -> bool:
        before = self.at(offset - 1)
        return (
            before is None or before.value in (".", "?", "!") or before.kind == "abbrev" and before.value[0].islower()
        )


def _is_day(token: _Token | None) -> bool:
    return token is not None and token.capitalised and token.word in _DAYS


def _expand(token: _Token, context: _Context) -> tuple[str | None, bool]:
    """How an abbreviation-like word is read: (expansion or None to read it as a word, keep the full stop)."""
    word, dotted = token.word, token.kind == "abbrev"
    after, before = context.at(1), context.at(-1)
    at_end = after is None
    name_follows = after is not None and after.capitalised
    # a street after a name that does not start the sentence: "Baker St.", "Elm Dr"
    if (
        word in _STREETS
        and before is not None
        and before.capitalised
        and before.word not in _NOT_NAMES
        and (not name_follows or not context.sentence_start(-1))
    ):
        return _STREETS[word], dotted and (at_end or name_follows)
    if word in _TITLES and name_follows and (dotted or word in _UNDOTTED_TITLES and token.capitalised):
        return _TITLES[word], False
    if word in _STREETS and dotted and before is not None and before.numeric:  # "5th Ave."
        return _STREETS[word], at_end or name_follows
    if word in ("mr", "mrs", "dr") and dotted:
        return _TITLES[word], at_end
    if word == "no" and dotted and after is not None and after.numeric:  # "No. 5" (and "no." alone is a word)
        return "number", False
    if word in _ABBREVIATIONS and dotted:
        return _ABBREVIATIONS[word], at_end or name_follows
    if word in _UNDOTTED and not dotted:
        return _UNDOTTED[word], False
    if token.capitalised and word in _DAYS:
        # a weekday only where the context says so: "Sat. 5 May", "Mon, Jan 3", "on Sun.", "Mon-Fri"
        nxt = context.at(2) if after is not None and after.value in (",", "-") else after
        dated = nxt is not None and (nxt.numeric or nxt.word in _MONTH_WORDS or _is_day(nxt) and after.value == "-")
        cued = before is not None and before.word in _DAY_CUES
        ranged = before is not None and before.value == "-" and _is_day(context.at(-2))
        if dated or cued or ranged:
            return _DAYS[word], dotted and at_end
    if token.capitalised and word in _MONTHS:
        # a month only beside a day or a year: "Jan 3", "3 Jan.", "3rd of Jan", "Dec. 2024"
        of = before is not None and before.word == "of" and (context.at(-2) or before).numeric
        if (after is not None and after.numeric) or (before is not None and before.numeric) or of:
            return _MONTHS[word], dotted and at_end
    return None, dotted


def normalise(text: str) -> Normalised:
    """Spell out everything that is not a plain word; keep prosodic punctuation; report the rest."""
    text = fold_accents(unicodedata.normalize("NFKC", text).translate(_QUOTES))
    tokens = [
        _Token(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text) if m.lastgroup != "space"
    ]
    words: list[str] = []
    dropped: list[str] = []
    for i, token in enumerate(tokens):
        kind, value = token.kind, token.value
        context = _Context(tokens, i)
        after = context.at(1)
        at_end = after is None
        if kind == "money":
            words += _money_words(value).split()
        elif kind == "time":
            words += _time_words(value).split()
            if value.endswith(".") and (at_end or after.capitalised):  # "at 7 p.m." ends the sentence
                words.append(".")
        elif kind == "ordinal":
            words += ordinal(int(value[:-2].replace(",", ""))).split()
        elif kind == "decade":
            number = int(value[:-1])
            spoken = (year(number) if number >= 1000 else cardinal(number)).split()
            words += spoken[:-1] + [_plural(spoken[-1])]
        elif kind == "date":
            words += _date_words(value).split()
        elif kind == "phone":
            groups = re.findall(r"\d+", value)
            for group in groups:
                words += [cardinal(int(digit)) for digit in group] + [","]
            words.pop()
        elif kind == "fraction":
            words += _fraction_words(value).split()
        elif kind == "degrees":
            previous = context.at(-1)
            words.append("degree" if previous is not None and previous.value in ("1", "-1") else "degrees")
            if value[-1] in "CF":
                words.append("celsius" if value[-1] == "C" else "fahrenheit")
        elif kind == "number":
            if value.startswith("-") and token.start > 0 and text[token.start - 1].isalnum():
                if text[token.start - 1].isdigit():
                    words.append("to")  # "3-4" is a range (or a score), not minus four
                value = value[1:]  # and "B-52" is a name
            negative = value.startswith("-")
            digits = value.lstrip("-")
            unit = after.value.lower() if after is not None and after.kind == "word" else None
            if unit == "km" and text[after.end : after.end + 2].lower() == "/h":
                unit = "km/h"
            if (
                not negative
                and len(digits) == 4
                and digits.isdigit()
                and 1100 <= int(digits) <= 2099
                and unit not in _UNITS
                and not (after is not None and after.value == "%")
            ):
                words += year(int(digits)).split()
            else:
                words += (("minus " if negative else "") + _decimal(digits)).split()
            if unit in _UNITS:
                one, many = _UNITS[unit]
                words += (one if digits == "1" else many).split()
                after.kind = "unit"  # spoken already
                if unit == "km/h":
                    tokens[i + 2].kind = tokens[i + 3].kind = "unit"
        elif kind == "initials":
            lower = value.lower()
            words += _INITIALISMS.get(lower, " ".join(lower.replace(".", " ").split())).split()
            if at_end:
                words.append(".")
        elif kind in ("abbrev", "word"):
            expansion, keep_stop = _expand(token, context)
            words += (expansion or token.word).split()
            if keep_stop:
                words.append(".")
        elif kind == "punct":
            if value == "-":
                if not words or words[-1] in PUNCTUATION:
                    continue
                if token.start > 0 and text[token.start - 1].isalpha() and text[token.end : token.end + 1].isalpha():
                    if _is_day(context.at(-1)) and _is_day(after):
                        words.append("to")  # Mon-Fri
                    continue  # a hyphenated word ("well-known") is two words, not a pause
            if (
                value == "."
                and text[token.start - 1 : token.start].isalpha()
                and text[token.end : token.end + 1].isalpha()
            ):
                words.append("dot")  # example.com
                continue
            words.append(value)
        elif kind == "symbol":
            before = context.at(-1)
            if value == "/" and before is not None and before.kind in ("money", "number", "unit") and after:
                words.append("per")  # $5/month, 3 kg/day
            else:
                words.append(_SYMBOL_WORDS[value])
        elif kind == "other":
            if value in "\"'()[]{}*_~`^|<>\\":
                continue  # quotes and brackets carry no sound
            dropped.append(value)
    return Normalised(words, dropped)


def main(argv: list[str] | None = None) -> None:
    """Print each argument (or, without arguments, each line of standard input) and its spoken form."""
    import os

    lines = argv if argv is not None else sys.argv[1:]
    try:
        for line in lines or (line.rstrip("\n") for line in sys.stdin):
            print(f"{line} -> {' '.join(normalise(line).tokens)}", flush=True)
    except BrokenPipeError:  # `| head` closed the pipe: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
