"""Forecast models of the dissertation's chapter 5: seq2seq with context conditioning, trimmed, transformer.

Every model maps (history [B, L, Fe], known future inputs [B, H, Fd], static codes [B, n])
to log1p forecasts [B, H]. The seq2seq encoder's last state, concatenated with the static
embeddings, goes through an MLP that becomes the decoder's initial state ("context
conditioning", Fig. 5.4); the decoder starts from a GO symbol of zeros and feeds back its
own predictions (Sutskever et al., 2014). The transformer (Vaswani et al., 2017) adds the
static embeddings to every token, is trained with teacher forcing and decodes
autoregressively at inference (Fig. 5.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from dlcli.errors import ConfigError
from dlcli.forecast.kinds import MODEL_KINDS  # the registry, where the CLI reads it without torch
from dlcli.nn.activations import make_activation
from dlcli.nn.names import canonical_name

# ----------------------------------------------------------------------------- layers


class MLP(nn.Sequential):
    """Linear layers with the chosen activation between them (none after the last)."""

    def __init__(self, sizes: list[int], activation: str, dropout: float = 0.0):
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if index < len(sizes) - 2:
                layers.append(make_activation(activation))
                if dropout:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class StaticEmbeddings(nn.Module):
    """One embedding table per static field; row 0 is "unknown" (unseen items, stores, series)."""

    def __init__(self, vocab_sizes: list[int], dims: list[int]):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(size + 1, dim) for size, dim in zip(vocab_sizes, dims))
        self.size = sum(dims)

    def forward(self, codes: Tensor) -> Tensor:  # [B, fields] -> [B, sum(dims)]
        if not len(self.tables):
            return codes.new_zeros((codes.shape[0], 0), dtype=torch.float32)
        return torch.cat([table(codes[:, i]) for i, table in enumerate(self.tables)], dim=1)


def series_level(history: Tensor, periods: int) -> Tensor:
    """Mean log1p target over the last ``periods`` observed periods of each window: [B] (0 without history).

    Channel 0 of the history is the log1p target and channel 1 the "observed" flag
    (``windows.WindowMaker``). Subtracting this level from the inputs and adding it back
    to the outputs lets one network serve series whose volumes differ by orders of
    magnitude (the scaling of DeepAR, Salinas et al., 2020, here in log space).
    """
    if history.shape[1] == 0:
        return history.new_zeros(history.shape[0])
    recent = history[:, -periods:]
    observed = recent[..., 1]
    return (recent[..., 0] * observed).sum(dim=1) / observed.sum(dim=1).clamp(min=1.0)


def centre(history: Tensor, level: Tensor) -> Tensor:
    """The history with its target channel minus the level (0 where unobserved)."""
    target = (history[..., 0] - level[:, None]) * history[..., 1]
    return torch.cat([target[..., None], history[..., 1:]], dim=2)


def centre_seasonal(future: Tensor, level: Tensor) -> Tensor:
    """Decoder inputs whose first two channels are (year-ago log1p target, its flag): the value minus the level."""
    lagged = (future[..., 0] - level[:, None]) * future[..., 1]
    return torch.cat([lagged[..., None], future[..., 1:]], dim=2)


def sinusoidal_positions(length: int, dim: int, device=None) -> Tensor:
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table  # [length, dim]


# ----------------------------------------------------------------------------- config


DEFAULT_HISTORY = {"seq2seq": None, "trimmed": 200, "transformer": 200}  # None: all the history before the origin


@dataclass
class ForecastModelConfig:
    kind: str = "trimmed"  # seq2seq (all history) | trimmed (the last `history` periods) | transformer
    history: int | None = None  # periods of history read (None: the kind's default; seq2seq reads all)
    cell: str = "lstm"  # lstm | gru (seq2seq kinds)
    hidden: int = 128  # recurrent state size
    context: list[int] = field(default_factory=lambda: [512, 384])  # context MLP hidden layers (then the decoder state)
    head: int = 128  # hidden units of the per-step output MLP
    activation: str = "relu"  # any registry activation (dlcli activations list), used in every MLP
    decoder_inputs: bool = True  # known future inputs (promotions, calendar) enter the decoder; False: the reference
    normalize: bool = True  # forecast relative to the series' recent mean log1p level; False: the reference
    level_periods: int = 56  # periods that define that level
    members: int = 1  # an ensemble of this many networks (different initialisations) whose log forecasts are averaged
    seasonal_input: bool = False  # the decoder's first two inputs are the target one year earlier and its flag
    mlp_dropout: float = 0.0  # dropout in the seq2seq context and head MLPs (regularisation on small panels)
    d_model: int = 128  # transformer width
    heads: int = 8
    encoder_layers: int = 6
    decoder_layers: int = 6
    ff_mult: int = 4  # feed-forward width = ff_mult x d_model
    dropout: float = 0.1  # transformer dropout
    embedding_dims: dict[str, int] = field(default_factory=lambda: {"store_nbr": 100, "item_nbr": 300})
    default_embedding: int = 20  # other static fields (city, state, type, cluster, family, class, perishable)
    identity_embedding: int = 300  # long format: the series id's embedding
    # set from the data when a model is built
    encoder_features: int = 0
    decoder_features: int = 0
    static_fields: list[str] = field(default_factory=list)
    static_sizes: list[int] = field(default_factory=list)
    static_dims: list[int] = field(default_factory=list)  # embedding widths; a warm start keeps yesterday's
    horizon: int = 16

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"model.kind must be one of {', '.join(MODEL_KINDS)}, not {self.kind!r}")
        if self.cell not in ("lstm", "gru"):
            raise ConfigError(f"model.cell must be lstm or gru, not {self.cell!r}")
        self.activation = canonical_name(self.activation)
        if self.kind == "seq2seq" and self.history is not None:
            raise ConfigError("the seq2seq model reads all the history; use --model trimmed to set --history")
        if self.kind == "transformer" and self.resolved_history == 0:
            raise ConfigError("the transformer needs at least one period of history")
        if self.resolved_history is not None and self.resolved_history < 0:
            raise ConfigError("history must not be negative")
        sizes = ("hidden", "head", "level_periods", "d_model", "heads", "encoder_layers", "decoder_layers", "ff_mult",
                 "default_embedding", "identity_embedding", "horizon")  # fmt: skip
        for name in sizes:
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be at least 1, not {getattr(self, name)}")
        for name, values in (("context", self.context), ("embedding_dims", list(self.embedding_dims.values()))):
            if any(v < 1 for v in values):
                raise ConfigError(f"model.{name} sizes must be at least 1, not {values}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1), not {self.dropout}")
        if self.d_model % self.heads:
            raise ConfigError("d_model must be a multiple of heads")
        if self.members < 1:
            raise ConfigError("model.members (--ensemble) must be at least 1")

    @property
    def resolved_history(self) -> int | None:
        return DEFAULT_HISTORY[self.kind] if self.history is None else self.history

    def embedding_dim(self, field_name: str, identity: bool) -> int:
        if self.static_dims:
            return self.static_dims[self.static_fields.index(field_name)]
        wanted = self.embedding_dims.get(field_name, self.identity_embedding if identity else self.default_embedding)
        size = self.static_sizes[self.static_fields.index(field_name)]
        return max(2, min(wanted, size + 1))


# ----------------------------------------------------------------------------- models


class Seq2Seq(nn.Module):
    """Encoder RNN -> [state, static embeddings] -> context MLP -> decoder RNN, one step per forecast period."""

    def __init__(self, config: ForecastModelConfig, identity: list[str]):
        super().__init__()
        self.config = c = config
        dims = [c.embedding_dim(f, f in identity) for f in c.static_fields]
        self.static = StaticEmbeddings(c.static_sizes, dims)
        rnn = nn.LSTM if c.cell == "lstm" else nn.GRU
        self.encoder = rnn(c.encoder_features, c.hidden, batch_first=True)
        self.state_size = 2 * c.hidden if c.cell == "lstm" else c.hidden  # LSTM: (h, c)
        self.context = MLP([c.hidden + self.static.size + 1, *c.context, self.state_size], c.activation, c.mlp_dropout)
        step_inputs = 1 + (c.decoder_features if c.decoder_inputs else 0)
        self.decoder = (nn.LSTMCell if c.cell == "lstm" else nn.GRUCell)(step_inputs, c.hidden)
        self.head = MLP([c.hidden, c.head, 1], c.activation, c.mlp_dropout)

    def forward(self, history: Tensor, future: Tensor, static: Tensor, target: Tensor | None = None) -> Tensor:
        batch = static.shape[0]
        level = series_level(history, self.config.level_periods) if self.config.normalize else history.new_zeros(batch)
        if self.config.seasonal_input and self.config.normalize:
            future = centre_seasonal(future, level)
        if history.shape[1]:
            _, state = self.encoder(centre(history, level) if self.config.normalize else history)
            summary = (state[0] if isinstance(state, tuple) else state)[-1]  # [B, hidden]
        else:  # history 0: static features only (the paper's ablation)
            summary = history.new_zeros((batch, self.config.hidden))
        static_inputs = self.static(static).to(summary.dtype)
        context = self.context(torch.cat([summary, static_inputs, level[:, None].to(summary.dtype)], dim=1))
        if self.config.cell == "lstm":
            state = tuple(context.float().chunk(2, dim=1))  # (h0, c0)
        else:
            state = context.float()
        previous = context.new_zeros((batch, 1))  # GO symbol
        outputs = []
        for step in range(future.shape[1]):
            step_input = torch.cat([previous, future[:, step]], dim=1) if self.config.decoder_inputs else previous
            state = self.decoder(step_input, state)
            output = self.head(state[0] if isinstance(state, tuple) else state)  # [B, 1], relative to the level
            outputs.append(output)
            previous = output
        return torch.cat(outputs, dim=1).float() + level[:, None].float()  # [B, H]


class TransformerForecaster(nn.Module):
    """Encoder over the history, causal decoder over [previous value, known inputs]; static embeddings on every token."""

    def __init__(self, config: ForecastModelConfig, identity: list[str]):
        super().__init__()
        self.config = c = config
        dims = [c.embedding_dim(f, f in identity) for f in c.static_fields]
        self.static = StaticEmbeddings(c.static_sizes, dims)
        self.encoder_input = nn.Linear(c.encoder_features + self.static.size + 1, c.d_model)
        decoder_features = c.decoder_features if c.decoder_inputs else 0
        self.decoder_input = nn.Linear(1 + decoder_features + self.static.size + 1, c.d_model)
        layer = dict(
            d_model=c.d_model,
            nhead=c.heads,
            dim_feedforward=c.ff_mult * c.d_model,
            dropout=c.dropout,
            activation=make_activation(c.activation),
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**layer), c.encoder_layers, enable_nested_tensor=False
        )
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), c.decoder_layers)
        self.head = MLP([c.d_model, c.head, 1], c.activation)

    def _decode(self, memory: Tensor, previous: Tensor, future: Tensor, static: Tensor, offset: int) -> Tensor:
        steps = previous.shape[1]
        parts = [previous[..., None]]
        if self.config.decoder_inputs:
            parts.append(future[:, :steps])
        parts.append(static[:, None, :].expand(-1, steps, -1))
        tokens = self.decoder_input(torch.cat(parts, dim=2))
        tokens = tokens + sinusoidal_positions(offset + steps, self.config.d_model, tokens.device)[offset:]
        mask = nn.Transformer.generate_square_subsequent_mask(steps, device=tokens.device, dtype=tokens.dtype)
        return self.head(self.decoder(tokens, memory, tgt_mask=mask, tgt_is_causal=True))[..., 0]  # [B, steps]

    def forward(self, history: Tensor, future: Tensor, static: Tensor, target: Tensor | None = None) -> Tensor:
        batch = static.shape[0]
        level = series_level(history, self.config.level_periods) if self.config.normalize else history.new_zeros(batch)
        if self.config.normalize:
            history = centre(history, level)
            target = None if target is None else target - level[:, None]
            if self.config.seasonal_input:
                future = centre_seasonal(future, level)
        embedded = torch.cat([self.static(static).to(history.dtype), level[:, None].to(history.dtype)], dim=1)
        length, horizon = history.shape[1], future.shape[1]
        tokens = self.encoder_input(torch.cat([history, embedded[:, None, :].expand(-1, length, -1)], dim=2))
        memory = self.encoder(tokens + sinusoidal_positions(length, self.config.d_model, tokens.device))
        go = history.new_zeros((history.shape[0], 1))
        if target is not None and self.training:  # teacher forcing: the targets shifted right by one
            previous = torch.cat([go, target[:, :-1].to(history.dtype)], dim=1)
            return self._decode(memory, previous, future, embedded, length).float() + level[:, None].float()
        previous = go
        for _ in range(horizon):  # autoregressive: feed each prediction back
            predicted = self._decode(memory, previous, future, embedded, length)
            previous = torch.cat([go, predicted], dim=1)
        return previous[:, 1:].float() + level[:, None].float()


class Ensemble(nn.Module):
    """Several networks trained side by side on the same batches, each on its own loss; forecasts are their mean."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def each(self, history: Tensor, future: Tensor, static: Tensor, target: Tensor | None = None) -> Tensor:
        return torch.stack([m(history, future, static, target) for m in self.members])  # [M, B, H]

    def forward(self, history: Tensor, future: Tensor, static: Tensor, target: Tensor | None = None) -> Tensor:
        return self.each(history, future, static, target).mean(dim=0)


def _single(config: ForecastModelConfig, identity: list[str]) -> nn.Module:
    return TransformerForecaster(config, identity) if config.kind == "transformer" else Seq2Seq(config, identity)


def build_model(config: ForecastModelConfig, identity: list[str]) -> nn.Module:
    if config.members > 1:
        return Ensemble([_single(config, identity) for _ in range(config.members)])
    return _single(config, identity)
