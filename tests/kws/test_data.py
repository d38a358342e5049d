import hashlib

import numpy as np
import pytest

from dlcli.audio import save_audio
from dlcli.errors import InputError
from dlcli.kws.data import (
    COMMANDS,
    SILENCE,
    UNKNOWN,
    WORDS,
    build_split,
    fit_length,
    get_task,
    load_clip,
    scan_corpus,
    speaker_of,
    split_of,
    task_examples,
)


def test_split_follows_the_speaker_and_the_official_percentages():
    assert speaker_of("left/0a7c2a8d_nohash_3.wav") == "0a7c2a8d"
    assert split_of("yes/0a7c2a8d_nohash_0.wav") == split_of("no/0a7c2a8d_nohash_4.flac")
    names = [f"{i:08x}_nohash_0.wav" for i in range(20000)]
    shares = {s: sum(split_of(n) == s for n in names) / len(names) for s in ("training", "validation", "testing")}
    assert abs(shares["validation"] - 0.10) < 0.01 and abs(shares["testing"] - 0.10) < 0.01
    # the rule by hand: sha1 of the speaker, modulo 2^27, as a percentage of 2^27 - 1
    for name in names[:200]:
        percent = (int(hashlib.sha1(speaker_of(name).encode()).hexdigest(), 16) % 2**27) * 100 / (2**27 - 1)
        expected = "validation" if percent < 10 else "testing" if percent < 20 else "training"
        assert split_of(name) == expected


def test_tasks_group_words_as_in_the_paper():
    words = list(WORDS)
    assert get_task("35-words").labels(words) == sorted(words)
    labels = get_task("10-commands").labels(words)
    assert labels == [*COMMANDS, UNKNOWN]
    task = get_task("10-commands")
    assert task.label_of("left", labels) == labels.index("left")
    assert task.label_of("marvin", labels) == labels.index(UNKNOWN)
    assert get_task("left-right").labels(words) == ["left", "right", UNKNOWN]
    assert len(get_task("20-commands").labels(words)) == 21
    assert get_task("12-class").labels(words)[-2:] == [UNKNOWN, SILENCE]
    digits = get_task("digits")
    assert digits.label_of("marvin", digits.labels(words)) is None  # left out, not unknown
    # the unknown share of the paper's Table 6.1 (v0.02 is not balanced; a balanced corpus gives 25/35)
    examples = task_examples_for(words, "10-commands")
    assert examples.count(labels.index(UNKNOWN)) == 25


def task_examples_for(words, task_name):
    task = get_task(task_name)
    labels = task.labels(words)
    return [task.label_of(w, labels) for w in words]


def test_fit_length_centres():
    clip = np.arange(10, dtype=np.float32)
    assert fit_length(clip, 14).tolist() == [0, 0, *range(10), 0, 0]
    assert fit_length(clip, 4).tolist() == [3, 4, 5, 6]


def test_sample_corpus_lists_agree_with_the_hash_rule(sample_corpus):
    corpus = scan_corpus(sample_corpus)
    assert corpus.split_source == "lists" and len(corpus.words) == 35
    assert all(split_of(c.path.name) == c.split for c in corpus.clips)
    speakers = {s: {c.speaker for c in corpus.clips if c.split == s} for s in ("training", "validation", "testing")}
    assert all(speakers.values())
    assert not (speakers["training"] & speakers["testing"]) and not (speakers["training"] & speakers["validation"])
    assert len(corpus.background) == 6


def test_without_lists_the_hash_rule_splits(tmp_path):
    for speaker in ("aaaa0001", "bbbb0002", "cccc0003"):
        save_audio(tmp_path / "yes" / f"{speaker}_nohash_0.wav", np.full(4000, 0.1, np.float32), 8000)
    (tmp_path / "_background_noise_").mkdir()
    corpus = scan_corpus(tmp_path)
    assert corpus.split_source == "hash rule"
    assert {c.speaker: c.split for c in corpus.clips} == {s: split_of(s) for s in ("aaaa0001", "bbbb0002", "cccc0003")}
    clip = load_clip(corpus.clips[0].path)  # 0.5 s at 8 kHz -> 1 s at 16 kHz, centred
    assert clip.shape == (16000,) and clip[:3000].max() == 0 and abs(clip[8000] - 0.1) < 1e-3


def test_empty_or_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no audio clips"):
        scan_corpus(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        scan_corpus(tmp_path / "absent")


def test_twelve_class_split_is_balanced_with_silence(sample_corpus):
    corpus = scan_corpus(sample_corpus)
    task = get_task("12-class")
    labels = task.labels(corpus.words)
    from dlcli.kws.data import load_background

    noises = load_background(corpus.background)
    data = build_split(corpus, task, labels, "training", noises=noises)
    counts = np.bincount(data.targets, minlength=len(labels))
    per_command = counts[: len(COMMANDS)]
    assert (per_command == per_command[0]).all()
    assert counts[labels.index(UNKNOWN)] == per_command[0]  # cut down from 25 words' worth
    assert counts[labels.index(SILENCE)] > 0 and data.paths[-1] == ""
    again = build_split(corpus, task, labels, "training", noises=noises)
    assert np.array_equal(again.clips, data.clips)  # silence is deterministic


def test_unreadable_clips_are_reported_not_fatal(tmp_path, sample_corpus):
    import shutil

    shutil.copytree(sample_corpus / "yes", tmp_path / "yes")
    (tmp_path / "yes" / "deadbeef_nohash_0.wav").write_bytes(b"RIFF not really")
    corpus = scan_corpus(tmp_path)
    task = get_task("35-words")
    data = build_split(corpus, task, task.labels(corpus.words), None)
    assert len(data.failures) == 1 and "deadbeef" in str(data.failures[0][0])
    assert len(data.targets) == len(corpus.clips) - 1


def test_released_test_set_layout_reads_unknown_and_silence_folders(tmp_path, sample_corpus):
    """speech_commands_test_set_v0.0x: word folders, _unknown_, _silence_, no lists; all of it is test data."""
    import shutil

    for word in ("yes", "no"):
        shutil.copytree(sample_corpus / word, tmp_path / word)
    shutil.copytree(sample_corpus / "marvin", tmp_path / UNKNOWN)  # unknown words, in their own folder
    shutil.copytree(sample_corpus / "_background_noise_", tmp_path / "_background_noise_")
    for index in range(3):
        save_audio(tmp_path / SILENCE / f"noise{index}_nohash_{index}.wav", np.zeros(16000, np.float32), 16000)
    corpus = scan_corpus(tmp_path)
    assert corpus.split_source == "released test set"
    assert corpus.words == ["no", "yes"]  # the two special folders are classes, not words
    assert {c.split for c in corpus.clips} == {"testing"} and len(corpus.background) == 6
    task = get_task("12-class")
    labels = task.labels(list(COMMANDS))
    data = build_split(corpus, task, labels, "testing", noises=[])
    counts = np.bincount(data.targets, minlength=len(labels))
    assert counts[labels.index(SILENCE)] == 3  # the folder's clips, none generated
    assert counts[labels.index(UNKNOWN)] == len(list((tmp_path / UNKNOWN).iterdir()))  # all kept, not cut down
    assert counts[labels.index("yes")] == len(list((tmp_path / "yes").iterdir()))
    assert "" not in data.paths
    # a task without those classes leaves them out
    commands = get_task("10-commands")
    paths, _ = task_examples(corpus, commands, commands.labels(corpus.words), None)
    assert paths and not any(SILENCE in str(p) for p in paths)
