"""Sentences the project writes itself: a small grammar over an everyday word list.

Varied length, statements, questions and exclamations, commas and semicolons, numbers,
money, times, ordinals and titles (so the normaliser is exercised), and every English
phoneme. Every word is in the CMU dictionary (a test checks), so the corpus transcripts
and the model's front-end agree exactly.
"""

from __future__ import annotations

import random

NAMES = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Emma",
    "Frank",
    "Grace",
    "Henry",
    "Irene",
    "Jack",
    "Karen",
    "Laura",
    "Martin",
    "Nina",
    "Oscar",
    "Paula",
    "Robert",
    "Sarah",
    "Thomas",
    "Victor",
    "Wendy",
    "Zoe",
    "George",
    "Helen",
]
SURNAMES = [
    "Brown",
    "Miller",
    "Taylor",
    "Walker",
    "Young",
    "Harris",
    "Clark",
    "Lewis",
    "Turner",
    "Parker",
    "Collins",
    "Morgan",
    "Bell",
    "Cooper",
]
TITLES = ["Dr.", "Mr.", "Mrs.", "Prof."]
NOUNS = [
    "garden",
    "window",
    "kitchen",
    "table",
    "letter",
    "river",
    "bridge",
    "market",
    "teacher",
    "doctor",
    "farmer",
    "village",
    "station",
    "machine",
    "picture",
    "pocket",
    "basket",
    "bottle",
    "blanket",
    "candle",
    "engine",
    "forest",
    "island",
    "mountain",
    "ocean",
    "valley",
    "question",
    "answer",
    "problem",
    "reason",
    "story",
    "music",
    "measure",
    "treasure",
    "vision",
    "garage",
    "pleasure",
    "engineer",
    "orange",
    "lemon",
    "apple",
    "sandwich",
    "coffee",
    "chocolate",
    "breakfast",
    "dinner",
    "jacket",
    "sweater",
    "pencil",
    "notebook",
    "bicycle",
    "tractor",
    "airplane",
    "camera",
    "computer",
    "telephone",
    "radio",
    "button",
    "ladder",
    "hammer",
    "wagon",
    "castle",
    "cookie",
    "book",
    "toy",
    "coin",
    "oyster",
    "cushion",
    "whale",
    "sugar",
    "kitten",
    "puppy",
    "horse",
    "rabbit",
    "turtle",
    "dolphin",
    "eagle",
    "lion",
    "tiger",
    "monkey",
    "zebra",
    "giraffe",
    "penguin",
]
PLACES = [
    "the library",
    "the harbour",
    "the old church",
    "the train station",
    "the museum",
    "the beach",
    "the city hall",
    "the bakery",
    "the school yard",
    "the hospital",
    "the airport",
    "the zoo",
    "the north shore",
    "the quiet lake",
]
ADJECTIVES = [
    "small",
    "large",
    "quiet",
    "noisy",
    "yellow",
    "purple",
    "golden",
    "heavy",
    "gentle",
    "clever",
    "lazy",
    "happy",
    "hungry",
    "curious",
    "ancient",
    "modern",
    "strange",
    "famous",
    "careful",
    "simple",
    "usual",
    "unusual",
    "beautiful",
    "enormous",
    "tiny",
    "bright",
    "dark",
    "warm",
    "cold",
    "fresh",
    "wooden",
    "silver",
    "thirsty",
    "brave",
    "polite",
]
VERBS_PAST = [
    "found",
    "bought",
    "painted",
    "opened",
    "closed",
    "carried",
    "cleaned",
    "fixed",
    "watched",
    "brought",
    "visited",
    "noticed",
    "borrowed",
    "measured",
    "washed",
    "pushed",
    "pulled",
    "ordered",
    "sold",
    "moved",
    "dropped",
    "built",
]
VERBS_BASE = [
    "find",
    "buy",
    "paint",
    "open",
    "close",
    "carry",
    "clean",
    "fix",
    "watch",
    "bring",
    "visit",
    "notice",
    "borrow",
    "measure",
    "wash",
    "push",
    "pull",
    "order",
    "sell",
    "move",
    "drop",
    "build",
]
ADVERBS = ["quickly", "slowly", "quietly", "carefully", "suddenly", "happily", "finally", "usually", "rarely", "always"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
CONNECTIVES = ["but", "and", "so", "because", "although", "while"]
FEELINGS = ["surprised", "pleased", "tired", "worried", "delighted", "confused", "excited"]


class SentenceGrammar:
    """Draws sentences from templates; ``random.Random(seed)`` makes every draw reproducible."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)

    # ------------------------------------------------------------------ pieces
    def _pick(self, words):
        return self.rng.choice(words)

    def person(self) -> str:
        if self.rng.random() < 0.25:
            return f"{self._pick(TITLES)} {self._pick(SURNAMES)}"
        return self._pick(NAMES)

    def thing(self, plural: bool = False) -> str:
        noun = self._pick(NOUNS)
        if plural:
            if noun.endswith("y") and noun[-2] not in "aeiou":
                noun = noun[:-1] + "ies"
            else:
                noun = noun + ("es" if noun.endswith(("ch", "sh", "s", "x")) else "s")
        if self.rng.random() < 0.5:
            noun = f"{self._pick(ADJECTIVES)} {noun}"
        return noun

    def number(self) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return str(self.rng.randint(2, 20))
        if roll < 0.8:
            return str(self.rng.randint(21, 999))
        return f"{self.rng.randint(1, 9)},{self.rng.randint(0, 999):03d}"

    def when(self) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            return f"on {self._pick(DAYS)}"
        if roll < 0.5:
            return f"at {self.rng.randint(1, 12)}:{self._pick(['00', '15', '30', '45', '05'])}"
        if roll < 0.7:
            day = self.rng.randint(1, 28)
            suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd"}.get(day, "th")
            return f"on {self._pick(MONTHS)} {day}{suffix}"
        if roll < 0.8:
            return f"in {self.rng.randint(1950, 2030)}"
        return self._pick(["yesterday", "today", "this morning", "last night", "in the evening", "after lunch"])

    # ------------------------------------------------------------------ templates
    def _statement(self) -> str:
        return f"{self.person()} {self._pick(VERBS_PAST)} the {self.thing()} near {self._pick(PLACES)} {self.when()}."

    def _counting(self) -> str:
        return f"We counted {self.number()} {self.thing(plural=True)} at {self._pick(PLACES)}."

    def _price(self) -> str:
        dollars, cents = self.rng.randint(1, 300), self._pick(["", ".50", ".99", ".25"])
        return f"The {self.thing()} costs ${dollars}{cents}, {self._pick(['which seems fair', 'and nobody complained', 'or so they say'])}."

    def _yes_no(self) -> str:
        return f"Did {self.person()} {self._pick(VERBS_BASE)} the {self.thing()} {self.when()}?"

    def _wh_question(self) -> str:
        word = self._pick(["Why", "When", "Where", "How"])
        return (
            f"{word} did {self.person()} {self._pick(VERBS_BASE)} {self.rng.randint(2, 12)} {self.thing(plural=True)}?"
        )

    def _exclamation(self) -> str:
        return f"What a {self._pick(ADJECTIVES)} {self._pick(NOUNS)} that was!"

    def _compound(self) -> str:
        first = f"{self.person()} {self._pick(ADVERBS)} {self._pick(VERBS_PAST)} the {self.thing()}"
        second = f"{self.person()} was {self._pick(FEELINGS)}"
        return f"{first}, {self._pick(CONNECTIVES)} {second}."

    def _list(self) -> str:
        items = [self.thing() for _ in range(3)]
        return f"Please bring the {items[0]}, the {items[1]} and the {items[2]}; we leave {self.when()}."

    def _short(self) -> str:
        return self._pick(
            [
                f"{self._pick(NAMES)} is {self._pick(FEELINGS)}.",
                f"Is it {self._pick(ADJECTIVES)}?",
                f"Thank you, {self._pick(NAMES)}!",
            ]
        )

    def _ordinal(self) -> str:
        place = self.rng.randint(1, 40)
        suffix = "th" if 10 < place % 100 < 14 else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
        return f"The {self._pick(NOUNS)} from {self._pick(PLACES)} finished {place}{suffix} of {self.rng.randint(place, 60)}."

    TEMPLATES = (
        "_statement",
        "_counting",
        "_price",
        "_yes_no",
        "_wh_question",
        "_exclamation",
        "_compound",
        "_list",
        "_short",
        "_ordinal",
    )
    WEIGHTS = (4, 2, 1, 2, 2, 1, 3, 1, 1, 1)

    def sentence(self) -> str:
        template = self.rng.choices(self.TEMPLATES, weights=self.WEIGHTS)[0]
        return getattr(self, template)()

    def sentences(self, count: int, exclude: set[str] | None = None) -> list[str]:
        """``count`` distinct sentences, none of them in ``exclude`` (e.g. a training set)."""
        exclude = set(exclude or ())
        found: list[str] = []
        seen: set[str] = set()
        attempts = 0
        while len(found) < count:
            attempts += 1
            if attempts > count * 200:
                raise RuntimeError(f"the grammar ran out of new sentences after {len(found)}")
            text = self.sentence()
            if text not in seen and text not in exclude:
                seen.add(text)
                found.append(text)
        return found
