"""Hours of keyword-free speech as training negatives: the bank, its windows, training on it, streams."""

import importlib.util
import shutil

import numpy as np
import pytest
import torch

needs_openwakeword = pytest.mark.skipif(
    importlib.util.find_spec("openwakeword") is None, reason="the embedding front end needs openwakeword"
)
needs_speech = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and shutil.which("flite") is None, reason="needs espeak-ng or flite"
)
needs_dictionary = pytest.mark.skipif(
    importlib.util.find_spec("pocketsphinx") is None, reason="needs pocketsphinx's CMU dictionary"
)


def _bank(chunks=(30, 20), segments=()):
    from dlcli.kws.negatives import NegativeBank

    total = sum(chunks)
    embeddings = np.repeat(np.arange(total, dtype=np.float32)[:, None], 96, axis=1)  # row i is all i
    return NegativeBank(embeddings, np.cumsum([0, *chunks]), list(segments), total * 0.08 / 3600)


def test_phrases_are_found_as_whole_words_in_order():
    from dlcli.kws.negatives import contains_phrase

    assert contains_phrase("Well, hey Jarvis! what now", "hey jarvis")
    assert not contains_phrase("hey there jarvis", "hey jarvis") and not contains_phrase("they jarvisy", "hey jarvis")
    assert contains_phrase("alexa", "alexa") and not contains_phrase("alexander", "alexa")


def test_windows_stay_inside_a_chunk_and_away_from_utterances_holding_a_keyword():
    from dlcli.kws.embedding import EMBEDDING_STEP

    bank = _bank()
    starts = bank.window_starts(9)
    assert len(starts) == (30 - 8) + (20 - 8)  # every window inside one chunk, none across the boundary
    assert 21 in starts and 22 not in starts and 30 in starts and 41 in starts and 42 not in starts
    windows = bank.windows(starts[:2], 9)
    assert windows.shape == (2, 9, 96) and np.array_equal(windows[1, :, 0], np.arange(1, 10))
    # an utterance in chunk 1 from embedding 5 to 7 (samples) holds the keyword: windows touching it go
    segment = (1, 5 * EMBEDDING_STEP, 7 * EMBEDDING_STEP, "so hey Jarvis said the man")
    bank = _bank(segments=[segment, (0, 0, 10 * EMBEDDING_STEP, "a harmless sentence")])
    kept = bank.window_starts(9, exclude=["hey jarvis"])
    assert len(bank.window_starts(9, exclude=["lights on"])) == 34  # the other utterance holds no keyword
    touched = [s for s in range(30, 42) if s + 8 >= 30 + 5 - 9 and s <= 30 + 7]  # its embeddings see it
    assert not set(touched) & set(kept) and set(range(21 + 1)) <= set(kept)
    assert len(kept) < 34


def test_bank_mix_dataset_interleaves_repeated_clips_and_weighted_bank_windows():
    from dlcli.kws.negatives import BankMixDataset, BankNegatives

    bank = _bank()
    clips, targets = torch.ones(4, 9, 96) * -1, torch.tensor([0, 0, 1, 2])
    negatives = BankNegatives(bank.embeddings, bank.window_starts(9), np.array([0]), weight=7.0)
    negatives.hard_starts, negatives.hard_repeats = np.array([3, 4]), 3
    data = BankMixDataset(clips, targets, negatives, 9, label=1)
    assert data.repeats == round((34 + 6) / 4) and len(data) == 4 * data.repeats + 34 + 6
    boundary = 4 * data.repeats
    inputs, labels, weights = data.__getitems__([0, 5, boundary, boundary + 33, len(data) - 1])
    assert torch.equal(labels, torch.tensor([0, 0, 1, 1, 1])) and torch.equal(weights, torch.tensor([1, 1, 7, 7, 7.0]))
    assert (inputs[:2] == -1).all()
    assert torch.equal(inputs[2, :, 0], torch.arange(9.0))  # the bank's first window
    assert torch.equal(inputs[4, :, 0], torch.arange(4.0, 13.0))  # the last hard window, repeated


def test_shifted_copies_move_each_clip_within_the_limit_and_fill_with_zeros():
    from dlcli.kws.negatives import shifted_copies

    clips = np.arange(1, 41, dtype=np.int16).reshape(2, 20)
    moved = shifted_copies(clips, 3, 4, np.random.default_rng(0))
    assert moved.shape == (6, 20)
    shifts = set()
    for row, original in zip(moved, np.tile(clips, (3, 1))):
        nonzero = np.flatnonzero(row)
        shift = int(np.flatnonzero(original == row[nonzero[0]])[0]) * -1 + int(nonzero[0])
        assert abs(shift) <= 4 and len(nonzero) == 20 - abs(shift)
        assert np.array_equal(row[nonzero], original[max(0, -shift) : 20 - max(0, shift)])
        shifts.add(shift)
    assert len(shifts) > 1


