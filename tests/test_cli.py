"""The ``clv`` command line, run as a real subprocess: exit codes, messages, output files."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.integration

GOOD = "customer_id,date,amount\na,2024-01-01,10\na,2024-02-01,20\nb,2024-01-15,5\nb,2024-03-10,8\n"


def clv(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "clv", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def good_csv(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(GOOD)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_features_writes_the_file_and_a_summary(tmp_path, good_csv, suffix):
    out = tmp_path / "out" / f"features{suffix}"
    res = clv("features", "--transactions", good_csv, "--as-of", "2024-02-01", "--horizon", "30d", "--out", out)
    assert res.returncode == 0, res.stderr
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert frame["customer_id"].tolist() == ["a", "b"]
    assert frame["future_purchases"].tolist() == [1, 0]  # a buys on Feb 1; b's next purchase is Mar 10
    assert "rows read" in res.stdout and "RFM segments" in res.stdout
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "no such file"),
        ("customer_id,when,amount\na,2024-01-01,1\n", [], "missing column(s) 'date'"),
        ("customer_id,date,amount\na,2024-13-45,1\n", [], "row 1: '2024-13-45'"),
        ("customer_id,date,amount\na,2024-01-01,abc\n", [], "non-numeric"),
        ("customer_id,date,amount\n", [], "empty"),
        (GOOD, ["--as-of", "tomorrow"], "is not a date"),
        (GOOD, ["--horizon", "6m"], "horizon"),
        (GOOD, ["--as-of", "2023-01-01"], "no history"),
        (GOOD, ["--horizon", "60d"], "need data the log does not have"),
        (GOOD, ["--memory-limit", "lots"], "memory limit 'lots' is not understood"),
    ],
)
def test_bad_input_exits_2_with_one_message_and_no_output(tmp_path, content, args, message):
    src = tmp_path / "log.csv"
    if content is not None:
        src.write_text(content)
    out = tmp_path / "features.parquet"
    base = {"--as-of": "2024-03-01"}
    extra = dict(zip(args[::2], args[1::2], strict=True))
    opts = [x for k, v in {**base, **extra}.items() for x in (k, v)]
    res = clv("features", "--transactions", src, *opts, "--out", out)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert message in " ".join(res.stderr.split())
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_out_of_memory_is_a_clear_message_and_writes_nothing(tmp_path, good_csv):
    out = tmp_path / "features.parquet"
    res = clv("features", "--transactions", good_csv, "--as-of", "2024-02-01", "--out", out, "--memory-limit", "1MB")
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "out of memory" in res.stderr and "--memory-limit" in res.stderr
    assert "Traceback" not in res.stderr and not out.exists()


def test_serve_refuses_an_empty_key_before_starting():
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {"CLV_ADMIN_KEY": " "}
    res = subprocess.run([sys.executable, "-m", "clv", "serve"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2 and "CLV_ADMIN_KEY is set but empty" in res.stderr


def test_bad_output_name_exits_2(tmp_path, good_csv):
    res = clv("features", "--transactions", good_csv, "--as-of", "2024-03-01", "--out", tmp_path / "f.xlsx")
    assert res.returncode == 2 and ".parquet or .csv" in res.stderr


def test_generate_then_features_on_its_output(tmp_path):
    res = clv("generate", "--customers", "500", "--seed", "3", "--out", tmp_path / "gen")
    assert res.returncode == 0, res.stderr
    assert {p.name for p in (tmp_path / "gen").iterdir()} == {"transactions.parquet", "truth.parquet", "generator.json"}
    res = clv(
        "features",
        "-t",
        tmp_path / "gen" / "transactions.parquet",
        "--as-of",
        "2024-06-01",
        "--order-col",
        "order_id",
        "--cost-col",
        "cost",
        "--out",
        tmp_path / "f.parquet",
    )
    assert res.returncode == 0, res.stderr
    assert "total_margin" in pd.read_parquet(tmp_path / "f.parquet").columns


def test_demo_runs_end_to_end_on_a_local_store(tmp_path):
    res = clv("--log-file", "clv.log", "demo", "--customers", "3000", "--workdir", "demo", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    # A quiet terminal: no MLflow INFO lines or Python warnings; they are kept in the log file.
    assert "INFO" not in res.stderr and "Warning" not in res.stderr and "mlflow" not in res.stderr, res.stderr
    kept = (tmp_path / "clv.log").read_text()
    assert "clv --log-file clv.log demo" in kept and "MLflow database tables" in kept
    for text in (
        "BTYD baseline",
        "what ships",
        "95 % paired bootstrap",
        "value at risk",
        "mlflow ui --backend-store-uri",
    ):
        assert text in res.stdout
    # Promoted, or refused with the reason and scored with the challenger: either way the demo runs to the end.
    assert "promoted version 1 to @champion" in res.stdout or (
        "not promoted: worse than the baseline beyond noise" in res.stdout
        and "the demo scores with the challenger" in res.stdout
    )
    scores = pd.read_parquet(tmp_path / "demo" / "scores.parquet")
    assert len(scores) == 3000 and scores["churn_probability"].between(0, 1).all()
    assert (tmp_path / "mlflow.db").exists()  # the default store is in the working directory


def test_unreachable_tracking_server_is_a_clear_error_before_training(tmp_path, good_csv):
    port = free_port()  # nothing listens there
    res = clv("train", "-t", good_csv, "--as-of", "2024-03-01", "--tracking-uri", f"http://127.0.0.1:{port}")
    assert res.returncode == 2 and "cannot reach the MLflow tracking server" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("command", ["score", "train"])
def test_a_report_path_that_cannot_be_written_is_refused_before_any_work(tmp_path, good_csv, command):
    out = tmp_path / "scores.parquet"
    base = [command, "-t", good_csv, "--as-of", "2024-03-01", "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]
    if command == "score":
        base += ["--out", out]
    (tmp_path / "dir.html").mkdir()
    (tmp_path / "a-file").write_text("")  # as a directory: not writable, even for root
    for report, message in (
        (tmp_path / "dir.html", "is a directory"),
        (tmp_path / "r.txt", "must end in .html"),
        (tmp_path / "a-file" / "report.html", "cannot write in"),
    ):
        res = clv(*base, "--report", report)
        assert res.returncode == 2 and message in res.stderr, (report, res.stderr)
        assert "Traceback" not in res.stderr and not out.exists() and not (tmp_path / "m.db").exists()


def test_a_log_file_that_cannot_be_written_is_a_usage_error(tmp_path, good_csv):
    (tmp_path / "a-file").write_text("")
    res = clv("--log-file", tmp_path / "a-file" / "clv.log", "features", "-t", good_csv, "--as-of", "2024-03-01", "-o",
              tmp_path / "f.parquet")  # fmt: skip
    assert res.returncode == 2 and "--log-file" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "f.parquet").exists()
