"""The same numbers on DuckDB and on Spark: features, labels, run summaries and training frames from one log read
either way, the same errors for the same bad file, the same sample of customers, and Spark outputs that appear
whole or not at all."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

from features import ColumnMap, FeatureConfig, InputError, build_features, build_labels, read_transactions
from features.engine import connect, sample_bucket, spark_pattern, write_spark_frame
from features.generate import GeneratorConfig, write_generated
from features.snapshots import build_training_frame

AS_OF = dt.date(2024, 7, 1)
COLUMNS = ColumnMap(order="order_id", cost="cost")


@pytest.mark.parametrize(
    ("fmt", "pattern"),
    [
        ("%d/%m/%Y %H:%M", "d/M/yyyy H:m"),
        ("%m/%d/%Y", "M/d/yyyy"),
        ("%Y%m%d", "yyyyMMdd"),
        ("%d.%m.%Y %H:%M:%S", "d.M.yyyy H:m:s"),
        ("%Y-%m-%dT%H:%M", "yyyy-M-d'T'H:m"),
    ],
)
def test_strftime_formats_become_spark_patterns(fmt, pattern):
    assert spark_pattern(fmt) == pattern


def test_an_unsupported_directive_is_an_input_error():
    with pytest.raises(InputError, match="%j"):
        spark_pattern("%Y-%j")


@pytest.fixture(scope="module")
def awkward_log(tmp_path_factory) -> dict:
    """A generated log made awkward: nanosecond timestamps (pandas' unit; Spark keeps microseconds), times of day,
    several orders a day, returns, exact duplicate rows; written as Parquet and as a CSV with day-first dates."""
    folder = tmp_path_factory.mktemp("engines")
    paths = write_generated(
        GeneratorConfig(customers=600, start=dt.date(2022, 1, 1), end=dt.date(2025, 1, 1), seed=5), folder
    )
    tx = pd.read_parquet(paths["transactions"])
    rng = np.random.default_rng(0)
    tx["date"] = tx["date"].astype("datetime64[ns]") + pd.to_timedelta(rng.integers(0, 1000, len(tx)), unit="ns")
    tx = pd.concat([tx, tx.iloc[::50]], ignore_index=True)  # exact duplicates
    assert (tx["amount"] < 0).any() and tx.groupby(["customer_id", tx["date"].dt.date]).size().gt(1).any()
    tx.to_parquet(folder / "tx.parquet", index=False)
    text = tx.assign(date=tx["date"].dt.strftime("%d/%m/%Y %H:%M:%S"))
    text.to_csv(folder / "tx.csv", index=False)
    return {"parquet": folder / "tx.parquet", "csv": folder / "tx.csv"}


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False, check_exact=False, rtol=1e-9
    )


@pytest.mark.parametrize("source", ["parquet", "csv"])
def test_features_labels_and_run_summary_match_on_both_engines(awkward_log, spark, source):
    config = FeatureConfig(columns=COLUMNS)
    duck = read_transactions(awkward_log[source], COLUMNS, con=connect())
    on_spark = read_transactions(awkward_log[source], COLUMNS, con=spark)
    assert duck.counts == on_spark.counts
    same(build_features(duck, AS_OF, config), build_features(on_spark, AS_OF, config))
    same(build_labels(duck, AS_OF, "90d", config), build_labels(on_spark, AS_OF, "90d", config))

    from training.frames import SnapshotStore

    duck_report = SnapshotStore(duck, config).report
    spark_report = SnapshotStore(on_spark, config).report
    assert duck_report == spark_report
    assert duck_report.duplicate_rows > 0 and duck_report.return_rows > 0  # the awkward parts were exercised


def test_training_frames_match_on_both_engines(awkward_log, spark):
    kw = {"snapshots": 2, "every": "56d", "partial": True, "config": FeatureConfig(columns=COLUMNS)}
    duck = build_training_frame(awkward_log["parquet"], AS_OF, "90d", con=connect(), **kw)
    on_spark = build_training_frame(awkward_log["parquet"], AS_OF, "90d", con=spark, **kw)
    assert len(duck) > 500
    same(duck, on_spark)


BAD_FILES = {
    "ragged.csv": ("customer_id,date,amount\na,2024-01-01,5\nb,2024-01-02\n", ColumnMap()),
    "amount.csv": ("customer_id,date,amount\na,2024-01-01,5\nb,2024-01-02,abc\nc,2024-01-03,-inf\n", ColumnMap()),
    "date.csv": ("customer_id,date,amount\na,2024-01-01,5\nb,2024-13-45,3\n", ColumnMap()),
    "cost.csv": ("customer_id,date,amount,cost\na,2024-01-01,5,inf\nb,2024-01-01,5,1\n", ColumnMap(cost="cost")),
    "id.csv": ("customer_id,date,amount\na,2024-01-01,5\n ,2024-01-01,5\n", ColumnMap()),
    "columns.csv": ("cust,date,amount\na,2024-01-01,5\n", ColumnMap()),
    "broken.parquet": ("PAR1 not parquet at all", ColumnMap()),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_the_same_bad_file_gives_the_same_error_on_both_engines(tmp_path, spark, name):
    text, columns = BAD_FILES[name]
    (tmp_path / name).write_text(text)
    messages = []
    for con in (connect(), spark):
        with pytest.raises(InputError) as info:
            read_transactions(tmp_path / name, columns, con=con)
        messages.append(str(info.value))
    duck, on_spark = messages
    if name in ("ragged.csv", "broken.parquet"):  # the engine's own parser speaks: the same opening, its detail
        prefix = f"cannot read {tmp_path / name} as {'CSV' if name.endswith('csv') else 'PARQUET'}: "
        assert duck.startswith(prefix) and on_spark.startswith(prefix) and len(on_spark) > len(prefix)
        assert "\n" not in on_spark and "at org.apache" not in on_spark
    else:
        assert duck == on_spark


def test_values_keep_the_letters_at_their_ends_on_both_engines(tmp_path, spark):
    (tmp_path / "t.csv").write_text("customer_id,date,amount\n Chef ,2024-01-01, 5 \nv1v,2024-01-02,\tinf\n")
    for con in (connect(), spark):
        with pytest.raises(InputError, match=r"1 row\(s\) with infinite amount; first: row 2"):
            read_transactions(tmp_path / "t.csv", con=con)
    (tmp_path / "u.csv").write_text("customer_id,date,amount\n Chef ,2024-01-01, 5 \nv1v,2024-01-02,\t7f\n")
    for con in (connect(), spark):
        with pytest.raises(InputError, match=r"1 row\(s\) with non-numeric or missing amount; first: row 2: '\\t7f'"):
            read_transactions(tmp_path / "u.csv", con=con)
    (tmp_path / "v.csv").write_text("customer_id,date,amount\n Chef ,2024-01-01, 5 \nv1v,2024-01-02,\t7\n")
    for con in (connect(), spark):
        rows = read_transactions(tmp_path / "v.csv", con=con).rows.to_pandas().sort_values("customer_id")
        assert rows["customer_id"].tolist() == ["Chef", "v1v"] and rows["amount"].tolist() == [5.0, 7.0]


def test_the_sample_of_customers_is_the_same_on_both_engines(spark):
    ids = [str(i) for i in range(2000)] + [f"C{i:05d}" for i in range(2000)]
    share = 0.3
    # By hand: the first four hex digits of the md5 of the id, below 0.3 x 65536 = 19661 (0x4ccd).
    expected = {i for i in ids if int(hashlib.md5(i.encode()).hexdigest()[:4], 16) < round(share * 65536)}
    frame = pd.DataFrame({"customer_id": ids})
    picked = []
    for con in (connect(), spark):
        table = con.create_table("ids", frame, overwrite=True) if con.name == "duckdb" else _spark_table(spark, frame)
        picked.append(set(table.filter(sample_bucket(table.customer_id, share)).to_pandas()["customer_id"]))
    assert picked[0] == picked[1] == expected
    assert 0.25 < len(expected) / len(ids) < 0.35


def _spark_table(spark, frame):
    from features.engine import frame_table

    return frame_table(spark, frame)


def test_a_failed_spark_write_leaves_the_previous_output_and_no_debris(tmp_path, spark):
    session = spark._session
    target = tmp_path / "out.parquet"
    write_spark_frame(session.createDataFrame(pd.DataFrame({"x": [1, 2, 3]})), target)
    assert sorted(pd.read_parquet(target)["x"]) == [1, 2, 3]
    failing = session.range(0, 6, 1, 2).selectExpr("IF(id < 3, id, CAST(raise_error('boom') AS BIGINT)) AS x")
    with pytest.raises(Exception, match="boom"):
        write_spark_frame(failing, target)
    assert sorted(pd.read_parquet(target)["x"]) == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    write_spark_frame(session.createDataFrame(pd.DataFrame({"x": [7]})), target)  # a new output replaces the old
    assert pd.read_parquet(target)["x"].tolist() == [7]
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
