import pytest

from dlcli.tts import text
from dlcli.tts.lts import letters_to_sounds
from dlcli.tts.sentences import SentenceGrammar


@pytest.mark.parametrize(
    "number, words",
    [
        (0, "zero"),
        (13, "thirteen"),
        (40, "forty"),
        (101, "one hundred one"),
        (2345, "two thousand three hundred forty five"),
        (1_000_000, "one million"),
    ],
)
def test_cardinal(number, words):
    assert text.cardinal(number) == words


def test_ordinals_and_years():
    assert text.ordinal(1) == "first"
    assert text.ordinal(22) == "twenty second"
    assert text.ordinal(40) == "fortieth"
    assert text.year(1995) == "nineteen ninety five"
    assert text.year(2005) == "two thousand five"
    assert text.year(1905) == "nineteen oh five"


def test_normalise_spells_out_numbers_money_times_and_abbreviations():
    tokens = text.normalise("Dr. Smith paid $12.50 at 7:30 on the 3rd; 1,234 cats & 50% dogs in the 1990s?").tokens
    assert " ".join(tokens) == (
        "doctor smith paid twelve dollars fifty cents at seven thirty on the third ; one thousand two hundred "
        "thirty four cats and fifty percent dogs in the nineteen nineties ?"
    )


def test_no_abbreviation_needs_a_number_and_ranges_are_not_negative():
    assert text.normalise("No. 7 said no.").tokens == ["number", "seven", "said", "no", "."]
    assert text.normalise("3-4 or -5").tokens == ["three", "to", "four", "or", "minus", "five"]


def spoken(source: str) -> str:
    return " ".join(text.normalise(source).tokens)


@pytest.mark.parametrize(
    "source, words",
    [
        # a sentence-final word is not an abbreviation; weekdays and months only where a date says so
        ("He sat.", "he sat ."),
        ("We saw the sun.", "we saw the sun ."),
        ("I saw the Sun.", "i saw the sun ."),
        ("Sat. 5 May", "saturday five may"),
        ("Mon, Jan 3", "monday , january three"),
        ("Open Mon-Fri", "open monday to friday"),
        ("See you on Sun.", "see you on sunday ."),
        ("the 3rd of Jan.", "the third of january ."),
        ("Jan went home", "jan went home"),
        ("Dec. 2024", "december twenty twenty four"),
        # titles before names, streets after them
        ("Dr. Smith met Mr Brown", "doctor smith met mister brown"),
        ("Visit St. Paul", "visit saint paul"),
        ("Main St. is long", "main street is long"),
        ("He lives on Elm Dr.", "he lives on elm drive ."),
        ("on 5th Ave.", "on fifth avenue ."),
        ("Acme Inc.", "acme incorporated ."),
        ("e.g. this", "for example this"),
    ],
)
def test_abbreviations_follow_the_context(source, words):
    assert spoken(source) == words


@pytest.mark.parametrize(
    "source, words",
    [
        ("$1.5 million", "one point five million dollars"),
        ("$2bn deal", "two billion dollars deal"),
        ("$1.5", "one dollar fifty cents"),
        ("$0.99", "ninety nine cents"),
        ("$1", "one dollar"),
        ("$1,000,000", "one million dollars"),
        ("£1.50", "one pound fifty pence"),
        ("€20", "twenty euros"),
        ("5€", "five euros"),
        ("costs $55, which", "costs fifty five dollars , which"),
        ("In 2024, we", "in twenty twenty four , we"),
        ("in 2005", "in two thousand five"),
        ("the 1990s and 80s", "the nineteen nineties and eighties"),
        ("1,234,567", "one million two hundred thirty four thousand five hundred sixty seven"),
        ("3,4", "three , four"),
        ("-3.5 and \u22124", "minus three point five and minus four"),
        ("3.14", "three point one four"),
        ("2.5%", "two point five percent"),
        ("1st 2nd 21st 100th", "first second twenty first one hundredth"),
        ("7:30", "seven thirty"),
        ("7:05", "seven oh five"),
        ("7:00", "seven o'clock"),
        ("7:30pm", "seven thirty p m"),
        ("at 7 p.m. The end", "at seven p m . the end"),
        ("10am", "ten a m"),
        ("20°C", "twenty degrees celsius"),
        ("1/2 cup and 3/4", "one half cup and three quarters"),
        ("24/7", "twenty four slash seven"),
        ("5km at 60 mph", "five kilometers at sixty miles per hour"),
        ("2000 km", "two thousand kilometers"),
        ("won 3-2", "won three to two"),
        ("B-52 and well-known", "b fifty two and well known"),
        (
            "Call 555-1234 or (212) 555-0199",
            "call five five five , one two three four or two one two , five five five , zero one nine nine",
        ),
        ("On 2024-05-03", "on may third twenty twenty four"),
        ("$5.99/month and 3 kg/day", "five dollars ninety nine cents per month and three kilograms per day"),
        ("and/or", "and slash or"),
        ("see example.com", "see example dot com"),
        ("1234567890123456", "one two three four five six seven eight nine zero one two three four five six"),
        (
            "999,999,999,999,999",
            "nine hundred ninety nine trillion nine hundred ninety nine billion nine hundred ninety nine million nine hundred ninety nine thousand nine hundred ninety nine",
        ),
        ("Jan. 1st, 2024", "january first , twenty twenty four"),
        ("Mr. and Mrs. Smith", "mister and missus smith"),
    ],
)
def test_numbers_money_times_and_units_are_spelled_out(source, words):
    assert spoken(source) == words


