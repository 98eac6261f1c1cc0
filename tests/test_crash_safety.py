"""`clv train` stopped from outside: SIGTERM unwinds (run FAILED, no version left without its alias), and a run whose
process was SIGKILLed is marked KILLED by the next start. Real subprocesses on a real local MLflow store."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

from mlflow import MlflowClient

from training import tracking


def test_a_run_left_running_by_a_dead_process_is_ended_killed_on_the_next_start(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("e")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    tags = {
        "dead": {tracking.HOST_TAG: host, tracking.PID_TAG: str(dead.pid)},
        "alive": {tracking.HOST_TAG: host, tracking.PID_TAG: str(os.getpid())},
        "elsewhere": {tracking.HOST_TAG: host + "-other", tracking.PID_TAG: str(dead.pid)},
    }
    runs = {name: client.create_run(exp, tags=t).info.run_id for name, t in tags.items()}
    assert tracking.end_orphaned_runs(client, exp) == [runs["dead"]]
    status = {name: client.get_run(run_id).info.status for name, run_id in runs.items()}
    assert status == {"dead": "KILLED", "alive": "RUNNING", "elsewhere": "RUNNING"}


def test_sigterm_while_logging_leaves_a_failed_run_or_a_whole_registration(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    clv = [sys.executable, "-m", "training.cli"]
    gen = [*clv, "generate", "--customers", "1500", "--start", "2023-01-01", "--end", "2025-01-01", "--out", tmp_path]
    subprocess.run(list(map(str, gen)), check=True, capture_output=True, env=env, timeout=300)
    db = tmp_path / "mlflow.db"
    train = [*clv, "train", "--transactions", tmp_path / "transactions.parquet", "--as-of", "2025-01-01"]
    train += ["--horizon", "91d", "--snapshots", "2", "--tracking-uri", f"sqlite:///{db}"]
    proc = subprocess.Popen(list(map(str, train)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:  # wait until the run is open, then stop the process
        if db.exists():
            with sqlite3.connect(db) as con:
                try:
                    running = con.execute("SELECT count(*) FROM runs WHERE status = 'RUNNING'").fetchone()[0]
                except sqlite3.OperationalError:  # the store's tables are still being created
                    running = 0
            if running:
                proc.send_signal(signal.SIGTERM)
                break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, (out[-2000:], err[-2000:])
    assert "interrupted" in err and "Traceback" not in err
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    versions = client.search_model_versions()
    # Stopped while logging: the run FAILED and nothing registered. Stopped while registering: that finished whole
    # first (run FINISHED, the version @challenger). Never a version without its alias or from a failed run.
    assert [r.info.status for r in runs] in (["FAILED"], ["FINISHED"])
    if runs[0].info.status == "FAILED":
        assert versions == []
    else:
        assert [v.aliases for v in versions] == [["challenger"]]


def test_signals_inside_a_held_block_are_raised_when_it_ends():
    import pytest

    steps = []
    with pytest.raises(KeyboardInterrupt), tracking.interrupts_held():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        steps.append("finished the block")  # not cut short by the signal
    assert steps == ["finished the block"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the previous handler is back
