"""`clv train` stopped from outside: a run whose process was SIGKILLed is marked KILLED by the next start, and
signals during registration are held until it is whole (SIGTERM end to end: tests/integration/test_crash_safety.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from training import tracking


@pytest.mark.integration  # starts a process
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


def test_signals_inside_a_held_block_are_raised_when_it_ends():
    steps = []
    with pytest.raises(KeyboardInterrupt), tracking.interrupts_held():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        steps.append("finished the block")  # not cut short by the signal
    assert steps == ["finished the block"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the previous handler is back
