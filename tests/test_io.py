"""Reading and validating purchase logs: every bad input names what is wrong and where."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features import ColumnMap, InputError, read_transactions
from tests.conftest import log

GOOD = "customer_id,date,amount\na,2024-01-01,10\nb,2024-01-02,5.5\n"


def write(path, text: str):
    path.write_text(text)
    return path


def rows_of(con, path, **kw) -> pd.DataFrame:
    return (
        read_transactions(path, **kw, con=con)
        .rows.to_pandas()
        .sort_values(["customer_id", "day"])
        .reset_index(drop=True)
    )


def test_reads_csv_parquet_directory_and_glob(tmp_path, con):
    write(tmp_path / "a.csv", GOOD)
    frame = rows_of(con, tmp_path / "a.csv")
    assert frame["customer_id"].tolist() == ["a", "b"]
    assert frame["amount"].tolist() == [10.0, 5.5]
    assert frame["day"].astype(str).tolist() == ["2024-01-01", "2024-01-02"]
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(
        pa.table({"customer_id": ["a"], "date": pd.to_datetime(["2024-01-01"]), "amount": [1.0]}), parts / "1.parquet"
    )
    pq.write_table(
        pa.table({"customer_id": ["b"], "date": pd.to_datetime(["2024-01-02"]), "amount": [2.0]}), parts / "2.parquet"
    )
    assert rows_of(con, parts)["customer_id"].tolist() == ["a", "b"]
    assert rows_of(con, str(parts / "*.parquet"))["amount"].tolist() == [1.0, 2.0]


def test_column_mapping_and_integer_ids(tmp_path, con):
    write(tmp_path / "m.csv", "cust;when;value\n17;2024-01-01;3\n")
    frame = rows_of(con, tmp_path / "m.csv", columns=ColumnMap(customer="cust", date="when", amount="value"))
    assert frame.to_dict("records")[0]["customer_id"] == "17"


def test_non_iso_dates_are_detected_and_ambiguity_is_refused(tmp_path, con):
    write(tmp_path / "us.csv", "customer_id,date,amount\na,12/1/2010 8:26,1\na,12/13/2010 9:00,2\n")
    days = rows_of(con, tmp_path / "us.csv")["day"].astype(str).tolist()
    assert days == ["2010-12-01", "2010-12-13"]
    write(tmp_path / "amb.csv", "customer_id,date,amount\na,01/02/2010,1\n")
    with pytest.raises(InputError, match="--date-format"):
        read_transactions(tmp_path / "amb.csv", con=con)
    days = rows_of(con, tmp_path / "amb.csv", columns=ColumnMap(date_format="%d/%m/%Y"))["day"].astype(str).tolist()
    assert days == ["2010-02-01"]


def test_missing_file(tmp_path, con):
    with pytest.raises(InputError, match="no such file"):
        read_transactions(tmp_path / "nope.csv", con=con)
    with pytest.raises(InputError, match="no file matches"):
        read_transactions(str(tmp_path / "*.parquet"), con=con)


def test_unreadable_parquet(tmp_path, con):
    (tmp_path / "x.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="cannot read .* as PARQUET"):
        read_transactions(tmp_path / "x.parquet", con=con)


def test_ragged_csv_names_the_line(tmp_path, con):
    write(tmp_path / "r.csv", "customer_id,date,amount\na,2024-01-01,10\nb,2024-01-02,3,4\n")
    with pytest.raises(InputError, match=r"cannot read .*r.csv as CSV: .*b,2024-01-02,3,4"):
        read_transactions(tmp_path / "r.csv", con=con)


def test_missing_columns_lists_those_present(tmp_path, con):
    write(tmp_path / "c.csv", "id,date,total\na,2024-01-01,1\n")
    with pytest.raises(InputError) as info:
        read_transactions(tmp_path / "c.csv", con=con)
    msg = str(info.value)
    assert "'customer_id'" in msg and "'amount'" in msg and "'date'," not in msg
    assert "columns present are: id, date, total" in msg


def test_unparseable_dates_give_count_rows_and_values(tmp_path, con):
    write(tmp_path / "d.csv", "customer_id,date,amount\na,2024-01-01,1\nb,soon,2\nc,2024-01-03,3\nd,31/31/2024,4\n")
    with pytest.raises(InputError) as info:
        read_transactions(tmp_path / "d.csv", con=con)
    msg = str(info.value)
    assert "column 'date': 2 row(s)" in msg
    assert "row 2: 'soon'" in msg and "row 4: '31/31/2024'" in msg


def test_null_ids(tmp_path, con):
    write(tmp_path / "n.csv", "customer_id,date,amount\na,2024-01-01,1\n,2024-01-02,2\n")
    with pytest.raises(
        InputError, match=r"column 'customer_id': 1 row\(s\) with empty or missing customer id; first: row 2"
    ):
        read_transactions(tmp_path / "n.csv", con=con)


def test_non_numeric_and_non_finite_amounts(tmp_path, con):
    write(
        tmp_path / "a.csv",
        "customer_id,date,amount\na,2024-01-01,ten\nb,2024-01-01,NaN\nc,2024-01-01,inf\nd,2024-01-01,\n",
    )
    with pytest.raises(InputError) as info:
        read_transactions(tmp_path / "a.csv", con=con)
    msg = str(info.value)
    expected = "3 row(s) with non-numeric or missing amount; first: row 1: 'ten', row 2: 'NaN', row 4: <missing>"
    assert f"column 'amount': {expected}" in msg
    assert "1 row(s) with infinite amount; first: row 3" in msg


def test_nan_amount_in_a_data_frame(con):
    frame = log([("a", "2024-01-01", 1.0), ("b", "2024-01-02", float("nan"))])
    with pytest.raises(InputError, match="row 2"):
        read_transactions(frame, con=con)


def test_empty_logs(tmp_path, con):
    write(tmp_path / "h.csv", "customer_id,date,amount\n")
    with pytest.raises(InputError, match="empty"):
        read_transactions(tmp_path / "h.csv", con=con)
    write(tmp_path / "z.csv", "")
    with pytest.raises(InputError, match="empty"):
        read_transactions(tmp_path / "z.csv", con=con)
    with pytest.raises(InputError, match="empty"):
        read_transactions(pd.DataFrame({"customer_id": [], "date": [], "amount": []}), con=con)
    (tmp_path / "dir").mkdir()
    with pytest.raises(InputError, match="no .parquet or .csv"):
        read_transactions(tmp_path / "dir", con=con)


def test_non_date_column_type(tmp_path, con):
    pq.write_table(pa.table({"customer_id": ["a"], "date": [3.5], "amount": [1.0]}), tmp_path / "f.parquet")
    with pytest.raises(InputError, match="not dates"):
        read_transactions(tmp_path / "f.parquet", con=con)


def test_csv_files_with_different_headers_are_refused(tmp_path, con):
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "a.csv", "customer_id,date,amount\na,2024-01-01,1\n")
    write(tmp_path / "d" / "b.csv", "customer_id,amount,date\nb,2,2024-01-02\n")
    with pytest.raises(InputError, match="same header in the same order"):
        read_transactions(tmp_path / "d", con=con)


def test_implausibly_large_amounts_are_refused(tmp_path, con):
    write(tmp_path / "big.csv", "customer_id,date,amount\na,2024-01-01,1e19\nb,2024-01-02,5\n")
    with pytest.raises(InputError, match="row 1: '1e19'"):
        read_transactions(tmp_path / "big.csv", con=con)


def test_engine_connection_spills_to_a_private_folder_removed_with_it():
    import gc
    from pathlib import Path

    from features.engine import EngineConfig, connect, materialise

    con = connect(EngineConfig(memory_limit="200MB"))
    folder = Path(con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0])
    assert folder.is_dir() and folder.name.startswith("clv-duckdb-")
    table = con.create_table("t", pd.DataFrame({"x": [3, 1, 2]}), temp=True)
    kept = materialise(table.mutate(y=table.x * 2))
    assert sorted(kept.to_pandas()["y"]) == [2, 4, 6]
    assert [p.suffix for p in folder.iterdir()] == [".parquet"]  # under a memory limit: on disk, not in memory
    del con, table, kept
    gc.collect()
    assert not folder.exists()
