import numpy as np
import polars as pl
import pytest

from dlcli.errors import InputError
from dlcli.forecast import data as data_module
from dlcli.forecast.data import DataConfig, load_panel
from tests.forecast.conftest import invoke

TABLES = {
    "stores.csv": "store_nbr,city,state,type,cluster\n1,Quito,Pichincha,D,13\n2,Guayaquil,Guayas,A,5\n",
    "items.csv": "item_nbr,family,class,perishable\n10,GROCERY I,1010,0\n20,DAIRY,2020,1\n",
    "train.csv": (
        "id,date,store_nbr,item_nbr,unit_sales,onpromotion\n"
        "0,2017-12-23,1,10,3.0,\n"
        "1,2017-12-23,2,10,1.5,False\n"
        "2,2017-12-24,1,10,-2.0,True\n"
        "3,2017-12-26,1,20,7.0,False\n"
        "4,2017-12-27,2,10,4.0,True\n"
    ),
    "test.csv": (
        "id,date,store_nbr,item_nbr,onpromotion\n"
        "5,2017-12-28,1,10,True\n6,2017-12-28,2,20,False\n7,2017-12-29,2,20,True\n"
    ),
    "oil.csv": "date,dcoilwtico\n2017-12-22,50.0\n2017-12-26,\n2017-12-27,60.0\n",
    "holidays_events.csv": (
        "date,type,locale,locale_name,description,transferred\n"
        "2017-12-24,Holiday,Regional,Pichincha,Fiesta,False\n"
        "2017-12-25,Holiday,National,Ecuador,Navidad,False\n"
        "2017-12-26,Holiday,National,Ecuador,Moved,True\n"
        "2017-12-27,Transfer,National,Ecuador,Traslado Moved,False\n"
    ),
    "transactions.csv": "date,store_nbr,transactions\n2017-12-23,1,1096\n2017-12-27,2,1\n",
}


@pytest.fixture
def favorita(tmp_path):
    folder = tmp_path / "favorita"
    folder.mkdir()
    for name, text in TABLES.items():
        (folder / name).write_text(text)
    return folder


def test_favorita_files_become_dense_arrays_with_their_quirks(favorita):
    panel = load_panel(favorita)
    assert panel.keys.rows() == [(1, 10), (1, 20), (2, 10), (2, 20)]  # (2, 20) appears in test.csv only
    assert panel.n_observed == 5 and str(panel.dates[2]) == "2017-12-25"  # Christmas has no rows: filled
    assert len(panel.dates) == 7  # two test days follow
    expected = np.zeros((4, 5), np.float32)
    expected[0, 0], expected[0, 1], expected[1, 3], expected[2, 0], expected[2, 4] = 3.0, -2.0, 7.0, 1.5, 4.0
    np.testing.assert_array_equal(panel.values, expected)  # absent days are 0, returns kept
    promo = panel.series_known["onpromotion"]
    assert promo.shape == (4, 7)
    assert promo[0, 0] == 0 and promo[0, 1] == 1 and promo[2, 0] == 0  # empty and False are 0, True is 1
    assert promo[0, 5] == 1 and promo[3, 5] == 0 and promo[3, 6] == 1  # test.csv: the future's promotions
    assert panel.first_period.tolist() == [0, 3, 0, 5]  # the test-only series has no history
    np.testing.assert_allclose(panel.weights, [1.0, 1.25, 1.0, 1.25])
    oil = panel.time_past.values[:, 0] * 50 + 50
    np.testing.assert_allclose(oil[:5], [50, 50, 50, 50, 60])  # carried forward over the gaps
    names = panel.time_known.names
    transfer, holiday = names.index("national_transfer"), names.index("national_holiday")
    assert panel.time_known.values[4, transfer] == 1 and panel.time_known.values[3, holiday] == 0  # transferred
    assert panel.time_known.values[2, holiday] == 1
    regional = panel.group_known.values[:, :, panel.group_known.names.index("regional_holiday")]
    assert regional[0, 1] == 1 and regional[1, 1] == 0  # only Pichincha's store
    transactions = panel.group_past.values[:, :, 0]
    assert transactions[0, 0] == pytest.approx(np.log1p(1096) - 7) and transactions[1, 0] == 0


