"""End to end on the committed sample corpus: train a tiny model, then synthesise through the CLI."""

import json
import shutil
from pathlib import Path

import pytest
import soundfile
import torch

from dlcli.cli import app
from dlcli.tts.corpus import read_corpus

from .helpers import UNALIGNED as SAMPLE
from .helpers import invoke, runner


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny proposed model trained for a few steps (the embedding cache ships with the sample corpus)."""
    root = tmp_path_factory.mktemp("tts")
    corpus = root / "corpus"
    shutil.copytree(SAMPLE, corpus)
    run = root / "run"
    result = train_tacotron(corpus, run, 2)
    assert result.exit_code == 0, result.output
    return corpus, run


def train_tacotron(corpus, run, max_steps, *more):
    """A tiny Tacotron run of ``max_steps`` steps in one epoch."""
    return invoke("tts", "train", corpus, "--out", run, "--arch", "tacotron", "--preset", "tiny",
                  "--max-steps", max_steps, "--epochs", "1", *more)  # fmt: skip


def test_train_writes_checkpoints_plots_and_resumes(tiny_run):
    corpus, run = tiny_run
    assert (run / "last.pt").is_file() and (run / "best.pt").is_file() and (run / "config.yaml").is_file()
    assert list((run / "plots").glob("validation-*.png"))
    again = invoke("tts", "train", corpus, "--out", run, "--arch", "tacotron", "--preset", "tiny")
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = train_tacotron(corpus, run, 3, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert torch.load(run / "last.pt", weights_only=True)["metrics"]["step"] == 3


def test_synth_one_utterance_is_deterministic(tiny_run, tmp_path):
    _, run = tiny_run
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    for out in (first, second):
        result = invoke(
            "tts", "synth", "Hello world.", "--model", run, "--out", out, "--seed", "3", "--iterations", "4"
        )
        assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(first)
    assert rate == 16000 and len(audio) > 0
    assert first.read_bytes() == second.read_bytes()


def test_synth_voices_sample_mix_and_prosody_scale(tiny_run, tmp_path):
    _, run = tiny_run
    for i, options in enumerate(
        (["--speaker", "flite-rms", "--prosody-scale", "0"], ["--sample-speaker"], ["--mix", "0:2:0.3"])
    ):
        out = tmp_path / f"{i}.wav"
        result = invoke("tts", "synth", "Is it?", "--model", run, "--out", out, "--iterations", "2", *options)
        assert result.exit_code == 0, (options, result.output)
        assert out.is_file()


def test_synth_errors_are_one_clear_line(tiny_run, tmp_path):
    _, run = tiny_run
    empty = invoke("tts", "synth", "   ", "--model", run, "--out", tmp_path / "x.wav")
    assert empty.exit_code == 3 and "empty text" in empty.output
    unknown = invoke("tts", "synth", "hi", "--model", run, "--speaker", "nobody", "--out", tmp_path / "x.wav")
    assert unknown.exit_code == 3 and "unknown speaker 'nobody'" in unknown.output
    ambiguous = invoke("tts", "synth", "hi", "--model", run, "--speaker", "espeak-en", "--out", tmp_path / "x.wav")
    assert ambiguous.exit_code == 3 and "'espeak-en' is ambiguous: it starts 2 voices" in ambiguous.output
    bad_mix = invoke("tts", "synth", "hi", "--model", run, "--mix", "0:1", "--out", tmp_path / "x.wav")
    assert bad_mix.exit_code == 2 and "A:B:WEIGHT" in bad_mix.output
    assert not (tmp_path / "x.wav").exists()
    other = tmp_path / "other.pt"
    torch.save({"format": "dlcli-checkpoint", "format_version": 1, "task": "kws"}, other)
    wrong = invoke("tts", "synth", "hi", "--model", other, "--out", tmp_path / "x.wav")
    assert wrong.exit_code == 4 and "'kws' checkpoint" in wrong.output


def test_synth_batch_from_json_lines_skips_and_reports_bad_items(tiny_run, tmp_path):
    _, run = tiny_run
    lines = [
        json.dumps({"text": "One two.", "speaker": "0", "output_file": str(tmp_path / "one.wav")}),
        json.dumps({"text": "", "output_file": str(tmp_path / "empty.wav")}),
        "{not json",
        json.dumps({"text": "Three.", "speaker": "ghost", "output_file": str(tmp_path / "ghost.wav")}),
        "A plain line of text.",
    ]
    result = invoke(
        "tts",
        "synth",
        "--stdin",
        "--model",
        run,
        "--out",
        tmp_path / "line.wav",
        "--iterations",
        "2",
        "--json",
        input="\n".join(lines),
    )
    assert result.exit_code == 5, result.output
    assert (tmp_path / "one.wav").is_file() and (tmp_path / "line-0005.wav").is_file()
    assert not (tmp_path / "empty.wav").exists() and not (tmp_path / "ghost.wav").exists()
    assert "3 of 5 utterances skipped" in result.output


def test_synth_batch_skips_each_bad_item_and_names_its_line(tiny_run, tmp_path):
    _, run = tiny_run
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    lines = [
        json.dumps({"text": "One two.", "output_file": str(tmp_path / "good.wav")}),
        "",  # blank lines are not items, but they count in line numbers
        json.dumps({"text": "Seed.", "seed": "abc", "output_file": str(tmp_path / "seed.wav")}),
        json.dumps({"text": "Seed.", "seed": 1.5, "output_file": str(tmp_path / "half.wav")}),
        json.dumps({"text": "Under a file.", "output_file": str(blocker / "x.wav")}),
        json.dumps({"text": "   ", "output_file": str(tmp_path / "blank.wav")}),
        json.dumps({"text": "Who?", "speaker": "ghost", "output_file": str(tmp_path / "ghost.wav")}),
        json.dumps({"text": "Path.", "output_file": 5}),
        json.dumps({"text": "Last one.", "speaker_id": 1, "seed": 7, "output_file": str(tmp_path / "last.wav")}),
    ]
    texts = tmp_path / "texts.jsonl"
    texts.write_text("\n".join(lines) + "\n")
    result = invoke("tts", "synth", "--input", texts, "--model", run, "--out", tmp_path / "n.wav", "--iterations", "2")
    assert result.exit_code == 5, result.output
    assert (tmp_path / "good.wav").is_file() and (tmp_path / "last.wav").is_file()
    assert "Traceback" not in result.output
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 6, result.output
    for line_number, problem in [
        (3, '"seed" must be a whole number'),
        (4, '"seed" must be a whole number'),
        (5, "is a file, not a folder"),
        (6, "empty text"),
        (7, "unknown speaker 'ghost'"),
        (8, '"output_file" must be a path'),
    ]:
        assert any(f"texts.jsonl line {line_number}:" in s and problem in s for s in skipped), (line_number, skipped)
    assert "6 of 8 utterances skipped; the rest were written" in result.output


def test_synth_output_under_a_file_is_one_clear_line(tiny_run, tmp_path):
    _, run = tiny_run
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = invoke("tts", "synth", "Hello.", "--model", run, "--out", blocker / "x.wav", "--iterations", "2")
    assert result.exit_code == 3, result.output
    assert "is a file, not a folder" in result.output and "Traceback" not in result.output


def test_synth_input_that_is_not_utf8_is_one_clear_line(tiny_run, tmp_path):
    _, run = tiny_run
    latin1 = tmp_path / "texts.txt"
    latin1.write_bytes("Hello there.\nThe caf\u00e9 opens at noon.\n".encode("latin-1"))
    result = invoke("tts", "synth", "--input", latin1, "--model", run, "--out", tmp_path / "x.wav")
    assert result.exit_code == 3, result.output
    assert "texts.txt: not UTF-8 text (byte 0xe9 on line 2)" in result.output
    assert "Traceback" not in result.output and "UnicodeDecodeError" not in result.output
    piped = runner.invoke(
        app, ["tts", "synth", "--stdin", "--model", str(run), "--out", str(tmp_path / "y.wav")], input=b"caf\xe9\n"
    )
    assert piped.exit_code == 3 and "stdin: not UTF-8 text" in piped.output, piped.output
    assert not list(tmp_path.glob("*.wav"))


def test_read_requests_numbers_lines_and_keeps_bad_ones_for_the_report():
    from dlcli.tts.synth import Voice, read_requests

    lines = ["\ufeffplain text", "", '{"text": "x", "seed": true}', '{"text": "y", "seed": 3, "speaker_id": 2}', "[1]"]
    requests = read_requests(lines, Path("out.wav"), Voice(), 10, source="in.jsonl")
    assert [r.where for r in requests] == ["in.jsonl line 1", "in.jsonl line 3", "in.jsonl line 4", "in.jsonl line 5"]
    assert [r.output.name for r in requests] == ["out-0001.wav", "out-0002.wav", "out-0003.wav", "out-0004.wav"]
    assert requests[1].error.startswith('"seed" must be a whole number')
    assert requests[2].error is None and requests[2].seed == 3 and requests[2].voice.speaker == "2"
    assert requests[3].error is None and requests[3].text == "[1]"  # not JSON: read as text


def test_train_on_an_unreadable_corpus_is_one_clear_line(tmp_path):
    """Checked before any model is built: a metadata file that is not UTF-8, or a folder without one."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE, corpus)
    with (corpus / "metadata.csv").open("ab") as handle:
        handle.write(b"wavs/x.wav|somebody|caf\xe9\n")
    result = invoke("tts", "train", corpus, "--out", tmp_path / "run")
    assert result.exit_code == 3, result.output
    assert "metadata.csv: cannot read" in result.output and "Traceback" not in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("tts", "train", empty, "--out", tmp_path / "run2")
    assert result.exit_code == 3 and "no metadata.csv" in result.output, result.output