@pytest.mark.parametrize(
    "source, words", [("café", "cafe"), ("naïve Zoë", "naive zoe"), ("Straße", "strasse"), ("Ångström", "angstrom")]
)
def test_accents_are_folded_not_dropped(source, words):
    result = text.normalise(source)
    assert " ".join(result.tokens) == words and result.dropped == []


def test_numbers_are_spelled_by_num2words():
    assert text.year(2024) == "twenty twenty four"
    assert text.cardinal(-12) == "minus twelve"
    assert text.ordinal(1001) == "one thousand first"


def test_unknown_characters_are_reported_not_fatal():
    result = text.phonemise("Hello \u263a world \u4e2d")
    assert result.dropped == ["\u263a", "\u4e2d"]
    assert result.words == ["hello", "world"]
    assert result.symbols[-1] == text.EOS


def test_phonemes_come_from_the_dictionary_with_word_boundaries():
    result = text.phonemise("Hello, world!")
    assert result.symbols == ["HH", "AH", "L", "OW", ",", " ", "W", "ER", "L", "D", "!", text.EOS]
    assert result.ids == [text.SYMBOL_ID[s] for s in result.symbols]
    assert result.guessed == []


def test_unknown_words_use_letter_to_sound_rules():
    result = text.phonemise("the blorfington")
    assert result.guessed == ["blorfington"]
    assert letters_to_sounds("blorfington")[:2] == ("B", "L")
    assert letters_to_sounds("bbc") == ("B", "IY", "B", "IY", "S", "IY")
    assert all(p in text.PHONEMES for p in letters_to_sounds("xylophonequizzical"))


def test_letter_to_sound_table_on_words_it_never_saw():
    """The shipped table was built without the first 2000 words of this shuffle (lts.main)."""
    import random

    entries = {w: p for w, p in text.lexicon(str(text._PACKAGED_DICTIONARY)).items() if w.isalpha()}
    words = sorted(entries)
    random.Random(0).shuffle(words)
    held_out = words[:400]
    exact = sum(letters_to_sounds(w) == entries[w] for w in held_out) / len(held_out)
    assert exact > 0.45  # 56 % on all 2000 held-out words; the old hand-written rules got 22 %


def test_alignment_and_table_learn_a_toy_spelling():
    from dlcli.tts import lts

    entries = {"ax": ("AE", "K", "S"), "tax": ("T", "AE", "K", "S"), "at": ("AE", "T"), "ta": ("T", "AA")}
    aligned = lts.align_lexicon(entries)
    assert aligned["tax"] == ["T", "AE", "K+S"]
    table = lts.build_table(aligned, min_count=1)
    assert lts.predict("tax", table) == ("T", "AE", "K", "S")
    assert lts.predict("xat", table)[-2:] == ("AE", "T")


def test_packaged_dictionary_agrees_with_pocketsphinx(monkeypatch):
    packaged = text.lexicon(str(text._PACKAGED_DICTIONARY))
    assert len(packaged) > 100_000
    assert packaged["hello"] == ("HH", "AH", "L", "OW")
    if text._pocketsphinx_dictionary() is not None:
        full = text.lexicon(str(text._pocketsphinx_dictionary()))
        assert all(full[w] == packaged[w] for w in ("world", "measure", "vision", "engineer"))
    monkeypatch.setattr(text, "_pocketsphinx_dictionary", lambda: None)
    assert text.dictionary_path() == text._PACKAGED_DICTIONARY


def test_generated_sentences_are_in_the_dictionary_and_varied():
    sentences = SentenceGrammar(3).sentences(400)
    assert len(set(sentences)) == 400
    assert SentenceGrammar(3).sentences(5) == sentences[:5]
    lexicon = text.lexicon()
    for sentence in sentences:
        assert text.phonemise(sentence).guessed == [], sentence
    assert any(s.endswith("?") for s in sentences) and any(s.endswith("!") for s in sentences)
    assert any(c.isdigit() for s in sentences for c in s)
    covered = {p for s in sentences for p in text.phonemise(s).symbols}
    assert set(text.PHONEMES) <= covered
    assert lexicon


def test_normaliser_prints_the_spoken_form(capsys):
    from dlcli.tts import normaliser

    normaliser.main(["He sat.", "$1.5 million"])
    assert capsys.readouterr().out.splitlines() == [
        "He sat. -> he sat .",
        "$1.5 million -> one point five million dollars",
    ]


def test_the_front_end_never_raises_on_odd_mixtures():
    import random

    pieces = [
        *"0123456789" * 3,
        *",.:;-/$£€¥%°CFkmbnstdrhapAPM ()é−½",
        "St.",
        "Dr.",
        "Mon",
        "Jan",
        "p.m.",
        "e.g.",
        "9" * 400,
    ]
    generator = random.Random(0)
    for _ in range(500):
        source = "".join(generator.choice(pieces) for _ in range(generator.randint(1, 20)))
        result = text.phonemise(source)
        assert result.symbols[-1] == text.EOS, source
