"""``tts synth``: text -> wav with a trained model, one utterance or a batch, the model loaded once.

Voices: a corpus speaker by name or id (its Gaussian's mean in the flow's latent space, or
a draw from it with ``vary_speaker``), a new voice drawn from N(0, I) (``sample``), or
two voices mixed (``A:B:0.3`` = 70 % A, 30 % B). Long texts are split at sentence ends
and synthesised sentence by sentence (small attention models stay reliable on short
inputs), joined with short pauses.
"""

from __future__ import annotations

import difflib
import json
import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from dlcli.errors import CheckpointError, InputError, UsageError
from dlcli.train import load_checkpoint
from dlcli.train.loader import load_model
from dlcli.tts.data import AudioConfig
from dlcli.tts.fastspeech import FastSpeech, FastSpeechConfig
from dlcli.tts.model import Tacotron, TacotronConfig
from dlcli.tts.text import EOS, PUNCTUATION, SYMBOL_ID, phonemise
from dlcli.tts.vocoder import GriffinLim, SourceFilter

log = logging.getLogger("dlcli.tts")
TASK = "tts"
PAUSE_SECONDS = 0.15


def set_synthesis_threads(threads: int | None = None) -> int:
    """Intra-op threads for synthesis: ``threads``, else DLCLI_THREADS, else 1.

    Decoding is a chain of batch-1 matrix products too small to split: on a busy 2-core CPU two
    threads cost 15x the CPU time of one (docs/BENCHMARKS.md)."""
    from dlcli.train.device import configure_threads

    return configure_threads(threads, default=1)


def default_model_path() -> Path:
    return Path(str(resources.files("dlcli.tts") / "default" / "model.pt"))


@dataclass
class Voice:
    """What a request asks for: exactly one of speaker / sample / mix (none: the default speaker)."""

    speaker: str | None = None
    sample: bool = False
    mix: str | None = None  # "A:B:weight"
    vary_speaker: bool = False  # draw from the speaker's Gaussian instead of using its mean
    temperature: float = 1.0  # spread of --sample-speaker draws from N(0, T^2 I)


@dataclass
class Request:
    text: str
    output: Path
    voice: Voice = field(default_factory=Voice)
    seed: int = 0
    where: str = ""  # where it came from, for reports: "texts.jsonl line 7"
    error: str | None = None  # why it cannot be synthesised (a malformed line): skipped and reported


