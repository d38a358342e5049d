"""``dlcli forecast``: simulate Favorita-format data, train, predict and evaluate global forecast models."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.config import choices
from dlcli.forecast.kinds import MODEL_KINDS
from dlcli.nn.names import Activation
from dlcli.options import PrintConfig, print_config
from dlcli.runtime import runtime

app = typer.Typer(
    help="Sales forecasting: one global seq2seq/transformer model for every store-item (dissertation ch. 5).",
    no_args_is_help=True,
)


ModelKind = choices("ModelKind", MODEL_KINDS)


class Scale(str, Enum):
    sample = "sample"
    small = "small"
    realistic = "realistic"
    full = "full"


class FileFormat(str, Enum):
    csv = "csv"
    parquet = "parquet"


class DataFormat(str, Enum):
    auto = "auto"
    favorita = "favorita"
    long = "long"


class Missing(str, Enum):
    zero = "zero"
    unknown = "unknown"


class Loss(str, Enum):
    mse_log1p = "mse-log1p"
    mae_log1p = "mae-log1p"
    mae = "mae"
    quantile = "quantile"


class Frequency(str, Enum):
    auto = "auto"
    D = "D"
    W = "W"


class FillMissing(str, Enum):
    error = "error"
    zero = "zero"
    drop = "drop"


class Duplicates(str, Enum):
    error = "error"
    first = "first"
    last = "last"


def _option(help: str, *names: str, panel: str | None = None, **extra):
    return typer.Option(*names, help=help, rich_help_panel=panel, **extra)


# options shared by several commands
DataArg = Annotated[Path, typer.Argument(help="A Favorita folder or a long-format CSV/parquet file.")]
FormatOpt = Annotated[Optional[DataFormat], _option("auto, favorita or long.", "--format", panel="Data")]
SeriesCol = Annotated[Optional[str], _option("Long format: the series column (default series_id).", panel="Data")]
DateCol = Annotated[Optional[str], _option("Long format: the date column (default date).", panel="Data")]
ValueCol = Annotated[Optional[str], _option("Long format: the target column (default value).", panel="Data")]
StaticCols = Annotated[Optional[str], _option("Long format: comma-separated static categorical columns.", panel="Data")]
FutureCols = Annotated[Optional[str], _option("Long format: numeric inputs known in advance.", panel="Data")]
PastCols = Annotated[Optional[str], _option("Long format: numeric inputs observed up to the present.", panel="Data")]
WeightCol = Annotated[Optional[str], _option("Long format: per-series weight of the loss and of NWRMSLE / WMAE.", panel="Data")]  # fmt: skip
StaticNumericCols = Annotated[
    Optional[str], _option("Long format: comma-separated numeric columns constant per series (store size).", panel="Data")
]  # fmt: skip
MissingOpt = Annotated[
    Optional[Missing],
    _option("Long format: an absent week/day is a zero sale (zero, the default) or unrecorded (unknown: never trained on nor scored).", panel="Data"),
]  # fmt: skip
FrequencyOpt = Annotated[Optional[Frequency], _option("auto (from the dates), D or W.", panel="Data")]
CacheOpt = Annotated[Optional[Path], _option("Folder for cached arrays (default ~/.cache/dlcli/forecast).", panel="Data")]  # fmt: skip
FillMissingOpt = Annotated[
    Optional[FillMissing],
    _option("A blank, NaN or infinite sales value: error (default), zero (count it as 0) or drop (drop the row).", panel="Data"),
]  # fmt: skip
DuplicatesOpt = Annotated[
    Optional[Duplicates], _option("Rows with the same series and date: error (default), or keep the first or last.", panel="Data")
]  # fmt: skip
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary for scripts.")]


def _policies(fill_missing, duplicates) -> dict:
    """The data-checking options that were given (predict and evaluate otherwise use the training run's)."""
    values = {"fill_missing": fill_missing, "duplicates": duplicates}
    return {key: value.value for key, value in values.items() if value is not None}


def _split(values: Optional[str]) -> Optional[list[str]]:
    return None if values is None else [v.strip() for v in values.split(",") if v.strip()]


def _echo_json(value: dict) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _data_overrides(fmt, series_col, date_col, value_col, static_cols, future_cols, past_cols, weight_col, frequency, cache_dir) -> dict:  # fmt: skip
    return {
        "data.format": fmt.value if fmt else None,
        "data.series_col": series_col,
        "data.date_col": date_col,
        "data.value_col": value_col,
        "data.static_cols": _split(static_cols),
        "data.future_cols": _split(future_cols),
        "data.past_cols": _split(past_cols),
        "data.weight_col": weight_col,
        "data.frequency": frequency.value if frequency else None,
        "data.cache_dir": str(cache_dir) if cache_dir else None,
    }


@app.command("synth-data")
def synth_data(
    out: Annotated[Path, typer.Argument(help="Folder for train.csv, test.csv, items.csv, ... and truth.npz.")],
    scale: Annotated[
        Scale,
        _option("sample 4 x 20, small 10 x 100, realistic 54 x 200, full 54 x 5,000 stores x items (~125M rows)."),
    ] = Scale.sample,  # fmt: skip
    stores: Annotated[Optional[int], _option("Stores (1..54), overrides the scale.")] = None,
    items: Annotated[Optional[int], _option("Items, overrides the scale.")] = None,
    start: Annotated[Optional[str], _option("First day of train.csv (YYYY-MM-DD).")] = None,
    end: Annotated[Optional[str], _option("Last day of train.csv; test.csv covers the next --test-days.")] = None,
    test_days: Annotated[Optional[int], _option("Days in test.csv (default 16).")] = None,
    seed: Annotated[Optional[int], _option("Random seed (the global --seed wins).")] = None,
    file_format: Annotated[FileFormat, _option("train.csv or train.parquet.", "--format")] = FileFormat.csv,
    config: Annotated[
        Optional[Path], _option("YAML of SimulationConfig fields.", "--config", exists=True, dir_okay=False)
    ] = None,  # fmt: skip
    long: Annotated[
        Optional[Path], _option("Also write the sales as one long-format .csv/.parquet file.", "--long")
    ] = None,  # fmt: skip
    long_frequency: Annotated[Frequency, _option("D or W for --long (W: whole weeks of train.csv).")] = Frequency.D,
    as_json: JsonOpt = False,
) -> None:
    """Write a simulated world in the Favorita files' format, with the data the oracle needs (truth.npz)."""
    from dlcli.config import load_config
    from dlcli.forecast.simulate import SCALES, SimulationConfig, simulate

    base = SimulationConfig(**SCALES[scale.value])
    overrides = {"stores": stores, "items": items, "start": start, "end": end, "test_days": test_days}
    overrides.update(seed=runtime.seed if runtime.seed is not None else seed, format=file_format.value)
    summary = simulate(load_config(SimulationConfig, config, overrides, base=base), out)
    if long is not None:
        from dlcli.forecast.export import favorita_to_long

        frequency = "D" if long_frequency == Frequency.auto else long_frequency.value
        summary.update(long=str(long), long_rows=favorita_to_long(out, long, frequency))
    if as_json:
        _echo_json(summary)
    elif not runtime.quiet:
        typer.echo(f"{out}: {summary['series']:,} series, {summary['train_rows']:,} train rows, {summary['test_rows']:,} test rows")  # fmt: skip


@app.command()
def prepare(
    data: DataArg,
    file_format: FormatOpt = None,
    series_col: SeriesCol = None,
    date_col: DateCol = None,
    value_col: ValueCol = None,
    static_cols: StaticCols = None,
    future_cols: FutureCols = None,
    past_cols: PastCols = None,
    weight_col: WeightCol = None,
    frequency: FrequencyOpt = None,
    cache_dir: CacheOpt = None,
    fill_missing: FillMissingOpt = None,
    duplicates: DuplicatesOpt = None,
    static_numeric_cols: StaticNumericCols = None,
    missing: MissingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read a data set into dense arrays (cached when large) and print what was found."""
    import time

    import numpy as np

    from dlcli.config import load_config
    from dlcli.forecast.data import DataConfig, load_panel

    overrides = _data_overrides(file_format, series_col, date_col, value_col, static_cols, future_cols, past_cols, weight_col, frequency, cache_dir)  # fmt: skip
    overrides.update({f"data.{key}": value for key, value in _policies(fill_missing, duplicates).items()})
    overrides.update({"data.static_numeric_cols": _split(static_numeric_cols), "data.missing": missing.value if missing else None})  # fmt: skip
    config = load_config(DataConfig, None, {key.removeprefix("data."): value for key, value in overrides.items()})
    started = time.perf_counter()
    panel = load_panel(data, config)
    facts = {**panel.facts, "seconds": round(time.perf_counter() - started, 2)}
    facts["zero_share"] = round(float((panel.values[: min(panel.n_series, 20000)] <= 0).mean()), 4)
    if config.missing == "unknown":
        facts["unrecorded_share"] = round(float(np.isnan(panel.values[: min(panel.n_series, 20000)]).mean()), 4)
    if as_json:
        _echo_json(facts)
    else:
        for key, value in facts.items():
            typer.echo(f"{key:>20}  {value:,}" if isinstance(value, int) else f"{key:>20}  {value}")


@app.command()
def train(
    data: DataArg,
    out: Annotated[Path, _option("Run folder: best.pt, last.pt, curves.png, train.log.", "--out", "-o")],
    model: Annotated[
        Optional[ModelKind], _option("seq2seq (all history), trimmed or transformer.", panel="Model")
    ] = None,  # fmt: skip
    history: Annotated[
        Optional[int], _option("Periods of history (trimmed/transformer; default 200; 0: static only).", panel="Model")
    ] = None,  # fmt: skip
    cell: Annotated[Optional[str], _option("lstm or gru.", panel="Model")] = None,
    hidden: Annotated[Optional[int], _option("Recurrent state size (default 128).", panel="Model")] = None,
    activation: Annotated[Optional[Activation], _option("Activation of the MLPs.", panel="Model")] = None,
    decoder_inputs: Annotated[
        Optional[bool],
        _option(
            "Known future inputs in the decoder (off: the reference's GO-only decoder).",
            "--decoder-inputs/--no-decoder-inputs",
            panel="Model",
        ),
    ] = None,  # fmt: skip
    normalize: Annotated[
        Optional[bool],
        _option(
            "Forecast relative to each series' recent level (off: the reference).",
            "--normalize/--no-normalize",
            panel="Model",
        ),
    ] = None,  # fmt: skip
    random_present: Annotated[
        Optional[bool],
        _option(
            "The random max time step trick (on by default).", "--random-present/--no-random-present", panel="Split"
        ),
    ] = None,  # fmt: skip
    horizon: Annotated[Optional[int], _option("Periods forecast (default 16).", panel="Split")] = None,
    test_periods: Annotated[
        Optional[int],
        _option("Horizon-long test periods held out at the end (default 3; 0 in production).", panel="Split"),
    ] = None,  # fmt: skip
    test_days: Annotated[
        Optional[int],
        _option("Test days held out (a multiple of the horizon): --test-periods x horizon.", panel="Split"),
    ] = None,  # fmt: skip
    valid_periods: Annotated[
        Optional[int],
        _option(
            "Validation periods before the test periods (default 16).", "--valid-days", "--valid-periods", panel="Split"
        ),
    ] = None,  # fmt: skip
    gap_periods: Annotated[
        Optional[int],
        _option(
            "Unused periods between training and validation (default 16).", "--gap-days", "--gap-periods", panel="Split"
        ),
    ] = None,  # fmt: skip
    min_history: Annotated[
        Optional[int], _option("Earliest training origin in periods (default 300 daily, 52 weekly).", panel="Split")
    ] = None,  # fmt: skip
    epochs: Annotated[Optional[int], _option("Epochs (default 20).", panel="Optimization")] = None,
    steps_per_epoch: Annotated[Optional[int], _option("Batches per epoch (default 500).", panel="Optimization")] = None,
    batch_size: Annotated[Optional[int], _option("Windows per batch (default 128).", panel="Optimization")] = None,
    lr: Annotated[Optional[float], _option("Adam learning rate (default 1e-4).", panel="Optimization")] = None,
    seed: Annotated[Optional[int], _option("Seed (the global --seed wins).", panel="Optimization")] = None,
    init_from: Annotated[
        Optional[Path], _option("Warm start from this checkpoint (yesterday's best.pt).", panel="Optimization")
    ] = None,  # fmt: skip
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from last.pt.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished run in --out.")] = False,
    config: Annotated[
        Optional[Path],
        _option("YAML with sections data, split, model, train.", "--config", exists=True, dir_okay=False),
    ] = None,  # fmt: skip
    file_format: FormatOpt = None,
    series_col: SeriesCol = None,
    date_col: DateCol = None,
    value_col: ValueCol = None,
    static_cols: StaticCols = None,
    future_cols: FutureCols = None,
    past_cols: PastCols = None,
    weight_col: WeightCol = None,
    frequency: FrequencyOpt = None,
    cache_dir: CacheOpt = None,
    fill_missing: FillMissingOpt = None,
    duplicates: DuplicatesOpt = None,
    static_numeric_cols: StaticNumericCols = None,
    missing: MissingOpt = None,
    loss: Annotated[
        Optional[Loss],
        _option(
            "mse-log1p (NWRMSLE), mae-log1p (median), mae (units, volume-weighted: WMAE/WAPE) or quantile.",
            panel="Optimization",
        ),
    ] = None,  # fmt: skip
    quantile: Annotated[
        Optional[float], _option("Level of --loss quantile (default 0.5).", panel="Optimization")
    ] = None,
    ensemble: Annotated[
        Optional[int],
        _option("Networks trained side by side, forecasts averaged (default: 3 below 20,000 series).", panel="Model"),
    ] = None,  # fmt: skip
    seasonal_input: Annotated[
        Optional[bool],
        _option(
            "The value one year earlier (52 weeks / 364 days) as a decoder input.",
            "--seasonal-input/--no-seasonal-input",
            panel="Model",
        ),
    ] = None,  # fmt: skip
    early_stopping: Annotated[
        Optional[int], _option("Stop after N epochs without a better validation loss.", panel="Optimization")
    ] = None,  # fmt: skip
    dropout: Annotated[Optional[float], _option("Dropout in the seq2seq MLPs.", panel="Model")] = None,
    weight_decay: Annotated[Optional[float], _option("AdamW weight decay.", panel="Optimization")] = None,
    reference: Annotated[
        bool,
        typer.Option(
            "--reference",
            help="The paper's recipe (history 200, 20 x 500 steps, lr 1e-4) instead of defaults fitted to the data.",
        ),
    ] = False,  # fmt: skip
    as_json: JsonOpt = False,
    show_config: PrintConfig = False,
) -> None:
    """Train one global model on every series (or warm-start yesterday's with --init-from).

    Without --config (and without --reference) the settings fit the data: history about a year (60 weeks / 400 days) with the value one year earlier as an input, a network sized to the number of series with dropout and weight decay, ~2 passes over the series per epoch at lr 1e-3, the last horizon as a validation window with early stopping (10 epochs) keeping the best epoch, absolute error on log1p, and 3 networks averaged below 20,000 series. Options given win.
    """
    from dlcli.config import load_config
    from dlcli.forecast.train import ForecastConfig, train_forecaster
    from dlcli.runtime import train_overrides

    overrides = {
        "model.kind": model.value if model else None,
        "model.history": history,
        "model.cell": cell,
        "model.hidden": hidden,
        "model.activation": activation.value if activation else None,
        "model.decoder_inputs": decoder_inputs,
        "model.normalize": normalize,
        "split.random_present": random_present,
        "split.horizon": horizon,
        "split.test_periods": test_periods,
        "split.valid_periods": valid_periods,
        "split.gap_periods": gap_periods,
        "split.min_history": min_history,
        "train.epochs": epochs,
        "train.batch_size": batch_size,
        "train.lr": lr,
        "train.seed": seed,
        "steps_per_epoch": steps_per_epoch,
        "loss": loss.value if loss else None,
        "quantile": quantile,
        "model.members": ensemble,
        "model.seasonal_input": seasonal_input,
        "model.mlp_dropout": dropout,
        "train.early_stopping": early_stopping,
        "train.weight_decay": weight_decay,
        "data.static_numeric_cols": _split(static_numeric_cols),
        "data.missing": missing.value if missing else None,
        **_data_overrides(
            file_format,
            series_col,
            date_col,
            value_col,
            static_cols,
            future_cols,
            past_cols,
            weight_col,
            frequency,
            cache_dir,
        ),  # fmt: skip
        **train_overrides(),
    }
    overrides.update({f"data.{key}": value for key, value in _policies(fill_missing, duplicates).items()})
    if resume and config is None and (out / "config.yaml").is_file():
        config = out / "config.yaml"  # a resumed run keeps the configuration it started with
    resolved = load_config(ForecastConfig, config, overrides, base=ForecastConfig())
    if test_days is not None:
        from dlcli.errors import UsageError

        if test_days < 0 or test_days % resolved.split.horizon or test_periods is not None:
            raise UsageError(f"--test-days must be a multiple of the horizon ({resolved.split.horizon}) and replaces --test-periods")  # fmt: skip
        resolved.split.test_periods = test_days // resolved.split.horizon
    given = tuple(key.removeprefix("model.") for key, value in overrides.items() if key.startswith("model.") and value is not None)  # fmt: skip
    fit = None if config is not None or reference or init_from is not None else overrides
    if fit is not None and test_days is not None:
        fit["split.test_periods"] = resolved.split.test_periods
    if show_config:
        print_config(resolved)
    result = train_forecaster(data, resolved, out, init_from=init_from, resume=resume, overwrite=overwrite, model_options=given, fit_to_data=fit)  # fmt: skip
    summary = {"run": str(out), "best": str(result.best_path), "monitor": result.monitor}
    summary.update(best_metric=result.best_metric, epochs=result.epochs, steps=result.steps)
    if as_json:
        _echo_json(summary)
    elif not runtime.quiet:
        best = f"best {result.monitor} {result.best_metric:.4f}: " if result.best_metric is not None else ""
        typer.echo(f"{best}{result.best_path or out}")


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="A forecast checkpoint (best.pt) or its run folder.")],
    data: Annotated[Path, typer.Argument(help="The data to forecast from (same format as in training).")],
    out: Annotated[Path, _option("Forecast file: .parquet or .csv (written atomically).", "--out", "-o")],
    horizon: Annotated[Optional[int], _option("Periods to forecast (default: the model's horizon).")] = None,
    batch_size: Annotated[Optional[int], _option("Series per forward pass (default 64 on CPU, 4096 on a GPU).")] = None,
    cache_dir: CacheOpt = None,
    fill_missing: FillMissingOpt = None,
    duplicates: DuplicatesOpt = None,
    log_file: Annotated[Optional[Path], _option("Also append timestamped log records to this file (cron).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Forecast every series (unseen ones included) from the day after the data ends."""
    from dlcli.forecast.predict import predict as run_predict
    from dlcli.forecast.train import log_to

    with log_to(log_file):
        cache = str(cache_dir) if cache_dir else None
        summary = run_predict(model, data, out, horizon=horizon, batch_size=batch_size, cache_dir=cache,
                              data_options=_policies(fill_missing, duplicates),
                              device=runtime.device, precision=runtime.precision)  # fmt: skip
    if as_json:
        _echo_json(summary)
    elif not runtime.quiet:
        typer.echo(f"{out}: {summary['rows']:,} rows, {summary['series']:,} series, {summary['first_date']}..{summary['last_date']}")  # fmt: skip


@app.command()
def evaluate(
    paths: Annotated[
        list[Path],
        typer.Argument(help="One or more checkpoints (or run folders), then the data.", metavar="MODEL... DATA"),
    ],  # fmt: skip
    out: Annotated[Path, _option("Folder: report.md, metrics.csv/json, daily/errors/examples PNGs.", "--out", "-o")],
    baselines: Annotated[
        str, _option("Comma-separated: random, average, seasonal-naive, lightgbm (or none).")
    ] = "random,average,seasonal-naive,lightgbm",  # fmt: skip
    test_periods: Annotated[Optional[int], _option("Test periods (default: the first model's split).")] = None,
    batch_size: Annotated[Optional[int], _option("Series per forward pass (default 64 on CPU, 4096 on a GPU).")] = None,
    cache_dir: CacheOpt = None,
    fill_missing: FillMissingOpt = None,
    duplicates: DuplicatesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """RMSLE, NWRMSLE and MALE per test period and forecast day, beside baselines (and the oracle on simulated data)."""
    from dlcli.errors import UsageError
    from dlcli.forecast.evaluate import evaluate as run_evaluate
    from dlcli.forecast.evaluate import markdown_table

    if len(paths) < 2:
        raise UsageError("give at least one model and the data: dlcli forecast evaluate MODEL [MODEL...] DATA")
    chosen = [] if baselines.strip().lower() == "none" else _split(baselines)
    cache = str(cache_dir) if cache_dir else None
    report = run_evaluate(paths[:-1], paths[-1], out, baselines=chosen, test_periods=test_periods,
                          batch_size=batch_size, cache_dir=cache, seed=runtime.seed or 0,
                          data_options=_policies(fill_missing, duplicates),
                          device=runtime.device, precision=runtime.precision)  # fmt: skip
    if as_json:
        _echo_json({k: v for k, v in report.items() if k != "rows"})
    elif not runtime.quiet:
        typer.echo(markdown_table(report))


@app.command()
def backtest(
    data: DataArg,
    out: Annotated[
        Path, _option("Folder: report.md, metrics.csv/json, one PNG per metric by horizon step.", "--out", "-o")
    ],
    horizon: Annotated[int, _option("Periods forecast from each origin.")] = 8,
    origins: Annotated[
        int, _option("Rolling origins, one horizon apart, ending at the data's end minus --holdout.")
    ] = 3,
    holdout: Annotated[int, _option("Final periods never read (keep them untouched while tuning).")] = 0,
    models: Annotated[
        str,
        _option(
            "Comma-separated: net, lightgbm (L1 on log1p), lightgbm-l2, lightgbm-fixed (L1, 200 rounds, no early stopping), seasonal-naive, naive, blend (net + the first LightGBM run), autoets, autotheta."
        ),
    ] = "net,lightgbm,seasonal-naive,naive,blend",  # fmt: skip
    loss: Annotated[Optional[Loss], _option("The network's loss (default: fitted to the data).", panel="Model")] = None,
    ensemble: Annotated[Optional[int], _option("The network's ensemble size.", panel="Model")] = None,
    seasonal_input: Annotated[
        Optional[bool], _option("The year-earlier input.", "--seasonal-input/--no-seasonal-input", panel="Model")
    ] = None,  # fmt: skip
    early_stopping: Annotated[Optional[int], _option("Patience in epochs.", panel="Model")] = None,
    epochs: Annotated[Optional[int], _option("Most epochs.", panel="Model")] = None,
    history: Annotated[Optional[int], _option("Periods of history.", panel="Model")] = None,
    config: Annotated[
        Optional[Path],
        _option(
            "YAML of network options (sections model, train, split; data is ignored).",
            "--config",
            exists=True,
            dir_okay=False,
        ),
    ] = None,  # fmt: skip
    file_format: FormatOpt = None,
    series_col: SeriesCol = None,
    date_col: DateCol = None,
    value_col: ValueCol = None,
    static_cols: StaticCols = None,
    future_cols: FutureCols = None,
    past_cols: PastCols = None,
    weight_col: WeightCol = None,
    frequency: FrequencyOpt = None,
    cache_dir: CacheOpt = None,
    fill_missing: FillMissingOpt = None,
    duplicates: DuplicatesOpt = None,
    static_numeric_cols: StaticNumericCols = None,
    missing: MissingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Backtest on any data: at each rolling origin, train the network (the data-fitted defaults of `train`) and the
    baselines on the past only, forecast, and score WMAE, MAE, WAPE, RMSLE, MASE and sMAPE."""
    from dlcli.config import load_config, read_yaml
    from dlcli.forecast.backtest import BacktestConfig, markdown_table
    from dlcli.forecast.backtest import backtest as run_backtest
    from dlcli.forecast.data import DataConfig

    overrides = _data_overrides(file_format, series_col, date_col, value_col, static_cols, future_cols, past_cols, weight_col, frequency, cache_dir)  # fmt: skip
    overrides.update({"data.static_numeric_cols": _split(static_numeric_cols), "data.missing": missing.value if missing else None})  # fmt: skip
    overrides.update({f"data.{key}": value for key, value in _policies(fill_missing, duplicates).items()})
    data_config = load_config(DataConfig, None, {key.removeprefix("data."): value for key, value in overrides.items()})
    network = {}
    if config is not None:
        for section, values in read_yaml(config).items():
            if section == "data":
                continue
            for key, value in values.items() if isinstance(values, dict) else [(None, values)]:
                network[f"{section}.{key}" if key is not None else section] = value
    network.update({
        "loss": loss.value if loss else None,
        "model.members": ensemble,
        "model.seasonal_input": seasonal_input,
        "train.early_stopping": early_stopping,
        "train.epochs": epochs,
        "model.history": history,
    })  # fmt: skip
    settings = BacktestConfig(horizon=horizon, origins=origins, holdout=holdout, models=_split(models) or [],
                              seed=runtime.seed or 0)  # fmt: skip
    report = run_backtest(data, out, settings, data_config=data_config, train_overrides=network)
    if as_json:
        _echo_json(report)
    elif not runtime.quiet:
        typer.echo(markdown_table(report))
