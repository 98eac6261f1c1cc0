"""The terminal of a command: our lines on screen, what libraries print in the log file (or on screen too with
--verbose). Run as real processes, since the JVM and C libraries write to file descriptor 2 directly."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest

pytestmark = pytest.mark.integration

NOISY = """
import logging, os, sys, warnings
from pathlib import Path
from clv.terminal import quiet
log = Path(sys.argv[1]) if sys.argv[1] != "-" else None
with quiet(log, verbose=sys.argv[2] == "verbose") as term:
    logging.getLogger("mlflow.tracking").warning("library log line")
    warnings.warn("library warning")
    print("library print to stderr", file=sys.stderr)
    os.write(2, b"C-level line\\n")
    term.err.print("our message")
    term.out.print("our result")
print("after the command", file=sys.stderr)
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NOISY, *args], capture_output=True, text=True, timeout=120)


LIBRARY_LINES = ("library log line", "library warning", "library print to stderr", "C-level line")


def test_library_output_goes_to_the_log_file_and_ours_to_the_screen(tmp_path):
    log = tmp_path / "state" / "clv.log"
    res = run(str(log), "quiet")
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == ["our message", "after the command"]  # fd 2 is given back afterwards
    assert res.stdout.strip() == "our result"
    kept = log.read_text()
    for line in LIBRARY_LINES:
        assert line in kept
    assert "our message" not in kept


def test_verbose_shows_library_output_on_screen(tmp_path):
    log = tmp_path / "clv.log"
    res = run(str(log), "verbose")
    assert res.returncode == 0, res.stderr
    for line in (*LIBRARY_LINES, "our message"):
        assert line in res.stderr
    assert not log.exists()


def test_version_is_the_package_version():
    res = subprocess.run([sys.executable, "-m", "clv", "--version"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == f"clv {version('customer-value')}"
