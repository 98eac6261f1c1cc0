"""Real servers for integration tests: an MLflow tracking server on 127.0.0.1 and a small trained model."""

from __future__ import annotations

import datetime as dt
import os
import sys

import pytest

from features import ColumnMap, read_transactions
from features.generate import GeneratorConfig, write_generated
from models.boosting import BoosterConfig
from tests.helpers import free_port, running_server, stop  # noqa: F401 (free_port, stop: still importable from here)

AS_OF = dt.date(2025, 1, 1)
SMALL = GeneratorConfig(customers=4000, start=dt.date(2022, 1, 1), end=AS_OF, seed=11)


def champion_with_snapshot(trained, config, mlflow_uri, generated, name: str, folder):
    """``trained`` registered as ``name@champion`` and its scores of the generated log written as ``clv score``
    writes them (with the version that scored them) to ``folder/scores.parquet``; returns (run id, version,
    scores, log)."""
    from training.score import score
    from training.tracking import connect, log_training, set_alias

    run_id, version = log_training(trained, config, {"case": name}, "x", f"tests-{name}", name, mlflow_uri)
    set_alias(connect(mlflow_uri), name, "champion", version)
    log = read_transactions(generated["transactions"], ColumnMap(order="order_id", cost="cost"))
    snap = score(log, AS_OF, trained.bundle).predictions.assign(model_version=version)
    snap.to_parquet(folder / "scores.parquet", index=False)
    return run_id, version, snap, log


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory):
    """``mlflow server`` with a sqlite store and proxied artifacts, one worker, jobs off."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    with running_server(cmd, f"{uri}/health", env=env, cwd=root, log=root / "server.log", timeout=120, grace=20):
        yield uri


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    return write_generated(SMALL, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def small_config():
    from training.train import TrainConfig

    return TrainConfig(
        horizon="120d", snapshots=8, every="42d", booster=BoosterConfig(max_rounds=150, min_child_samples=50)
    )


@pytest.fixture(scope="session")
def trained(generated, small_config):
    """A training result on the small generated log (in process, no MLflow yet)."""
    from training.train import train

    log = read_transactions(generated["transactions"], ColumnMap(order="order_id", cost="cost"))
    return train(log, AS_OF, small_config)


@pytest.fixture(scope="session")
def registered(trained, small_config, mlflow_uri, generated):
    """The trained result logged to the real server and registered as ``customer-value@challenger``."""
    from training.tracking import log_training

    facts = {"transactions": str(generated["transactions"]), "as_of": AS_OF.isoformat()}
    run_id, version = log_training(
        trained, small_config, facts, str(generated["transactions"]), "tests", "customer-value", mlflow_uri
    )
    return run_id, version
