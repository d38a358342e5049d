"""``dlcli forecast``: simulate Favorita-format data, train, predict and evaluate global forecast models."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.nn.names import Activation
from dlcli.runtime import runtime

app = typer.Typer(
    help="Sales forecasting: one global seq2seq/transformer model for every store-item (dissertation ch. 5).",
    no_args_is_help=True,
)


class ModelKind(str, Enum):
    seq2seq = "seq2seq"
    trimmed = "trimmed"
    transformer = "transformer"


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


class Frequency(str, Enum):
    auto = "auto"
    D = "D"
    W = "W"


DATA = "Data"
MODEL = "Model"
OPTIM = "Optimization"
SPLIT = "Split"


def _split(values: Optional[str]) -> Optional[list[str]]:
    return None if values is None else [v.strip() for v in values.split(",") if v.strip()]


def _echo_json(value: dict) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


CacheOption = Annotated[
    Optional[Path],
    typer.Option(
        help="Folder for cached arrays of large data (default ~/.cache/dlcli/forecast).", rich_help_panel=DATA
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON summary for scripts.")]
LogOption = Annotated[Optional[Path], typer.Option(help="Also append timestamped log records to this file (cron).")]


@app.command("synth-data")
def synth_data(
    out: Annotated[Path, typer.Argument(help="Folder for train.csv, test.csv, items.csv, ... and truth.npz.")],
    scale: Annotated[
        Scale, typer.Option(help="sample: 4 stores x 20 items; realistic: 54 x 200; full: 54 x 4,000 (~125M rows).")
    ] = Scale.sample,
    stores: Annotated[Optional[int], typer.Option(help="Stores (1..54), overrides the scale.")] = None,
    items: Annotated[Optional[int], typer.Option(help="Items, overrides the scale.")] = None,
    start: Annotated[Optional[str], typer.Option(help="First day of train.csv (YYYY-MM-DD).")] = None,
    end: Annotated[
        Optional[str], typer.Option(help="Last day of train.csv; test.csv covers the next --test-days.")
    ] = None,
    test_days: Annotated[Optional[int], typer.Option(help="Days in test.csv.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (the global --seed wins).")] = None,
    file_format: Annotated[FileFormat, typer.Option("--format", help="train.csv or train.parquet.")] = FileFormat.csv,
    config: Annotated[
        Optional[Path], typer.Option("--config", exists=True, dir_okay=False, help="YAML of SimulationConfig fields.")
    ] = None,
    long: Annotated[
        Optional[Path], typer.Option("--long", help="Also write the sales as one long-format .csv/.parquet file.")
    ] = None,
    long_frequency: Annotated[
        Frequency, typer.Option(help="D or W for --long (W: whole weeks of train.csv).")
    ] = Frequency.D,
    as_json: JsonOption = False,
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
        summary["long_rows"] = favorita_to_long(out, long, frequency)
        summary["long"] = str(long)
    if as_json:
        _echo_json(summary)
    elif not runtime.quiet:
        typer.echo(
            f"{out}: {summary['series']:,} series, {summary['train_rows']:,} train rows, {summary['test_rows']:,} test rows"
        )


def _data_overrides(**values) -> dict:
    keys = {
        "file_format": "format",
        "static_cols": "static_cols",
        "future_cols": "future_cols",
        "past_cols": "past_cols",
    }
    result = {}
    for key, value in values.items():
        name = keys.get(key, key)
        if isinstance(value, Enum):
            value = value.value
        if key in ("static_cols", "future_cols", "past_cols"):
            value = _split(value)
        if key == "cache_dir" and value is not None:
            value = str(value)
        result[f"data.{name}"] = value
    return result


@app.command()
def prepare(
    data: Annotated[Path, typer.Argument(help="A Favorita folder or a long-format CSV/parquet file.")],
    file_format: Annotated[
        DataFormat, typer.Option("--format", help="auto, favorita or long.", rich_help_panel=DATA)
    ] = DataFormat.auto,
    series_col: Annotated[Optional[str], typer.Option(help="Long format: series column.", rich_help_panel=DATA)] = None,
    date_col: Annotated[Optional[str], typer.Option(help="Long format: date column.", rich_help_panel=DATA)] = None,
    value_col: Annotated[Optional[str], typer.Option(help="Long format: target column.", rich_help_panel=DATA)] = None,
    static_cols: Annotated[
        Optional[str], typer.Option(help="Long format: comma-separated static columns.", rich_help_panel=DATA)
    ] = None,
    future_cols: Annotated[
        Optional[str], typer.Option(help="Long format: inputs known in advance.", rich_help_panel=DATA)
    ] = None,
    past_cols: Annotated[
        Optional[str], typer.Option(help="Long format: inputs observed up to the present.", rich_help_panel=DATA)
    ] = None,
    weight_col: Annotated[
        Optional[str], typer.Option(help="Long format: per-series metric weight.", rich_help_panel=DATA)
    ] = None,
    frequency: Annotated[
        Frequency, typer.Option(help="auto (from the dates), D or W.", rich_help_panel=DATA)
    ] = Frequency.auto,
    cache_dir: CacheOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read a data set into dense arrays (cached when large) and print what was found."""
    import time

    from dlcli.config import load_config
    from dlcli.forecast.data import DataConfig, load_panel

    overrides = _data_overrides(
        file_format=file_format,
        series_col=series_col,
        date_col=date_col,
        value_col=value_col,
        static_cols=static_cols,
        future_cols=future_cols,
        past_cols=past_cols,
        weight_col=weight_col,
        frequency=frequency,
        cache_dir=cache_dir,
    )
    config = load_config(DataConfig, None, {k.removeprefix("data."): v for k, v in overrides.items()})
    started = time.perf_counter()
    panel = load_panel(data, config)
    facts = {**panel.facts, "seconds": round(time.perf_counter() - started, 2)}
    facts["zero_share"] = round(float((panel.values[: min(panel.n_series, 20000)] <= 0).mean()), 4)
    if as_json:
        _echo_json(facts)
    else:
        for key, value in facts.items():
            typer.echo(f"{key:>20}  {value:,}" if isinstance(value, int) else f"{key:>20}  {value}")


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="A Favorita folder or a long-format CSV/parquet file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: best.pt, last.pt, curves.png, train.log.")],
    model: Annotated[
        Optional[ModelKind], typer.Option(help="seq2seq (all history), trimmed or transformer.", rich_help_panel=MODEL)
    ] = None,
    history: Annotated[
        Optional[int],
        typer.Option(
            help="Periods of history (trimmed/transformer; default 200; 0 = static only).", rich_help_panel=MODEL
        ),
    ] = None,
    cell: Annotated[Optional[str], typer.Option(help="lstm or gru.", rich_help_panel=MODEL)] = None,
    hidden: Annotated[
        Optional[int], typer.Option(help="Recurrent state size (default 128).", rich_help_panel=MODEL)
    ] = None,
    activation: Annotated[
        Optional[Activation], typer.Option(help="Activation of the MLPs.", rich_help_panel=MODEL)
    ] = None,
    decoder_inputs: Annotated[
        Optional[bool],
        typer.Option(
            "--decoder-inputs/--no-decoder-inputs",
            help="Known future inputs in the decoder (off: the reference's GO-only decoder).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    normalize: Annotated[
        Optional[bool],
        typer.Option(
            "--normalize/--no-normalize",
            help="Forecast relative to each series' recent level (off: the reference).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    random_present: Annotated[
        Optional[bool],
        typer.Option(
            "--random-present/--no-random-present",
            help="The random max time step trick (on by default).",
            rich_help_panel=SPLIT,
        ),
    ] = None,
    horizon: Annotated[
        Optional[int], typer.Option(help="Periods forecast (default 16).", rich_help_panel=SPLIT)
    ] = None,
    test_periods: Annotated[
        Optional[int],
        typer.Option(
            help="Horizon-long test periods held out at the end (default 3; 0 in production).", rich_help_panel=SPLIT
        ),
    ] = None,
    valid_periods: Annotated[
        Optional[int],
        typer.Option(
            "--valid-days",
            "--valid-periods",
            help="Validation periods before the test periods (default 16).",
            rich_help_panel=SPLIT,
        ),
    ] = None,
    gap_periods: Annotated[
        Optional[int],
        typer.Option(
            "--gap-days",
            "--gap-periods",
            help="Unused periods between training and validation (default 16).",
            rich_help_panel=SPLIT,
        ),
    ] = None,
    min_history: Annotated[
        Optional[int],
        typer.Option(
            help="Earliest training origin, in periods (default 300 daily, 52 weekly).", rich_help_panel=SPLIT
        ),
    ] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default 20).", rich_help_panel=OPTIM)] = None,
    steps_per_epoch: Annotated[
        Optional[int], typer.Option(help="Batches per epoch (default 500).", rich_help_panel=OPTIM)
    ] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help="Windows per batch (default 128).", rich_help_panel=OPTIM)
    ] = None,
    lr: Annotated[
        Optional[float], typer.Option(help="Adam learning rate (default 1e-4).", rich_help_panel=OPTIM)
    ] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed (the global --seed wins).", rich_help_panel=OPTIM)] = None,
    init_from: Annotated[
        Optional[Path],
        typer.Option(help="Warm start from this checkpoint (yesterday's best.pt).", rich_help_panel=OPTIM),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from last.pt.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished run in --out.")] = False,
    config: Annotated[
        Optional[Path],
        typer.Option("--config", exists=True, dir_okay=False, help="YAML (sections data, split, model, train)."),
    ] = None,
    file_format: Annotated[
        Optional[DataFormat], typer.Option("--format", help="auto, favorita or long.", rich_help_panel=DATA)
    ] = None,
    series_col: Annotated[Optional[str], typer.Option(help="Long format: series column.", rich_help_panel=DATA)] = None,
    date_col: Annotated[Optional[str], typer.Option(help="Long format: date column.", rich_help_panel=DATA)] = None,
    value_col: Annotated[Optional[str], typer.Option(help="Long format: target column.", rich_help_panel=DATA)] = None,
    static_cols: Annotated[
        Optional[str], typer.Option(help="Long format: comma-separated static columns.", rich_help_panel=DATA)
    ] = None,
    future_cols: Annotated[
        Optional[str], typer.Option(help="Long format: inputs known in advance.", rich_help_panel=DATA)
    ] = None,
    past_cols: Annotated[
        Optional[str], typer.Option(help="Long format: inputs observed up to the present.", rich_help_panel=DATA)
    ] = None,
    weight_col: Annotated[
        Optional[str], typer.Option(help="Long format: per-series metric weight.", rich_help_panel=DATA)
    ] = None,
    frequency: Annotated[
        Optional[Frequency], typer.Option(help="auto (from the dates), D or W.", rich_help_panel=DATA)
    ] = None,
    cache_dir: CacheOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train one global model on every series (or warm-start yesterday's with --init-from)."""
    from dlcli.config import load_config
    from dlcli.forecast.train import ForecastConfig, train_forecaster

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
        **_data_overrides(
            file_format=file_format,
            series_col=series_col,
            date_col=date_col,
            value_col=value_col,
            static_cols=static_cols,
            future_cols=future_cols,
            past_cols=past_cols,
            weight_col=weight_col,
            frequency=frequency,
            cache_dir=cache_dir,
        ),
    }
    resolved = load_config(ForecastConfig, config, overrides, base=ForecastConfig())
    result = train_forecaster(data, resolved, out, init_from=init_from, resume=resume, overwrite=overwrite)
    summary = {
        "run": str(out),
        "best": str(result.best_path),
        "monitor": result.monitor,
        "best_metric": result.best_metric,
        "epochs": result.epochs,
        "steps": result.steps,
    }
    if as_json:
        _echo_json(summary)
    elif not runtime.quiet:
        typer.echo(
            f"best {result.monitor} {result.best_metric:.4f}: {result.best_path}"
            if result.best_metric is not None
            else f"written: {out}"
        )


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="A forecast checkpoint (best.pt) or its run folder.")],
    data: Annotated[Path, typer.Argument(help="The data to forecast from (same format as in training).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Forecast file: .parquet or .csv (written atomically).")],
    horizon: Annotated[Optional[int], typer.Option(help="Periods to forecast (default: the model's horizon).")] = None,
    batch_size: Annotated[int, typer.Option(help="Series per forward pass.")] = 4096,
    cache_dir: CacheOption = None,
    log_file: LogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Forecast every series (unseen ones included) from the day after the data ends."""
    from dlcli.forecast.predict import predict as run_predict
    from dlcli.forecast.train import log_to

    with log_to(log_file):
        cache = str(cache_dir) if cache_dir else None
        summary = run_predict(model, data, out, horizon=horizon, batch_size=batch_size, cache_dir=cache)
    if as_json:
        _echo_json(summary)
    elif not runtime.quiet:
        typer.echo(
            f"{out}: {summary['rows']:,} rows, {summary['series']:,} series, {summary['first_date']}..{summary['last_date']}"
        )


@app.command()
def evaluate(
    paths: Annotated[
        list[Path],
        typer.Argument(help="One or more checkpoints (or run folders), then the data.", metavar="MODEL... DATA"),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder: report.md, metrics.csv/json, daily/errors/examples PNGs.")
    ],
    baselines: Annotated[
        str, typer.Option(help="Comma-separated: random, average, seasonal-naive, lightgbm (or 'none').")
    ] = "random,average,seasonal-naive,lightgbm",
    test_periods: Annotated[
        Optional[int], typer.Option(help="Test periods (default: the first model's split).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Series per forward pass.")] = 4096,
    cache_dir: CacheOption = None,
    as_json: JsonOption = False,
) -> None:
    """RMSLE, NWRMSLE and MALE per test period and forecast day, beside the baselines (and the oracle on simulated data)."""
    from dlcli.errors import UsageError
    from dlcli.forecast.evaluate import _markdown
    from dlcli.forecast.evaluate import evaluate as run_evaluate

    if len(paths) < 2:
        raise UsageError("give at least one model and the data: dlcli forecast evaluate MODEL [MODEL...] DATA")
    chosen = [] if baselines.strip().lower() == "none" else _split(baselines)
    report = run_evaluate(
        paths[:-1],
        paths[-1],
        out,
        baselines=chosen,
        test_periods=test_periods,
        batch_size=batch_size,
        cache_dir=str(cache_dir) if cache_dir else None,
        seed=runtime.seed or 0,
    )
    if as_json:
        _echo_json({k: v for k, v in report.items() if k != "rows"})
    elif not runtime.quiet:
        typer.echo(_markdown(report))
