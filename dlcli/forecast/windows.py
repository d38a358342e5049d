"""From a Panel to model inputs: the date split, input layouts, and batched windows.

A window is (series, origin): the model reads ``history`` periods before the origin and
forecasts ``horizon`` periods from it. Encoder inputs per period are the log1p target,
an "observed" flag (0 before the series' first row or before the data), and every input
channel; decoder inputs are the channels known in advance. Everything is gathered with
NumPy fancy indexing over whole batches (memory-mapped arrays work the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from dlcli.errors import InputError, UsageError
from dlcli.forecast.data import Panel


@dataclass
class SplitConfig:
    horizon: int = 16  # periods forecast from each origin
    test_periods: int = 3  # horizon-long test periods at the end of the data (the paper: 3 x 16 days)
    valid_periods: int = 16  # validation periods before the test periods (0: no validation)
    gap_periods: int = 16  # unused periods between the training targets and the validation (the paper: 16 days)
    min_history: int | None = None  # earliest origin (periods of history before it); default 300 daily, 52 weekly
    random_present: bool = True  # draw each mini-batch's origin ("present") from the training span
    present_per: str = "batch"  # batch (the paper: one present per mini-batch) | example
    unknown_rate: float = 0.02  # share of training windows whose identity (item, store / series) is hidden
    val_series: int = 20000  # series in the validation pass (a fixed sample when there are more)

    def __post_init__(self) -> None:
        from dlcli.errors import ConfigError

        if self.horizon < 1 or self.test_periods < 0 or self.valid_periods < 0 or self.gap_periods < 0:
            raise ConfigError("horizon must be at least 1; test, valid and gap periods must not be negative")
        if self.present_per not in ("batch", "example"):
            raise ConfigError(f"split.present_per must be batch or example, not {self.present_per!r}")
        if not 0 <= self.unknown_rate < 1:
            raise ConfigError("split.unknown_rate must be in [0, 1)")
        if (self.min_history is not None and self.min_history < 0) or self.val_series < 1:
            raise ConfigError("split.min_history must not be negative and split.val_series must be at least 1")


@dataclass
class Split:
    """Period indices of one data set's split (origins are first forecast periods)."""

    train_end: int  # training targets lie before this period
    min_origin: int
    max_origin: int  # last training origin (its targets end at train_end - 1)
    valid_origin: int | None
    test_origins: list[int] = field(default_factory=list)


def make_split(panel: Panel, config: SplitConfig) -> Split:
    horizon, n = config.horizon, panel.n_observed
    test_origins = [n - horizon * (config.test_periods - p) for p in range(config.test_periods)]
    valid_origin = n - horizon * config.test_periods - config.valid_periods if config.valid_periods else None
    end_of_valid = valid_origin if valid_origin is not None else n - horizon * config.test_periods
    train_end = end_of_valid - config.gap_periods
    min_history = config.min_history if config.min_history is not None else (52 if panel.frequency == "W" else 300)
    max_origin = train_end - horizon
    min_origin = min(min_history, max_origin)
    if max_origin < 1:
        raise InputError(
            f"{n} periods cannot hold training windows of {horizon} plus {config.valid_periods} validation, "
            f"{config.gap_periods} gap and {config.test_periods} x {horizon} test periods",
            path=panel.source,
        )
    return Split(train_end, max(1, min_origin), max_origin, valid_origin, test_origins)


@dataclass
class Layout:
    """The model's input channels and how the panel's raw values are scaled into them."""

    encoder: list[str]
    decoder: list[str]
    static_fields: list[str]
    identity: list[str]
    scales: dict[str, list[float]]  # per-series channel -> [mean, std]

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("encoder", "decoder", "static_fields", "identity", "scales")}


SEASONAL = ("year_ago", "year_ago_observed")  # decoder channels: log1p target one year before each forecast period


def season_periods(frequency: str) -> int:
    """One year back on the same weekday: 52 weeks or 364 days."""
    return 52 if frequency == "W" else 364


def make_layout(panel: Panel, train_end: int, seasonal: bool = False) -> Layout:
    """Channels of this panel; per-series numeric inputs are standardised over the training span.

    ``seasonal``: the decoder starts with the target one year earlier and its "recorded" flag.
    """
    scales = {}
    for name, array in {**panel.series_known, **panel.series_past}.items():
        if panel.kind == "favorita":
            scales[name] = [0.0, 1.0]  # promotions are already +1/-1/0
            continue
        sample = np.asarray(array[: min(len(array), 50_000), :train_end], np.float64)
        std = float(sample.std()) if sample.size else 1.0
        scales[name] = [float(sample.mean()) if sample.size else 0.0, std if std > 1e-8 else 1.0]
    known = list(panel.series_known) + panel.time_known.names + (panel.group_known.names if panel.group_known else [])
    past = list(panel.series_past) + panel.time_past.names + (panel.group_past.names if panel.group_past else [])
    decoder = [*SEASONAL, *known] if seasonal else known
    return Layout(["target", "observed", *known, *past], decoder, list(panel.static), list(panel.identity), scales)


