"""Custom keywords from text: near-miss negatives, the generated corpus, threshold calibration."""

import importlib.util
import shutil
from dataclasses import dataclass, field

import numpy as np
import pytest

from dlcli.errors import UsageError

needs_dictionary = pytest.mark.skipif(
    importlib.util.find_spec("pocketsphinx") is None, reason="needs pocketsphinx's CMU dictionary"
)
needs_speech = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and shutil.which("flite") is None, reason="needs espeak-ng or flite"
)


@needs_dictionary
def test_confusable_words_are_one_phone_away_and_not_homophones():
    from dlcli.kws.keywords import confusable_words, pronouncing_dictionary

    dictionary = pronouncing_dictionary()
    near = confusable_words("lumen")
    assert "lemon" in near and "layman" in near and "lumen" not in near
    assert "hay" not in confusable_words("hey")  # HH EY both: a homophone is the keyword itself
    assert "day" in confusable_words("hey")
    for word in near:
        assert dictionary[word] != dictionary["lumen"]
    assert confusable_words("qxzzy") == ()  # not in the dictionary: no near misses, no error


@needs_dictionary
def test_negatives_hold_near_misses_and_parts_of_the_phrase_never_the_keyword():
    from dlcli.kws.keywords import negative_texts

    keywords = ["hey lumen", "lights on"]
    seen = set()
    for seed in range(40):
        texts = negative_texts(keywords, np.random.default_rng(seed), confusable=6, general=4)
        assert len(texts) == 10 and not set(texts) & set(keywords)
        seen.update(texts[:6])
    assert {"hey", "lumen", "lights"} & seen  # a word of the phrase alone
    assert any(t.startswith("hey ") and t != "hey lumen" for t in seen)  # one word swapped


def test_keyword_settings_are_checked():
    from dlcli.kws.keywords import KeywordCorpusConfig, folder_name

    assert KeywordCorpusConfig(keywords=[" Hey  Lumen ", "stop"]).keywords == ["hey lumen", "stop"]
    assert folder_name("hey lumen") == "hey_lumen"
    with pytest.raises(ValueError, match="letters"):
        KeywordCorpusConfig(keywords=["hey-lumen!"])
    with pytest.raises(ValueError, match="at least one"):
        KeywordCorpusConfig(keywords=[" "])
    a, b = KeywordCorpusConfig(keywords=["stop"]), KeywordCorpusConfig(keywords=["stop"], workers=3)
    assert a.key() == b.key() != KeywordCorpusConfig(keywords=["stop"], voices=300).key()


def test_train_without_data_or_keywords_is_a_usage_error(tmp_path):
    from typer.testing import CliRunner

    from dlcli.cli import app

    result = CliRunner().invoke(app, ["kws", "train", "--out", str(tmp_path / "run")])
    assert result.exit_code == UsageError.exit_code and "--keywords" in result.output


@needs_dictionary
@needs_speech
def test_generated_corpus_has_keywords_negatives_lists_and_is_reused(tmp_path):
    from dlcli.kws.data import UNKNOWN, get_task, scan_corpus
    from dlcli.kws.keywords import KeywordCorpusConfig, generate_keyword_corpus

    config = KeywordCorpusConfig(
        keywords=["lights on"], voices=10, takes=1, confusable=1, general=0, stream_windows=2, workers=1
    )
    summary = generate_keyword_corpus(tmp_path / "corpus", config, quiet=True)
    assert summary["clips"] == 40 and summary["labels"] == ["lights_on"]
    from dlcli.audio import save_audio
    from dlcli.kws.keywords import STREAMS_FOLDER

    # the calibration streams live beside the clips and must not become a class
    save_audio(tmp_path / "corpus" / STREAMS_FOLDER / "validation-1s.wav", np.zeros(16000, np.float32), 16000)
    corpus = scan_corpus(tmp_path / "corpus")
    assert corpus.split_source == "lists" and corpus.words == ["lights_on"]
    assert sum(c.word == UNKNOWN for c in corpus.clips) == 30  # 1 near miss, 2 windows of continuous speech
    assert {c.split for c in corpus.clips} == {"training", "validation", "testing"}
    labels = get_task("keywords").labels(corpus.words)
    assert labels == ["lights_on", "_unknown_", "_silence_"]
    clip = next(c for c in corpus.clips if c.word == "lights_on").path
    stamp = clip.stat().st_mtime_ns
    assert generate_keyword_corpus(tmp_path / "corpus", config, quiet=True)["key"] == config.key()
    assert clip.stat().st_mtime_ns == stamp  # cached, not spoken again


@dataclass
class LoudnessSpotter:
    """A stand-in model: the keyword's probability is the window's peak level."""

    labels: list = field(default_factory=lambda: ["word", "_unknown_"])
    sample_rate: int = 16000
    clip_samples: int = 16000
    keyword_indices: list = field(default_factory=lambda: [0])

    def probabilities(self, windows):
        peak = np.clip(np.abs(windows).max(axis=1), 0, 1)
        return np.stack([peak, 1 - peak], axis=1)


def test_calibration_picks_the_lowest_threshold_within_the_false_accept_budget(tmp_path):
    from dlcli.audio import save_audio
    from dlcli.kws.infer import StreamConfig
    from dlcli.kws.keywords import calibrate_threshold

    audio = np.zeros(16000 * 120, np.float32)  # two minutes with bursts at three levels, 20 s apart
    for index, level in enumerate([0.3, 0.5, 0.5, 0.7, 0.7, 0.7]):
        start = (index + 1) * 16000 * 15
        audio[start : start + 1600] = level
    save_audio(tmp_path / "negatives.wav", audio, 16000)
    predictor = LoudnessSpotter()
    hours = 120 / 3600
    found = calibrate_threshold(predictor, [tmp_path / "negatives.wav"], StreamConfig(), target_per_hour=3 / hours)
    table = dict(found["table"])
    assert found["false_accepts_at_threshold"] <= 3 and table[round(found["threshold"] - 0.01, 2)] > 3
    assert 0.5 <= found["threshold"] <= 0.7
    strict = calibrate_threshold(predictor, [tmp_path / "negatives.wav"], StreamConfig(), target_per_hour=0.0)
    assert strict["false_accepts_at_threshold"] == 0 and strict["threshold"] > 0.69
