"""The clip cache: decoded once, read back, invalidated by a changed file, rebuilt when damaged."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from dlcli.kws import clipcache
from dlcli.kws.clipcache import cached_decode
from dlcli.kws.clipcache import clip_cache_folder as default_folder  # the conftest points the module's to tmp
from dlcli.kws.data import CLIP_SAMPLES, SAMPLE_RATE, build_split, get_task, load_clips, scan_corpus


@pytest.fixture
def corpus(tmp_path, sample_corpus) -> Path:
    """Three word folders of the sample corpus (a copy, so files can change)."""
    root = tmp_path / "corpus"
    for word in ("yes", "no", "up"):
        shutil.copytree(sample_corpus / word, root / word)
    return root


class CountingDecoder:
    def __init__(self):
        self.calls = 0

    def __call__(self, paths):
        self.calls += 1
        return load_clips(paths)


def decode(paths, decoder):
    return cached_decode(paths, decoder, sample_rate=SAMPLE_RATE, clip_samples=CLIP_SAMPLES)


def files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.flac"))


def test_built_once_then_read_back_unchanged(corpus):
    paths, decoder = files(corpus), CountingDecoder()
    assert len(paths) >= 6
    first = decode(paths, decoder)
    second = decode(paths, decoder)
    assert decoder.calls == 1
    assert len(list(clipcache.clip_cache_folder().glob("*.npz"))) == 1
    np.testing.assert_array_equal(first[0], second[0])
    assert first[0].dtype == np.int16 and first[0].shape == (len(paths), CLIP_SAMPLES)
    assert first[1] == second[1] == list(range(len(paths)))


def test_a_changed_added_or_removed_file_invalidates_it(corpus):
    paths, decoder = files(corpus), CountingDecoder()
    before = decode(paths, decoder)[0]
    changed = paths[3]
    samples = np.zeros(CLIP_SAMPLES, dtype=np.int16)
    samples[100:200] = 1000
    import soundfile

    soundfile.write(changed, samples, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    os.utime(changed, ns=(os.stat(changed).st_atime_ns, os.stat(changed).st_mtime_ns + 10**9))
    after = decode(paths, decoder)[0]
    assert decoder.calls == 2
    np.testing.assert_array_equal(after[3], samples)
    np.testing.assert_array_equal(np.delete(after, 3, axis=0), np.delete(before, 3, axis=0))
    decode(paths[:-1], decoder)  # a file fewer: another list, another entry
    assert decoder.calls == 3


def test_a_damaged_cache_is_rebuilt(corpus, caplog):
    paths, decoder = files(corpus), CountingDecoder()
    good = decode(paths, decoder)[0]
    (entry,) = clipcache.clip_cache_folder().glob("*.npz")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the clips: the zip's CRC no longer matches
    entry.write_bytes(bytes(data))
    np.testing.assert_array_equal(decode(paths, decoder)[0], good)
    assert decoder.calls == 2 and "unreadable clip cache" in caplog.text
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated
    np.testing.assert_array_equal(decode(paths, decoder)[0], good)
    assert decoder.calls == 3
    np.testing.assert_array_equal(decode(paths, decoder)[0], good)  # and the rebuilt entry is used
    assert decoder.calls == 3


def test_unreadable_files_are_remembered_with_their_reason(corpus):
    paths = files(corpus)
    paths[0].write_bytes(b"not audio")
    decoder = CountingDecoder()
    clips, loaded, failures = decode(paths, decoder)
    again = decode(paths, decoder)
    assert decoder.calls == 1
    assert loaded == again[1] == list(range(1, len(paths)))
    assert [p for p, _ in failures] == [p for p, _ in again[2]] == [paths[0]]
    assert failures[0][1] == again[2][0][1]


def test_build_split_reads_the_same_clips_from_the_cache(corpus):
    scanned = scan_corpus(corpus)
    task = get_task("35-words")
    labels = task.labels(scanned.words)
    plain = build_split(scanned, task, labels, None, cache=False)
    assert not clipcache.clip_cache_folder().exists()
    cached = [build_split(scanned, task, labels, None) for _ in range(2)]
    for split in cached:
        np.testing.assert_array_equal(split.clips, plain.clips)
        np.testing.assert_array_equal(split.targets, plain.targets)
        assert split.paths == plain.paths


def test_the_cache_lives_under_dlcli_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCLI_CACHE", str(tmp_path))
    assert default_folder() == tmp_path / "kws-clips"
