"""`clv bento` for real: build the Bento from a registered model, then `bentoml serve TAG` it with no MLflow reachable,
from a directory outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import time
from importlib import metadata
from pathlib import Path

import pytest

from tests.helpers import free_port, running_server
from tests.integration.conftest import champion_with_snapshot
from tests.integration.test_service import call

NAME = "bento-model"
REPO = Path(__file__).resolve().parents[2]
CLEAN = ("MLFLOW_TRACKING_URI", "CLV_MODEL_URI", "CLV_SNAPSHOT", "CLV_API_KEY", "CLV_ADMIN_KEY")


def clv_bento(args: list[str], home: Path, tracking_uri: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN} | {"BENTOML_HOME": str(home)}
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    cmd = [sys.executable, "-m", "clv", "bento", *args]
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)


def stored(home: Path) -> list[Path]:
    """Everything in the BentoML stores under ``home`` (models and bentos)."""
    return [p for kind in ("models", "bentos") if (home / kind).is_dir() for p in (home / kind).iterdir()]


@pytest.fixture(scope="module")
def built(trained, small_config, mlflow_uri, generated, tmp_path_factory):
    """bento-model@champion in the registry, a scored snapshot, and `clv bento` run on them."""
    folder = tmp_path_factory.mktemp("bento")
    run_id, version, snap, _ = champion_with_snapshot(trained, small_config, mlflow_uri, generated, NAME, folder)
    home = folder / "bentoml-home"
    start = time.perf_counter()
    done = clv_bento(
        ["--model", f"models:/{NAME}@champion", "--snapshot", str(folder / "scores.parquet")], home, mlflow_uri
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr + done.stdout
    tag = re.search(r"built Bento (\S+)", done.stdout)
    assert tag, done.stdout
    print(f"clv bento took {seconds:.1f} s")
    return {"tag": tag[1], "out": done.stdout, "home": home, "snapshot": snap, "version": version, "run_id": run_id}


def test_bento_holds_code_locked_requirements_model_and_snapshot(built):
    import yaml

    assert f"bentoml serve {built['tag']}" in built["out"] and f"bentoml containerize {built['tag']}" in built["out"]
    bento = built["home"] / "bentos" / built["tag"].replace(":", "/")
    for module in ("features/build.py", "models/bundle.py", "serving/service.py", "serving/state.py"):
        assert (bento / "src" / module).is_file(), module
    assert not (bento / "src" / "training").exists()
    python = bento / "env" / "python"
    assert "uv export --frozen --no-dev" in (python / "requirements.in").read_text()  # what was locked
    locked = (python / "requirements.txt").read_text()  # lock_packages: `uv pip compile` of requirements.in
    for package in ("lightgbm", "mlflow", "pandas", "bentoml"):  # the versions uv.lock installed here
        assert re.search(rf"^{package}=={re.escape(metadata.version(package))}$", locked, re.M), package
    manifest = yaml.safe_load((bento / "bento.yaml").read_text())
    labels = manifest["labels"]
    assert (labels["registry_name"], labels["registry_version"], labels["run_id"]) == (
        NAME,
        built["version"],
        built["run_id"],
    )
    assert sorted(m["tag"] for m in manifest["models"]) == sorted([labels["clv_model"], labels["clv_snapshot"]])


@pytest.mark.parametrize("source", ["tag", "exported"])
def test_bento_serves_with_no_mlflow_reachable(built, tmp_path, source):
    """By tag from the local store, and as the exported Bento directory with an empty BentoML home (the layout
    `bentoml containerize` puts in the image: the models inside the Bento)."""
    home, target = built["home"], built["tag"]
    if source == "exported":
        archive = tmp_path / "customer_value.bento"
        export = [sys.executable, "-m", "bentoml", "export", built["tag"], str(archive)]
        subprocess.run(export, env=os.environ | {"BENTOML_HOME": str(home)}, check=True, capture_output=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp_path / "bento", filter="data")
        home, target = tmp_path / "empty-home", str(tmp_path / "bento")
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {k: v for k, v in os.environ.items() if k not in CLEAN} | {
        "BENTOML_HOME": str(home),
        "MLFLOW_TRACKING_URI": dead,
        "BENTOML_DO_NOT_TRACK": "true",
    }
    cmd = [sys.executable, "-m", "bentoml", "serve", target, "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with running_server(cmd, f"{base}/readyz", env=env, cwd=tmp_path, log=tmp_path / "serve.log"):
        snap = built["snapshot"].set_index("customer_id")
        ids = list(snap.index[:5]) + ["nobody"]
        status, body = call(base, "/predict", {"customer_ids": ids}, key=None)
        assert status == 200, body
        assert body["model_version"] == built["version"] and body["unknown_ids"] == ["nobody"]
        got = {p["customer_id"]: p for p in body["predictions"]}
        assert list(got) == ids[:5]
        for cid in ids[:5]:
            assert got[cid]["predicted_clv"] == pytest.approx(snap.loc[cid, "predicted_clv"], rel=1e-12)
            assert got[cid]["churn_probability"] == pytest.approx(snap.loc[cid, "churn_probability"], rel=1e-12)
            assert got[cid]["segment"] == snap.loc[cid, "segment"]
        status, info = call(base, "/model", key=None)
        assert status == 200, info
        assert (info["name"], info["version"], info["alias"], info["run_id"]) == (
            NAME,
            built["version"],
            "champion",
            built["run_id"],
        )
        assert info["snapshot_customers"] == len(snap)


def test_a_missing_snapshot_is_exit_2_and_stores_nothing(tmp_path):
    done = clv_bento(["--snapshot", str(tmp_path / "missing.parquet")], tmp_path / "home")
    assert done.returncode == 2, done.stderr
    assert "missing.parquet does not exist" in done.stderr and "Traceback" not in done.stderr
    assert stored(tmp_path / "home") == []


def test_a_snapshot_scored_by_another_version_is_exit_2_and_stores_nothing(built, mlflow_uri, tmp_path):
    snapshot = tmp_path / "scores.parquet"
    built["snapshot"].assign(model_version="999").to_parquet(snapshot, index=False)
    done = clv_bento(
        ["--model", f"models:/{NAME}@champion", "--snapshot", str(snapshot)], tmp_path / "home", mlflow_uri
    )
    assert done.returncode == 2, done.stderr
    assert f"was scored by model version 999, but models:/{NAME}@champion is version {built['version']}" in done.stderr
    assert stored(tmp_path / "home") == []


def test_an_unknown_alias_is_exit_2_and_stores_nothing(built, mlflow_uri, tmp_path):
    snapshot = tmp_path / "scores.parquet"
    built["snapshot"].to_parquet(snapshot, index=False)
    done = clv_bento(
        ["--model", f"models:/{NAME}@nosuchalias", "--snapshot", str(snapshot)], tmp_path / "home", mlflow_uri
    )
    assert done.returncode == 2, done.stderr
    assert "cannot resolve model" in done.stderr and "nosuchalias" in done.stderr
    assert stored(tmp_path / "home") == []
