"""Shared fixtures: small hand-written logs as data frames and files, the engines; which tests are integration."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(config, items):
    """Mark ``integration`` (``make test-fast`` leaves them out) everything under tests/integration/ and every test
    that runs on Spark: one asking for the ``spark`` fixture, or a parametrised one whose parameter is "spark" (the
    ``con`` fixture's Spark half, tests/test_leakage.py's ``engine``). Other unit tests that start a process or a
    server carry the mark themselves."""
    for item in items:
        params = getattr(item, "callspec", None)
        on_spark = "spark" in item.fixturenames or (
            params is not None and any(isinstance(v, str) and v == "spark" for v in params.params.values())
        )
        if on_spark or INTEGRATION_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


def log(rows: list[tuple]) -> pd.DataFrame:
    """(customer_id, date, amount[, order_id]) tuples as a transaction frame."""
    cols = ["customer_id", "date", "amount", "order_id"][: len(rows[0])]
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture
def hand_log() -> pd.DataFrame:
    """The worked example of tests/test_features.py (cutoff 2024-03-01)."""
    return log(
        [
            ("A", "2024-01-01", 10.0),
            ("A", "2024-01-01", 5.0),
            ("A", "2024-01-11", 20.0),
            ("A", "2024-01-15", -5.0),
            ("A", "2024-02-10", 40.0),
            ("A", "2024-03-01", 100.0),
            ("A", "2024-03-31", 50.0),
            ("B", "2024-02-28", 30.0),
            ("C", "2024-01-05", -10.0),
            ("D", "2024-03-05", 25.0),
        ]
    )


# One local Spark for the whole run: two cores, loopback, no UI, two shuffle partitions (the data here is tiny).
SPARK_TEST_CONF = (
    ("spark.master", "local[2]"),
    ("spark.ui.enabled", "false"),
    ("spark.sql.shuffle.partitions", "2"),
    ("spark.default.parallelism", "2"),
    ("spark.driver.memory", "2g"),
)


@pytest.fixture(scope="session")
def spark():
    """An Ibis connection to the run's one SparkSession (stopped at the end)."""
    from features.engine import EngineConfig, connect

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    con = connect(EngineConfig("spark", spark_conf=SPARK_TEST_CONF))
    yield con
    con._session.stop()


@pytest.fixture(scope="session", params=["duckdb", "spark"])
def con(request):
    """Each engine in turn: tests taking ``con`` run once on DuckDB and once on Spark."""
    if request.param == "spark":
        return request.getfixturevalue("spark")
    from features.engine import connect

    return connect()