def test_speakers_lists_the_voices(tiny_run):
    _, run = tiny_run
    result = invoke("tts", "speakers", "--model", run, "--json")
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == sorted({u.speaker for u in read_corpus(SAMPLE)[0]})
    assert all(row["utterances"] == 6 for row in rows)


def test_corpus_reader_accepts_ljspeech_and_reports_bad_lines(tmp_path):
    (tmp_path / "wavs").mkdir()
    shutil.copy(next(SAMPLE.glob("wavs/*/*.flac")), tmp_path / "wavs" / "LJ001-0001.wav")
    (tmp_path / "metadata.csv").write_text(
        "LJ001-0001|Printing, in the only sense|Printing, in the only sense\nLJ001-0002|missing audio\n"
    )
    utterances, problems = read_corpus(tmp_path)
    assert len(utterances) == 1 and utterances[0].speaker == tmp_path.name
    assert len(problems) == 1 and "no such audio file" in problems[0]


def test_default_model_speaks_hello_world(tmp_path):
    out = tmp_path / "hello.wav"
    result = invoke("tts", "synth", "Hello world", "--out", out)
    assert result.exit_code == 0, result.output
    audio, rate = soundfile.read(out)
    assert rate == 16000 and 0.4 < len(audio) / rate < 4.0


@pytest.mark.slow
def test_evaluate_writes_every_table(tiny_run, tmp_path):
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("resemblyzer")
    corpus, run = tiny_run
    out = tmp_path / "evaluation"
    result = invoke(
        "tts", "evaluate", run, "--baseline", run, "--corpus", corpus, "--out", out, "--sentences", "1",
        "--speakers", "3", "--prosody-pairs", "2", "--prosody-seeds", "2", "--interpolation-speakers", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"intelligibility", "distinctiveness", "prosody", "interpolation"}
    assert set(results["intelligibility"]) == {"corpus", "proposed", "baseline"}
    assert results["interpolation"]["proposed"]["pairs"] == 3
    assert "false acceptance" in (out / "report.md").read_text()


def test_synthesis_threads_default_to_one_unless_asked(monkeypatch):
    from dlcli.tts.synth import set_synthesis_threads

    monkeypatch.delenv("DLCLI_THREADS", raising=False)
    assert set_synthesis_threads() == 1
    monkeypatch.setenv("DLCLI_THREADS", "2")
    assert set_synthesis_threads() == 2
    assert set_synthesis_threads(1) == 1  # the option wins over the environment
