import pytest
import torch

from dlcli.forecast.model import ForecastModelConfig, build_model

FIELDS = dict(static_fields=["store_nbr", "item_nbr", "family"], static_sizes=[3, 5, 2])


def _config(**values) -> ForecastModelConfig:
    base = dict(hidden=8, context=[16], head=8, d_model=8, heads=2, encoder_layers=1, decoder_layers=1, dropout=0.0,
                encoder_features=5, decoder_features=3, horizon=6, embedding_dims={"item_nbr": 4}, default_embedding=2, **FIELDS)  # fmt: skip
    base.update(values)
    return ForecastModelConfig(**base)


def _inputs(batch=4, length=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    history = torch.rand(batch, length, 5, generator=generator)
    history[..., 1] = 1.0  # observed
    future = torch.rand(batch, 6, 3, generator=generator)
    static = torch.randint(0, 3, (batch, 3), generator=generator)
    return history, future, static


@pytest.mark.parametrize(
    "values",
    [dict(kind="seq2seq"), dict(kind="trimmed", history=0), dict(kind="trimmed", cell="gru", activation="modulus"),
     dict(kind="transformer", activation="softmodulus_t"), dict(kind="trimmed", normalize=False, decoder_inputs=False)],
)  # fmt: skip
def test_models_forecast_every_step(values):
    torch.manual_seed(0)
    config = _config(**values)
    model = build_model(config, ["store_nbr", "item_nbr"]).eval()
    history, future, static = _inputs()
    if config.resolved_history == 0:
        history = history[:, :0]
    output = model(history, future, static)
    assert output.shape == (4, 6) and torch.isfinite(output).all()
    loss = model.train()(history, future, static, torch.rand(4, 6)).pow(2).mean()
    loss.backward()
    unused = ("static.tables", "encoder.") if config.resolved_history == 0 else ("static.tables",)
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith(unused))


def test_seq2seq_decoder_is_causal_in_its_known_inputs():
    torch.manual_seed(0)
    model = build_model(_config(kind="trimmed"), []).eval()
    history, future, static = _inputs()
    before = model(history, future, static)
    changed = future.clone()
    changed[:, 3:] += 5.0
    after = model(history, changed, static)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_transformer_autoregression_equals_teacher_forcing_on_its_own_outputs():
    torch.manual_seed(0)
    model = build_model(_config(kind="transformer"), []).eval()
    history, future, static = _inputs()
    generated = model(history, future, static)
    forced = model.train()(history, future, static, target=generated)  # dropout 0: only the mask differs
    torch.testing.assert_close(forced, generated, atol=1e-5, rtol=1e-5)


def test_level_normalisation_follows_the_series_scale():
    """With the level removed, shifting a series' whole history shifts its forecast by about as much."""
    torch.manual_seed(0)
    model = build_model(_config(kind="trimmed", level_periods=12), []).eval()
    history, future, static = _inputs()
    low = model(history, future, static)
    shifted = history.clone()
    shifted[..., 0] += 3.0
    high = model(shifted, future, static)
    assert ((high - low) > 2.0).all()  # the level (3) is added back; the context MLP sees it too


def test_invalid_configurations_are_refused():
    from dlcli.errors import ConfigError

    with pytest.raises(ConfigError, match="seq2seq model reads all the history"):
        _config(kind="seq2seq", history=10)
    with pytest.raises(ConfigError, match="transformer needs"):
        _config(kind="transformer", history=0)
    with pytest.raises(ConfigError, match="unknown activation"):
        _config(activation="relu6")
