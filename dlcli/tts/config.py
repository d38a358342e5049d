"""Configuration of a TTS training run (sections: audio, model, flow, loss, data, train)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlcli.train.config import TrainConfig
from dlcli.tts.data import AudioConfig
from dlcli.tts.fastspeech import FastSpeechConfig
from dlcli.tts.flow import FlowConfig
from dlcli.tts.model import TacotronConfig


@dataclass
class LossConfig:
    guided_attention: float = 1.0  # weight of the diagonal prior (Tachibana et al., 2018)
    guided_attention_g: float = 0.2  # width of the diagonal band
    stop: float = 1.0  # weight of the stop-token cross-entropy
    stop_pos_weight: float = 5.0  # the single "stop" step is rare: weigh it up
    kl: float = 1e-3  # weight of the residual branch's KL term (proposed model)
    sharpness: float = 1.0  # duration model: L1 between mel differences along time and frequency (against blur)
    duration: float = 1.0  # duration model: squared error of log(1 + frames)
    pitch: float = 1.0  # duration model: squared error of normalised log f0 (voiced phones) + voicing BCE
    energy: float = 1.0  # duration model: squared error of normalised energy
    alignment: float = 1.0  # duration model, learned durations: the aligner's forward-sum (CTC) loss
    binarisation: float = 1.0  # ... and its pull of the soft attention onto the alignment-search path
    binarisation_warmup: int = 500  # steps over which the binarisation weight ramps up from 0


@dataclass
class DataConfig:
    batch_size: int = 24  # utterances per step (the paper's batch size)
    validation_fraction: float = 0.05  # utterances held out for validation
    max_seconds: float = 8.0  # longer utterances are skipped (memory, decoder steps)
    real_speakers: str | None = None  # folder of real recordings that help the flow see a real voice space
    plots: int = 2  # validation utterances synthesised free-running and plotted at each validation
    embeddings_per_speaker: int = 0  # utterances per speaker embedded for the flow (0: all; large corpora: ~20)
    # duration model: where phone durations come from. given: the corpus's alignments only (others skipped);
    # learned: an aligner + monotonic alignment search for every utterance; auto: given where the corpus has
    # them, learned for the rest
    durations: str = "auto"


def _train_defaults() -> TrainConfig:
    return TrainConfig(
        epochs=200,
        batch_size=1,
        lr=1e-3,
        schedule="cosine",
        warmup_epochs=1.0,
        min_lr=1e-4,
        grad_clip=1.0,
        checkpoint_every=100,
        log_every=20,
        weight_decay=1e-6,
    )


@dataclass
class TTSConfig:
    architecture: str = "fastspeech"  # fastspeech (durations from the corpus alignments) | tacotron (attention)
    audio: AudioConfig = field(default_factory=AudioConfig)
    model: TacotronConfig = field(default_factory=TacotronConfig)  # the Tacotron's sizes
    fastspeech: FastSpeechConfig = field(default_factory=FastSpeechConfig)  # the duration model's sizes
    flow: FlowConfig = field(default_factory=FlowConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=_train_defaults)  # batch_size here is 1 bucket: see data.batch_size


# a model and run small enough to train on a laptop CPU (the shipped default model)
SMALL = {
    "model": {
        "encoder_dim": 128,
        "speaker_dim": 32,
        "prosody_dim": 32,
        "attention_rnn_dim": 256,
        "decoder_rnn_dim": 256,
    },
}
# the dissertation's sizes (192-d speaker, free parameters, mu and sigma), for a GPU
PAPER = {
    "model": {
        "encoder_dim": 512,
        "speaker_dim": 192,
        "prosody_dim": 192,
        "prenet_dim": 256,
        "attention_rnn_dim": 1024,
        "decoder_rnn_dim": 1024,
        "attention_dim": 128,
        "postnet_dim": 512,
    },
    "flow": {"hidden": 256},
}
# tests: seconds per epoch on a tiny corpus
TINY = {
    "model": {
        "encoder_dim": 32,
        "speaker_dim": 8,
        "prosody_dim": 8,
        "prenet_dim": 32,
        "attention_rnn_dim": 48,
        "decoder_rnn_dim": 48,
        "attention_dim": 24,
        "postnet_dim": 32,
    },
    "fastspeech": {
        "dim": 24,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "predictor_dim": 16,
        "prosody_dim": 8,
        "postnet_dim": 16,
    },
    "flow": {"steps": 2, "hidden": 16, "epochs": 5},
    "data": {"batch_size": 8, "plots": 1},
}
PRESETS = {"small": SMALL, "paper": PAPER, "tiny": TINY}