def test_calibration_reaches_above_0_99_for_confident_models(tmp_path):
    from dlcli.audio import save_audio
    from dlcli.kws.infer import StreamConfig
    from dlcli.kws.keywords import calibrate_threshold

    from .test_keywords import LoudnessSpotter

    audio = np.zeros(16000 * 60, np.float32)
    for index in range(3):  # three loud bursts: a confident false accept each
        start = (index + 1) * 16000 * 15
        audio[start : start + 16000] = 0.996
    save_audio(tmp_path / "speech.wav", audio, 16000)
    config = StreamConfig(smooth_seconds=0)
    found = calibrate_threshold(LoudnessSpotter(), [tmp_path / "speech.wav"], config, target_per_hour=0.0)
    table = dict(found["table"])
    assert found["false_accepts_at_threshold"] == 0 and 0.99 < found["threshold"] <= 0.999
    assert table[0.99] >= 3  # the old grid stopped at 0.99, and so had to allow them
    assert max(table) == 0.999  # 1.0 would be a threshold nothing reaches


@needs_openwakeword
@needs_speech
@needs_dictionary
def test_bank_is_built_once_then_read_back_and_streams_are_cached(tmp_path, monkeypatch):
    from dlcli.kws import negatives, synth
    from dlcli.kws.keywords import KeywordCorpusConfig

    config = negatives.BankConfig(hours=24 / 3600, voices=3, chunk_seconds=12)
    bank = negatives.build_bank(tmp_path, config, quiet=True)
    chunks = sorted(tmp_path.glob("synthetic-*/chunk-*.npz"))
    assert len(chunks) == 2 and len(bank.bounds) == 3 and bank.embeddings.shape[1] == 96
    assert bank.segments and all(text for *_, text in bank.segments)
    assert 0.006 < bank.hours < 0.0075 and len(bank.window_starts(9)) > 200
    monkeypatch.setattr(synth, "speak", lambda *a, **k: pytest.fail("the cached bank was generated again"))
    again = negatives.build_bank(tmp_path, config, quiet=True)
    assert np.array_equal(again.embeddings, bank.embeddings) and again.segments == bank.segments
    monkeypatch.undo()
    corpus = KeywordCorpusConfig(keywords=["alexa"], voices=10)
    stream = negatives.speech_stream(corpus, "validation", 6.0, text_seed=1, root=tmp_path)
    assert stream.is_file() and negatives.stream_texts(stream)
    monkeypatch.setattr(synth, "speak", lambda *a, **k: pytest.fail("the cached stream was generated again"))
    assert negatives.speech_stream(corpus, "validation", 6.0, text_seed=1, root=tmp_path) == stream


@needs_openwakeword
def test_training_with_a_bank_teaches_the_head_to_reject_its_windows(tmp_path, sample_corpus, monkeypatch):
    from dlcli.kws.config import embedding_config
    from dlcli.kws.negatives import BankNegatives, NegativeBank, score_windows
    from dlcli.kws.predictor import load_predictor
    from dlcli.kws.train import train

    monkeypatch.setenv("DLCLI_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    # "speech" the clips never show: embeddings far from any clip's, in two chunks
    embeddings = (rng.standard_normal((120, 96)) * 2 + 40).astype(np.float32)
    bank = NegativeBank(embeddings, np.array([0, 100, 120]), [], 120 * 0.08 / 3600)
    starts = bank.window_starts(9)
    scores = {}
    for name, weight in (("without", None), ("with", 5.0)):
        config = embedding_config()
        config.data.task, config.data.max_train_clips, config.data.max_validation_clips = "left-right", 24, 6
        config.train.epochs, config.train.log_every = 3, 1
        negatives = (
            None if weight is None else BankNegatives(embeddings, starts[starts < 92], starts[starts >= 100], weight)
        )
        result = train(sample_corpus, tmp_path / name, config, negatives=negatives)
        predictor = load_predictor(result.best_path or result.last_path, device="cpu")
        probe = BankNegatives(embeddings, starts, starts)
        scores[name] = score_windows(predictor.model, probe, starts, predictor.keyword_indices, 9)
    assert scores["with"].max() < 0.1 and scores["with"].mean() < scores["without"].mean()


@pytest.mark.slow
@needs_openwakeword
@needs_speech
@needs_dictionary
def test_keyword_flow_with_a_bank_trains_mines_calibrates_and_reports(tmp_path, monkeypatch):
    from dlcli.kws.config import embedding_config
    from dlcli.kws.keywords import KeywordCorpusConfig, NegativeSpeechConfig, train_keywords

    monkeypatch.setenv("DLCLI_CACHE", str(tmp_path / "cache"))
    corpus = KeywordCorpusConfig(keywords=["lights on"], voices=10, takes=1, confusable=1, general=1, stream_windows=1)
    config = embedding_config()
    config.train.epochs, config.train.batch_size = 2, 64
    negative = NegativeSpeechConfig(hours=20 / 3600)
    lines = []
    report = train_keywords(
        tmp_path / "run", corpus, config, stream_seconds=8.0, negative=negative, calibration_seconds=8.0,
        quiet=True, echo=lines.append,
    )  # fmt: skip
    assert [line[:5] for line in lines if line.startswith("[")] == ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"]
    assert report["negative_speech"]["bank_windows"] > 100 and "hard_windows" in report["negative_speech"]
    mined = report["negative_speech"]["hard_windows"]
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "first-round.pt").is_file() == (mined > 0)
    assert len(report["streams"]["calibration"]) == 2 and report["test_general_speech_false_accepts"]["hours"] > 0
    assert 0 < report["threshold"] <= 0.999 and (tmp_path / "run" / "keywords.json").is_file()