def static_lookup(panel: Panel, vocab: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Per field: the panel's code -> the model's code (0 for categories the model never saw)."""
    tables = {}
    for name, categories in vocab.items():
        if name not in panel.static_vocab:
            raise InputError(f"the data has no '{name}' column, which the model was trained with", path=panel.source)
        model_codes = {category: code + 1 for code, category in enumerate(categories)}
        tables[name] = np.array([0] + [model_codes.get(c, 0) for c in panel.static_vocab[name]], np.int64)
    return tables


class WindowMaker:
    """Batched windows of one panel for one model layout."""

    def __init__(self, panel: Panel, layout: Layout, vocab: dict[str, list[str]], horizon: int):
        self.panel, self.layout, self.horizon = panel, layout, horizon
        lookup = static_lookup(panel, vocab)
        self.static = np.stack([lookup[f][panel.static[f]] for f in layout.static_fields], axis=1)
        self.identity_columns = [layout.static_fields.index(f) for f in layout.identity]
        missing = [n for n in layout.encoder[2:] if not self._has(n)]
        if missing:
            raise InputError(f"the data lacks the model's input(s) {', '.join(missing)}", path=panel.source)
        self._encoder_plan, self._decoder_plan = self._plan(layout.encoder), self._plan(layout.decoder)

    def _has(self, name: str) -> bool:
        p = self.panel
        groups = (p.group_known.names if p.group_known else []) + (p.group_past.names if p.group_past else [])
        return (
            name in p.series_known or name in p.series_past or name in p.time_known.names + p.time_past.names + groups
        )

    def _plan(self, names: list[str]) -> list[tuple]:
        """Channels grouped by source, so that each source is gathered once: (kind, source, columns, positions)."""
        p = self.panel
        sources = [("time", p.time_known), ("time", p.time_past), ("group", p.group_known), ("group", p.group_past)]
        plan: list[tuple] = []
        for position, name in enumerate(names):
            if name in ("target", "observed", *SEASONAL):
                continue
            if name in p.series_known or name in p.series_past:
                plan.append(("series", name, None, [position]))
                continue
            kind, features = next((k, f) for k, f in sources if f is not None and name in f.names)
            entry = next((e for e in plan if e[1] is features), None)
            if entry is None:
                plan.append((kind, features, [], []))
                entry = plan[-1]
            entry[2].append(features.names.index(name))
            entry[3].append(position)
        return plan

    def _fill(self, out: np.ndarray, plan: list[tuple], series: np.ndarray, index: np.ndarray) -> None:
        """Write every planned channel into ``out`` [B, L, C] at period indices ``index`` [B, L] (0 outside)."""
        p = self.panel
        same = bool((index == index[:1]).all())  # one origin for the whole batch: gather calendar rows once
        for kind, source, columns, positions in plan:
            where = slice(positions[0], positions[-1] + 1) if positions == list(range(positions[0], positions[-1] + 1)) else positions  # fmt: skip
            if kind == "series":
                array = p.series_known.get(source, p.series_past.get(source))
                width = array.shape[1]
                values = np.asarray(array[series[:, None], np.clip(index, 0, width - 1)], np.float32)
                mean, std = self.layout.scales.get(source, [0.0, 1.0])
                out[:, :, where] = np.where((index >= 0) & (index < width), (values - mean) / std, 0.0)[..., None]
                continue
            width = source.values.shape[-2]
            rows = index[0] if same else index
            outside = (rows < 0) | (rows >= width)
            clipped = np.clip(rows, 0, width - 1)
            if kind == "time":
                block = source.values[clipped][..., columns]  # [L, k] or [B, L, k]
                block[outside] = 0.0
                out[:, :, where] = block[None] if same else block
            elif same:  # per group first ([G, L, k]), then one row per series
                block = source.values[:, clipped][..., columns]
                block[:, outside] = 0.0
                out[:, :, where] = block[p.group[series]]
            else:
                block = source.values[p.group[series][:, None], clipped][..., columns]
                block[outside] = 0.0
                out[:, :, where] = block

    def make(self, series: np.ndarray, origins: np.ndarray, history: int | None, hide_identity=None) -> dict:
        """Inputs (and targets where observed) for windows ``(series[b], origins[b])``."""
        p = self.panel
        series = np.asarray(series, np.int64)
        origins = np.broadcast_to(np.asarray(origins, np.int64), series.shape)
        length = int(origins.max()) if history is None else history
        past = origins[:, None] + np.arange(-length, 0)[None, :]  # [B, L]
        future = origins[:, None] + np.arange(self.horizon)[None, :]  # [B, H]
        n = p.n_observed
        encoder = np.empty((len(series), length, len(self.layout.encoder)), np.float32)
        if length:
            raw = np.asarray(p.values[series[:, None], np.clip(past, 0, n - 1)], np.float32)
            inside = (past >= 0) & (past < n) & np.isfinite(raw)  # NaN: an unrecorded period (data.missing unknown)
            encoder[:, :, 0] = np.where(inside, np.log1p(np.maximum(np.nan_to_num(raw), 0)), 0.0)
            encoder[:, :, 1] = inside & (past >= p.first_period[series][:, None])
            self._fill(encoder, self._encoder_plan, series, past)
        decoder = np.empty((len(series), self.horizon, len(self.layout.decoder)), np.float32)
        self._fill(decoder, self._decoder_plan, series, future)
        if self.layout.decoder[: len(SEASONAL)] == list(SEASONAL):
            before = future - season_periods(p.frequency)
            usable = (before >= 0) & (before < np.minimum(origins, n)[:, None])  # only periods before the origin
            raw = np.asarray(p.values[series[:, None], np.clip(before, 0, n - 1)], np.float32)
            usable &= np.isfinite(raw) & (before >= p.first_period[series][:, None])
            decoder[:, :, 0] = np.where(usable, np.log1p(np.maximum(np.nan_to_num(raw), 0)), 0.0)
            decoder[:, :, 1] = usable
        static = self.static[series].copy()
        if hide_identity is not None:
            static[np.ix_(hide_identity, self.identity_columns)] = 0
        targets = np.asarray(p.values[series[:, None], np.clip(future, 0, n - 1)], np.float32)
        return {
            "history": encoder,
            "future": decoder,
            "static": static,
            "target": np.where(future < n, np.log1p(np.maximum(targets, 0)), np.nan).astype(np.float32),
            "weight": p.weights[series],
        }


def _mix(*values) -> np.ndarray:
    """splitmix64 of the combined values: reproducible pseudo-random uint64 from (seed, epoch, index)."""
    x = np.zeros(np.broadcast_shapes(*[np.shape(v) for v in values]), np.uint64)
    with np.errstate(over="ignore"):
        for value in values:
            x = (x ^ np.asarray(value, np.uint64)) + np.uint64(0x9E3779B97F4A7C15)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            x = x ^ (x >> np.uint64(31))
    return x


def _uniform(*values) -> np.ndarray:
    return (_mix(*values) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _tensors(window: dict) -> tuple[torch.Tensor, ...]:
    return tuple(
        torch.from_numpy(np.ascontiguousarray(window[k])) for k in ("history", "future", "static", "target", "weight")
    )


class TrainingWindows(Dataset):
    """Random windows of the training span: every index is a series, every batch draws its present.

    The random max time step trick (Vallés-Pérez et al., ch. 5): the origin of each
    mini-batch (or example) is uniform over the training span, so the model learns every
    season rather than one cut-off. Without it every window ends at the last training day.
    All draws derive from (seed, epoch, index), so a resumed run sees the same batches.
    """

    def __init__(
        self, maker: WindowMaker, split: Split, config: SplitConfig, history: int | None, length: int, seed: int
    ):
        self.maker, self.split, self.config, self.history, self.length, self.seed = (
            maker,
            split,
            config,
            history,
            length,
            seed,
        )
        self.series = np.flatnonzero(maker.panel.first_period < split.train_end)
        if len(self.series) == 0:
            raise UsageError("no series has data before the end of the training span")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def origins(self, indices: np.ndarray) -> np.ndarray:
        s = self.split
        if not self.config.random_present:
            return np.full(len(indices), s.max_origin)
        keys = indices if self.config.present_per == "example" else np.full(len(indices), indices.min())
        return s.min_origin + (_uniform(self.seed, self.epoch, keys, 1) * (s.max_origin - s.min_origin + 1)).astype(
            np.int64
        )

    def __getitems__(self, indices) -> tuple[torch.Tensor, ...]:
        indices = np.asarray(indices, np.int64)
        series = self.series[(indices + self.epoch * self.length) % len(self.series)]
        hide = _uniform(self.seed, self.epoch, indices, 2) < self.config.unknown_rate
        return _tensors(self.maker.make(series, self.origins(indices), self.history, hide_identity=hide))

    def __getitem__(self, index: int):
        return tuple(t[0] for t in self.__getitems__([index]))

    @staticmethod
    def collate(batch):
        return batch


class FixedOriginWindows(Dataset):
    """Every (or a fixed sample of) series at one origin: validation and evaluation."""

    def __init__(self, maker: WindowMaker, origin: int, history: int | None, series: np.ndarray):
        self.maker, self.origin, self.history, self.series = maker, origin, history, np.asarray(series, np.int64)

    def __len__(self) -> int:
        return len(self.series)

    def __getitems__(self, indices) -> tuple[torch.Tensor, ...]:
        series = self.series[np.asarray(indices, np.int64)]
        return _tensors(self.maker.make(series, np.full(len(series), self.origin), self.history))

    def __getitem__(self, index: int):
        return tuple(t[0] for t in self.__getitems__([index]))

    @staticmethod
    def collate(batch):
        return batch