def test_missing_files_columns_and_bad_values_are_one_clear_error(favorita):
    (favorita / "oil.csv").unlink()
    with pytest.raises(InputError, match=r"missing file oil\.csv"):
        load_panel(favorita)
    (favorita / "oil.csv").write_text(TABLES["oil.csv"])
    (favorita / "train.csv").write_text("id,date,store_nbr,item_nbr,onpromotion\n0,2017-12-23,1,10,\n")
    with pytest.raises(InputError, match=r"train\.csv: missing column 'unit_sales'"):
        load_panel(favorita)
    (favorita / "train.csv").write_text(TABLES["train.csv"].replace("2017-12-24", "24/12/2017"))
    with pytest.raises(InputError, match=r"train\.csv: cannot read the table"):
        load_panel(favorita)
    (favorita / "train.csv").write_text(TABLES["train.csv"].replace(",1,20,", ",1,99,"))
    with pytest.raises(InputError, match=r"item_nbr that the items table lacks \(e\.g\. 99\)"):
        load_panel(favorita)
    result = invoke("forecast", "prepare", favorita)
    assert result.exit_code == 3
    assert result.output.strip().splitlines() == [f"error: {favorita / 'train.csv'}: 1 rows with a item_nbr that the items table lacks (e.g. 99)"]  # fmt: skip


def test_long_format_daily_or_weekly_with_future_rows(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        "sku,week,sold,price,group,w\n"
        "a,2024-01-01,3,1.0,x,2\n"
        "a,2024-01-08,5,1.5,x,2\n"
        "b,2024-01-08 00:00:00,1,2.0,y,\n"
        "a,2024-01-15,,1.2,x,2\n"  # a future row: known price, no value
    )
    config = DataConfig(series_col="sku", date_col="week", value_col="sold", static_cols=["group"],
                        future_cols=["price"], weight_col="w")  # fmt: skip
    panel = load_panel(path, config)
    assert panel.frequency == "W" and panel.n_observed == 2 and len(panel.dates) == 3
    np.testing.assert_array_equal(panel.values, [[3, 5], [0, 1]])
    np.testing.assert_allclose(panel.series_known["price"], [[1.0, 1.5, 1.2], [0, 2.0, 0]])
    assert panel.static_vocab["group"] == ["x", "y"] and panel.static["group"].tolist() == [1, 2]
    np.testing.assert_allclose(panel.weights, [2.0, 1.0])
    assert load_panel(path, config, future_periods=4).dates[-1] == np.datetime64(
        "2024-02-05"
    )  # 4 weeks after the last observed one
    path.write_text("sku,week,sold\na,2024-01-01,3\na,2024-01-02,4\nb,2024-01-09,1\n")
    assert load_panel(path, DataConfig(series_col="sku", date_col="week", value_col="sold")).frequency == "D"
    with pytest.raises(InputError, match="off the weekly grid .*series a on 2024-01-01"):
        load_panel(path, DataConfig(series_col="sku", date_col="week", value_col="sold", frequency="W"))
    with pytest.raises(InputError, match="missing column 'price'"):
        load_panel(path, DataConfig(series_col="sku", date_col="week", value_col="sold", future_cols=["price"]))


def test_large_arrays_are_cached_and_memory_mapped(favorita, tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "CACHE_MIN_CELLS", 0)
    config = DataConfig(cache_dir=str(tmp_path / "cache"))
    first = load_panel(favorita, config)
    assert isinstance(first.values, np.memmap)
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and (entries[0] / "meta.json").exists()
    again = load_panel(favorita, config)
    np.testing.assert_array_equal(again.values, first.values)
    (favorita / "train.csv").write_text(TABLES["train.csv"].replace("7.0", "8.0"))
    changed = load_panel(favorita, config)
    assert changed.values[1, 3] == 8.0 and len(list((tmp_path / "cache").iterdir())) == 2


def test_parquet_train_with_onpromotion_stored_as_text_reads_like_the_csv(favorita):
    # type inference over the first rows of train.csv (all empty there) stores onpromotion as text
    csv_panel = load_panel(favorita)
    pl.read_csv(favorita / "train.csv", infer_schema_length=1, schema_overrides={"date": pl.Date}).write_parquet(
        favorita / "train.parquet"
    )
    assert pl.read_parquet_schema(favorita / "train.parquet")["onpromotion"] == pl.String
    (favorita / "train.csv").unlink()
    panel = load_panel(favorita)
    np.testing.assert_array_equal(panel.values, csv_panel.values)
    np.testing.assert_array_equal(panel.series_known["onpromotion"], csv_panel.series_known["onpromotion"])
