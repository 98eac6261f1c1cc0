"""Pictures of what users get, for the README: the training report, the drift report and the API page, taken in
headless Chromium from a fresh demo. Run: ``.venv/bin/python docs/screenshots.py`` (needs ``/usr/bin/chromium``,
e.g. ``apt-get install chromium``); writes ``docs/img/*.png``."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from clv import defaults

HERE = Path(__file__).resolve().parent
# Offline: no background fetches, no first-run pages, no sandbox (root in a container).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--virtual-time-budget=8000",
]  # fmt: skip


def clv(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "clv", *args], env=env, check=True)


def shoot(browser: str, url: str, out: Path, size: str) -> None:
    """One full-window screenshot of ``url``."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}", f"--screenshot={out}"]
        subprocess.run([*cmd, url], check=True, capture_output=True, timeout=120)
    print(f"wrote {out}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"{url} did not answer in {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=HERE / "img")
    parser.add_argument("--browser", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.browser).exists():
        raise SystemExit(f"no browser at {args.browser}: install Debian's chromium or pass --browser")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = os.environ | defaults.TELEMETRY_OFF
        env |= {"MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db", "CLV_LOG_FILE": str(work / "clv.log")}
        clv("demo", "--customers", str(args.customers), "--workdir", str(work / "demo"), env=env)
        shoot(args.browser, (work / "demo" / "report.html").as_uri(), args.out / "report.png", "1400,2400")
        data = work / "demo" / "data" / "transactions.parquet"
        scores, drift = work / "rescored.parquet", work / "drift.html"
        columns = ["--order-col", "order_id", "--cost-col", "cost"]
        model = ["--model", defaults.model_uri(alias=defaults.CHALLENGER)]  # promoted or not, it exists
        clv("score", "-t", str(data), "--as-of", "2024-10-01", *columns, "-o", str(scores), "--report", str(drift),
            *model, env=env)  # fmt: skip
        shoot(args.browser, drift.as_uri(), args.out / "drift-report.png", "1400,2000")
        port = free_port()
        serve = [sys.executable, "-m", "clv", "serve", "--snapshot", str(work / "demo" / "scores.parquet"), *model]
        with subprocess.Popen([*serve, "--port", str(port)], env=env, stdout=subprocess.DEVNULL) as proc:
            try:
                wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
                shoot(args.browser, f"http://127.0.0.1:{port}/", args.out / "api-page.png", "1400,1800")
            finally:
                proc.terminate()
                proc.wait(timeout=60)


if __name__ == "__main__":
    main()