class Synthesizer:
    """A loaded model, its speakers and flow, and the vocoder: reuse it for many utterances."""

    def __init__(
        self, model_path: Path | None = None, *, device: str = "cpu", iterations: int = 32, vocoder: str = "auto"
    ):
        path = Path(model_path) if model_path else default_model_path()
        if not path.exists() and model_path is None:
            raise CheckpointError("the default model is missing from this installation; pass --model", path=path)
        checkpoint = load_checkpoint(path, TASK)
        # a duration model (FastSpeech family, flite phones) or the reference Tacotron (older checkpoints)
        fastspeech = (checkpoint.get("model_config") or {}).get("architecture") == "fastspeech"
        config_class, model_class = (FastSpeechConfig, FastSpeech) if fastspeech else (TacotronConfig, Tacotron)
        loaded = load_model(path, TASK, config_class, model_class, device=device, checkpoint=checkpoint, float32=True)
        self.path = path
        self.config, self.model = loaded.config, loaded.model
        self.duration_model = isinstance(self.model, FastSpeech)
        self.device = torch.device(device)
        self.audio = AudioConfig(**checkpoint["features"])
        extra = checkpoint["extra"]
        self.speakers: list[str] = list(extra["speakers"])
        self.counts = list(extra.get("speaker_counts") or [0] * len(self.speakers))
        self.voices = json.loads(extra.get("voices") or "{}")
        self.embeddings = extra["speaker_embeddings"].float()
        self.flow = None
        if extra.get("flow_state"):
            from dlcli.tts.flow import FlowConfig, build_flow

            self.flow = build_flow(FlowConfig(**extra["flow_config"]), self.embeddings.shape[1])
            self.flow.load_state_dict(
                {k: v.float() if v.is_floating_point() else v for k, v in extra["flow_state"].items()}
            )
            self.flow.eval()
        self.references = [m.float() for m in extra.get("reference_mels") or []]
        self.speaker_references: dict[int, list[torch.Tensor]] = {}  # baseline: each voice's own (add_references)
        self.vocoder = GriffinLim(self.audio, iterations=iterations, device=device)
        # duration models predict f0, so they can drive the source-filter vocoder (docs/BENCHMARKS.md, vocoder table)
        choice = (extra.get("vocoder") or "griffin-lim") if vocoder == "auto" else vocoder
        if choice not in ("griffin-lim", "source-filter"):
            raise UsageError(f"vocoder must be griffin-lim or source-filter, not {choice!r}")
        if choice == "source-filter" and not self.duration_model:
            raise UsageError("the source-filter vocoder needs f0, which only the duration model predicts")
        self.source_filter = SourceFilter(self.audio, device=device) if choice == "source-filter" else None
        self.default_speaker = str(extra.get("default_speaker") or self.speakers[0])

    # ------------------------------------------------------------------ voices
    def speaker_index(self, name: str) -> int:
        """A speaker by exact name, id, or unique prefix; unknown names suggest the closest ones."""
        if name in self.speakers:
            return self.speakers.index(name)
        if name.isdigit() and int(name) < len(self.speakers):
            return int(name)
        matches = [i for i, s in enumerate(self.speakers) if s.startswith(name)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(self.speakers[i] for i in matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise InputError(
                f"speaker '{name}' is ambiguous: it starts {len(matches)} voices ({names})", path=self.path
            )
        close = difflib.get_close_matches(name, self.speakers, n=3, cutoff=0.4)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (dlcli tts speakers lists them)"
        raise InputError(f"unknown speaker '{name}'{hint}", path=self.path)

    def voice_vector(self, voice: Voice, generator: torch.Generator) -> torch.Tensor:
        """The conditioning vector (flow latent for the proposed model, embedding for the baseline)."""
        proposed = self.config.variant == "proposed"
        table = self.model.speaker_mean
        if voice.sample:
            if not proposed:
                raise UsageError("--sample-speaker needs the proposed model (the baseline has no speaker distribution)")
            return voice.temperature * torch.randn(table.shape[1], generator=generator)
        if voice.mix:
            parts = voice.mix.rsplit(":", 2)
            try:
                first, second, weight = parts[0], parts[1], float(parts[2])
            except (IndexError, ValueError):
                raise UsageError(f"--mix takes A:B:WEIGHT (e.g. rms:slt:0.3), not '{voice.mix}'") from None
            if not 0.0 <= weight <= 1.0:
                raise UsageError(f"--mix weight must be between 0 and 1, not {weight}")
            a, b = table[self.speaker_index(first)], table[self.speaker_index(second)]
            mixed = (1 - weight) * a + weight * b
            return mixed if proposed else mixed / mixed.norm().clamp_min(1e-9)
        index = self.speaker_index(voice.speaker or self.default_speaker)
        if voice.vary_speaker and proposed:
            noise = torch.randn(table.shape[1], generator=generator)
            return table[index] + self.model.speaker_sigma[index] * noise
        return table[index]

    def add_references(self, speaker: str, audio_files: list[Path]) -> int:
        """Give the baseline variant reference spectrograms of ``speaker``'s own recordings.

        The baseline's reference encoder saw each utterance's own spectrogram in training; at synthesis
        it otherwise gets one of the few training spectrograms stored in the checkpoint, of whatever
        voices they were, for every voice. With references of its own, a voice is synthesised with a
        recording of that voice (picked by the seed), as the reference method's baseline is fed.
        Returns how many references the voice has now."""
        from dlcli.audio import load_audio
        from dlcli.tts.data import log_mels

        index = self.speaker_index(speaker)
        waveforms = [load_audio(path, self.audio.sample_rate)[0] for path in audio_files]
        mels = [(mel - self.model.mel_mean) / self.model.mel_std for mel in log_mels(waveforms, self.audio)]
        self.speaker_references.setdefault(index, []).extend(mel.float().cpu() for mel in mels)
        return len(self.speaker_references[index])

    # ------------------------------------------------------------------ synthesis
    def _sentences(self, text: str) -> list[list[int]]:
        """Symbol ids per sentence (split after . ? ! and, for long sentences, after ; :)."""
        phonemised = phonemise(text)
        if phonemised.guessed:
            log.info(f"spelled by letter-to-sound rules: {', '.join(sorted(set(phonemised.guessed)))}")
        if phonemised.dropped:
            log.warning(f"ignored characters: {' '.join(sorted(set(phonemised.dropped)))}")
        pieces, current = [], []
        for symbol in phonemised.symbols[:-1]:
            current.append(symbol)
            long_enough = len(current) > 60 and symbol in (";", ":", ",")
            if symbol in (".", "?", "!") or long_enough:
                pieces.append(current)
                current = []
        if any(s not in PUNCTUATION and s != " " for s in current):
            pieces.append(current)
        sentences = []
        for piece in pieces:
            while piece and piece[0] == " ":
                piece = piece[1:]
            if any(s not in PUNCTUATION and s != " " for s in piece):
                sentences.append([SYMBOL_ID[s] for s in piece if s != EOS] + [SYMBOL_ID[EOS]])
        return sentences

    @torch.no_grad()
    def synthesize(
        self, text: str, voice: Voice | None = None, *, seed: int = 0, prosody_scale: float = 1.0
    ) -> np.ndarray:
        """A float32 waveform at ``self.audio.sample_rate``."""
        if not text or not text.strip():
            raise InputError("empty text: nothing to synthesise")
        if self.duration_model:
            return self._speak_phones(text, voice, seed, prosody_scale)
        sentences = self._sentences(text)
        if not sentences:
            raise InputError(f"no speakable words in the text {text[:40]!r}")
        vector, reference = self._conditioning(voice, seed)
        pause = np.zeros(int(PAUSE_SECONDS * self.audio.sample_rate), np.float32)
        pieces = []
        for ids in sentences:
            symbols = torch.tensor([ids], device=self.device)
            mel, frames, _ = self.model.infer(symbols, torch.tensor([len(ids)]), vector[None], reference, prosody_scale)
            log_mel = self.model.denormalise(mel[:, : int(frames[0])])
            audio = self.vocoder(log_mel, seed=seed)[0].cpu().numpy()
            pieces += [audio, pause]
        return np.concatenate(pieces[:-1]).astype(np.float32)

    def _conditioning(self, voice: Voice | None, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The speaker vector of ``voice`` and, for the baseline variant, a reference spectrogram; seeds the
        global generator too (Tacotron's prenet dropout and the residual branch's draw)."""
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        vector = self.voice_vector(voice or Voice(), generator).to(self.device)
        reference = None
        if self.config.variant == "baseline":
            own = None
            if voice is None or not (voice.sample or voice.mix):
                own = self.speaker_references.get(
                    self.speaker_index((voice or Voice()).speaker or self.default_speaker)
                )
            choices = own or self.references
            if not choices:
                raise CheckpointError("baseline model without reference spectrograms", path=self.path)
            reference = choices[seed % len(choices)][None].to(self.device)
        return vector, reference

    # ------------------------------------------------------------------ duration model
    MAX_PHONES = 400  # longer inputs are cut at pauses into pieces of at most this many phones

    def _phone_pieces(self, text: str) -> list[list[int]]:
        """flite's phones for the normalised text (the front end the corpus was aligned with), cut at pauses."""
        from dlcli.tts.align import PHONE_ID, phone_ids, spoken_text, text_phones
        from dlcli.tts.text import normalise

        normalised = normalise(text)
        if normalised.dropped:
            log.warning(f"ignored characters: {' '.join(sorted(set(normalised.dropped)))}")
        words = spoken_text(normalised.tokens)
        phones = text_phones(words) if words.strip(" ,.;:!?") else []
        if not any(phone != "pau" for phone in phones):
            raise InputError(f"no speakable words in the text {text[:40]!r}")
        ids = phone_ids(phones)
        pieces, start = [], 0
        while len(ids) - start > self.MAX_PHONES:
            window = ids[start : start + self.MAX_PHONES]
            pauses = [i for i, p in enumerate(window) if p == PHONE_ID["pau"] and i > 0]
            cut = pauses[-1] + 1 if pauses else self.MAX_PHONES
            pieces.append(ids[start : start + cut])
            start += cut
        return pieces + [ids[start:]]

    def _speak_phones(self, text: str, voice: Voice | None, seed: int, prosody_scale: float) -> np.ndarray:
        pieces = self._phone_pieces(text)
        vector, reference = self._conditioning(voice, seed)
        audio = []
        for ids in pieces:
            phones = torch.tensor([ids], device=self.device)
            mel, frames, _, f0 = self.model.infer(phones, vector[None], reference, prosody_scale, with_f0=True)
            log_mel = self.model.denormalise(mel[:, : int(frames[0])])
            if self.source_filter is not None:
                f0 = f0[0, : int(frames[0])].float().cpu()
                audio.append(self.source_filter(log_mel, f0, (f0 > 0).float(), seed=seed)[0].cpu().numpy())
            else:
                audio.append(self.vocoder(log_mel, seed=seed)[0].cpu().numpy())
        return np.concatenate(audio).astype(np.float32)


def read_text_lines(path: Path | None) -> list[str]:
    """The lines of a UTF-8 text file (a byte-order mark is allowed), or of standard input when ``path`` is None;
    other encodings are one clear error, not a traceback."""
    import sys

    try:
        data = path.read_bytes() if path is not None else sys.stdin.buffer.read()
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", path=path) from None
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 text (byte 0x{data[error.start]:02x} on line {line}); save it as UTF-8",
            path=path if path is not None else "stdin",
        ) from None


def _item_problem(item: object) -> str | None:
    """Why a JSON line cannot be spoken as asked, or None."""
    if not isinstance(item, dict):
        return f'a JSON line must be an object with a "text", not {type(item).__name__}'
    text = item.get("text")
    if text is not None and (isinstance(text, bool) or not isinstance(text, (str, int, float))):
        return f'"text" must be a string, not {json.dumps(text)[:40]}'
    for key in ("speaker", "speaker_id"):
        value = item.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            return f'"{key}" must be a name or a number, not {json.dumps(value)[:40]}'
    if item.get("output_file") is not None and not isinstance(item["output_file"], str):
        return f'"output_file" must be a path, not {json.dumps(item["output_file"])[:40]}'
    if item.get("mix") is not None and not isinstance(item["mix"], str):
        return f'"mix" must be A:B:WEIGHT, not {json.dumps(item["mix"])[:40]}'
    seed = item.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        return f'"seed" must be a whole number from 0 to 2^63-1, not {json.dumps(seed)[:40]}'
    return None


def read_requests(
    lines: list[str], default_output: Path, voice: Voice, seed: int, *, source: str = "input"
) -> list[Request]:
    """Text lines or JSON lines ({"text", "speaker" or "speaker_id", "output_file", "seed", "mix"}) -> requests.

    Outputs are numbered by item by default. A line that cannot be used becomes a request that carries its
    problem, so that the batch skips and reports it (with the line's number in ``source``) and goes on."""
    requests = []
    stem, suffix = default_output.with_suffix(""), default_output.suffix or ".wav"
    items = ((line_number, line.strip()) for line_number, line in enumerate(lines, 1) if line.strip())
    for number, (line_number, line) in enumerate(items, 1):
        output = Path(f"{stem}-{number:04d}{suffix}")
        where = f"{source} line {line_number}"
        if not line.startswith("{"):
            requests.append(Request(line, output, voice, seed + number, where=where))
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            requests.append(
                Request("", output, voice, seed + number, where=where, error=f"not valid JSON ({error.msg})")
            )
            continue
        problem = _item_problem(item)
        if problem:
            requests.append(Request("", output, voice, seed + number, where=where, error=problem))
            continue
        speaker = item.get("speaker", item.get("speaker_id"))  # Piper's JSON lines name the voice speaker_id
        item_voice = Voice(
            speaker=str(speaker) if speaker is not None else voice.speaker,
            sample=voice.sample,
            mix=item.get("mix", voice.mix),
            vary_speaker=voice.vary_speaker,
            temperature=voice.temperature,
        )
        if speaker is not None:
            item_voice.sample, item_voice.mix = False, item.get("mix")
        text = item.get("text")
        requests.append(
            Request(
                "" if text is None else str(text),
                Path(item.get("output_file") or output),
                item_voice,
                item["seed"] if item.get("seed") is not None else seed + number,
                where=where,
            )
        )
    return requests


def _check_output(path: Path) -> None:
    """Fail before synthesis when the wav cannot be written where asked."""
    from dlcli.audio.io import _FORMATS

    if path.suffix.lower() not in _FORMATS:
        raise InputError(f"cannot write audio with extension '{path.suffix}' (use one of {', '.join(_FORMATS)})")
    if path.is_dir():
        raise InputError("is a folder, not a file name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot write here: {parent} is a file, not a folder")
            break


def synthesize_batch(synth: Synthesizer, requests: list[Request], *, prosody_scale: float = 1.0, quiet: bool = False):
    """Write every request's wav; return (reports, errors). Bad items are skipped, their errors returned
    (each with ``item``: where the request came from, e.g. "texts.jsonl line 7")."""
    from dlcli.audio import save_audio
    from dlcli.console import progress
    from dlcli.errors import DlcliError

    reports, problems = [], []
    with progress(disable=quiet or len(requests) < 2) as bar:
        task = bar.add_task("synthesising", total=len(requests), info="")
        for number, request in enumerate(requests, 1):
            try:
                if request.error:
                    raise InputError(request.error)
                try:
                    _check_output(request.output)
                except InputError as error:
                    raise InputError(error.message, path=request.output) from None
                started, cpu_started = time.perf_counter(), time.process_time()
                audio = synth.synthesize(request.text, request.voice, seed=request.seed, prosody_scale=prosody_scale)
                seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
                try:
                    request.output.parent.mkdir(parents=True, exist_ok=True)
                    save_audio(request.output, audio, synth.audio.sample_rate)
                except OSError as error:  # a full disk, no permission
                    raise InputError(f"cannot write: {error.strerror or error}", path=request.output) from None
                duration = len(audio) / synth.audio.sample_rate
                reports.append(
                    {
                        "output_file": str(request.output),
                        "seconds_audio": round(duration, 3),
                        "seconds_compute": round(seconds, 3),
                        "rtf": round(seconds / duration, 4),
                        "cpu_seconds": round(cpu_seconds, 3),  # all threads: on a busy machine the honest cost
                    }
                )
            except DlcliError as error:
                error.item = request.where or f"item {number}"
                problems.append(error)
            bar.update(task, advance=1)
    return reports, problems


def export_model(
    run: Path, destination: Path, *, default_speaker: str | None = None, half: bool = True, vocoder: str | None = None
) -> Path:
    """A compact inference checkpoint from a run: no optimizer state, fp16 weights, a default voice."""
    from dlcli.train import save_checkpoint

    checkpoint = load_checkpoint(run, TASK)
    checkpoint.pop("training_state", None)
    if (checkpoint.get("model_config") or {}).get("aligner"):  # learned durations are a training-time need
        checkpoint["model_config"] = {**checkpoint["model_config"], "aligner": False}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("aligner.")}

    def shrink(value):
        if isinstance(value, torch.Tensor) and value.is_floating_point() and half:
            return value.half()
        if isinstance(value, dict):
            return {k: shrink(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shrink(v) for v in value]
        return value

    # buffers that set the voice or the output scale stay in fp32
    keep = {"speaker_mean", "speaker_sigma", "mel_mean", "mel_std"}
    checkpoint["state_dict"] = {k: v if k in keep else shrink(v) for k, v in checkpoint["state_dict"].items()}
    checkpoint["extra"] = {k: v if k == "speaker_embeddings" else shrink(v) for k, v in checkpoint["extra"].items()}
    speakers = checkpoint["extra"]["speakers"]
    if default_speaker is not None:
        if default_speaker not in speakers:
            raise InputError(f"unknown speaker '{default_speaker}'", path=run)
        checkpoint["extra"]["default_speaker"] = default_speaker
    if vocoder is not None:
        if vocoder == "source-filter" and checkpoint["model_config"].get("architecture") != "fastspeech":
            raise UsageError("the source-filter vocoder needs f0, which only the duration model predicts")
        checkpoint["extra"]["vocoder"] = vocoder
    destination.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(checkpoint, destination)
