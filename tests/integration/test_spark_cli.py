"""`clv features`, `clv train` and `clv score` with --engine spark, as users run them (a local[2] Spark in each
process, a real MLflow server): the same numbers as on DuckDB, outputs as directories of part files, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.integration.conftest import AS_OF

pytestmark = pytest.mark.integration

SPARK = [
    "--engine", "spark",
    "--spark-conf", "spark.master=local[2]",
    "--spark-conf", "spark.ui.enabled=false",
    "--spark-conf", "spark.sql.shuffle.partitions=4",
    "--spark-conf", "spark.driver.memory=2g",
]  # fmt: skip
COLUMNS = ["--order-col", "order_id", "--cost-col", "cost"]


@pytest.fixture
def clv(mlflow_uri, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "COLUMNS": "200", "SPARK_LOCAL_IP": "127.0.0.1"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "clv", *args], env=env, capture_output=True, text=True,
                              timeout=900, cwd=tmp_path)  # fmt: skip

    return run


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a = a.sort_values("customer_id").reset_index(drop=True)
    b = b.sort_values("customer_id").reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9)


def test_features_on_spark_write_a_directory_equal_to_duckdbs_file(clv, generated, tmp_path):
    tx = str(generated["transactions"])
    args = ["features", "-t", tx, "--as-of", "2024-07-01", "--horizon", "90d", *COLUMNS]
    res = clv(*args, "--out", str(tmp_path / "spark.parquet"), *SPARK)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "wrote" in res.stdout and "Exception" not in res.stderr
    assert (tmp_path / "spark.parquet").is_dir() and list((tmp_path / "spark.parquet").glob("part-*.parquet"))
    res = clv(*args, "--out", str(tmp_path / "duck.parquet"))
    assert res.returncode == 0, res.stderr[-3000:]
    same(pd.read_parquet(tmp_path / "duck.parquet"), pd.read_parquet(tmp_path / "spark.parquet"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["duck.parquet", "spark.parquet"]  # no temporary left


def test_train_and_score_on_spark_match_duckdb_scores(clv, generated, tmp_path, mlflow_uri):
    tx = str(generated["transactions"])
    res = clv("train", "-t", tx, "--as-of", AS_OF.isoformat(), "--horizon", "120d", "--snapshots", "2",
              "--every", "56d", "--register-as", "spark-model", *COLUMNS, *SPARK)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "@challenger" in res.stdout
    from mlflow import MlflowClient

    version = MlflowClient(mlflow_uri).get_model_version_by_alias("spark-model", "challenger").version
    model = f"models:/spark-model/{version}"
    score = ["score", "-t", tx, "--as-of", AS_OF.isoformat(), "--model", model, *COLUMNS]
    res = clv(*score, "--out", str(tmp_path / "spark.parquet"), *SPARK)
    assert res.returncode == 0, res.stderr[-3000:]
    res = clv(*score, "--out", str(tmp_path / "duck.parquet"))
    assert res.returncode == 0, res.stderr[-3000:]
    duck = pd.read_parquet(tmp_path / "duck.parquet")
    on_spark = pd.read_parquet(tmp_path / "spark.parquet")
    assert len(duck) > 1000 and set(on_spark["model_version"]) == {str(version)}
    # next_order_date crosses the Spark UDF as text and comes back a date: compare the calendar days.
    days = {name: pd.to_datetime(f["next_order_date"]).dt.date for name, f in (("d", duck), ("s", on_spark))}
    same(duck.assign(next_order_date=days["d"]), on_spark.assign(next_order_date=days["s"]))
    assert duck["next_order_date"].notna().any()


def test_bad_input_on_spark_is_exit_2_with_one_message_and_no_output(clv, tmp_path):
    (tmp_path / "bad.csv").write_text("customer_id,date,amount\na,2024-01-01,5\nb,2024-01-02,ten\n")
    out = tmp_path / "f.parquet"
    res = clv("features", "-t", str(tmp_path / "bad.csv"), "--as-of", "2024-01-02", "--out", str(out), *SPARK)
    assert res.returncode == 2, res.stderr[-3000:]
    assert "column 'amount': 1 row(s) with non-numeric or missing amount; first: row 2: 'ten'" in res.stderr
    assert "Traceback" not in res.stderr and "at org.apache" not in res.stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bad.csv"]
    res = clv("features", "-t", str(tmp_path / "bad.csv"), "--as-of", "2024-01-02", "--out", str(out),
              "--engine", "spark", "--memory-limit", "4GB")  # fmt: skip
    assert res.returncode == 2 and "--memory-limit is for DuckDB" in res.stderr
    res = clv("features", "-t", str(tmp_path / "bad.csv"), "--as-of", "2024-01-02", "--out", str(out),
              "--spark-conf", "spark.master=local[2]")  # fmt: skip
    assert res.returncode == 2 and "--spark-conf needs --engine spark" in res.stderr
    res = clv("features", "-t", "s3a://bucket/tx/", "--as-of", "2024-01-02", "--out", str(out))
    assert res.returncode == 2 and "need --engine spark" in res.stderr
