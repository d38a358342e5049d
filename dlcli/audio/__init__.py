"""Audio input/output (any format libsndfile reads, resampled by soxr) and torch features."""

from dlcli.audio.io import AUDIO_EXTENSIONS, audio_duration, list_audio_files, load_audio, resample, save_audio

__all__ = ["AUDIO_EXTENSIONS", "audio_duration", "list_audio_files", "load_audio", "resample", "save_audio"]
