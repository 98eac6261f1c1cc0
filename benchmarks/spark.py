"""Spark (local[2]) next to DuckDB, as users run them: whole `clv` processes timed from outside.

For each log size the same three commands run once per engine, each a fresh process (interpreter start, imports,
engine start, read, validate, compute, write):

- features: ``clv features --as-of 2024-07-01 --horizon 181d --out ...``;
- train:    ``clv train --as-of 2025-01-01 --horizon 181d --snapshots 2`` (frames, backtest, final fit, MLflow run
  and registration in a throwaway SQLite tracking store);
- score:    ``clv score --as-of 2025-01-01 --model models:/customer-value/1`` (the version the DuckDB train
  registered, so both engines score the same model; on Spark through ``mlflow.pyfunc.spark_udf``).

Spark runs get ``--engine spark --spark-conf spark.master=local[2]``. Spark's start-up is measured apart: a process
that only starts a local[2] session through ``features.engine.connect`` and stops it; "Spark - start-up" subtracts
its median. Wall time; peak RSS two ways: ``wait4`` (the process and the children it reaped, as
benchmarks/features.py) and the sum over the process tree sampled every 0.2 s (Spark's JVM and Python workers are
not reaped by the ``clv`` process, so ``wait4`` misses them). "same rows" compares the customers each engine wrote
(features, score) or backtested (train). Logs: ``../shared/perf/gen_transactions.py --seed 42`` (customer_id
int64, ts timestamp, amount; 10 rows per customer, 2022-01-01 .. 2024-12-31).

    python benchmarks/spark.py --rows 1000000,10000000      # make bench-spark
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import psutil

ROOT = Path(__file__).resolve().parents[1]
PERF = ROOT.parent / "shared" / "perf"
CLV = str(Path(sys.executable).with_name("clv"))
FEATURES_AS_OF, SCORE_AS_OF, HORIZON = "2024-07-01", "2025-01-01", "181d"
SPARK = ["--engine", "spark", "--spark-conf", "spark.master=local[2]"]
ENGINES = ("duckdb", "spark")
STEPS = ("features", "train", "score")
STARTUP = """
from features.engine import EngineConfig, connect
con = connect(EngineConfig("spark", spark_conf=(("spark.master", "local[2]"),)))
con._session.stop()
"""
ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "true",
    "SPARK_LOCAL_IP": "127.0.0.1",
    "COLUMNS": "200",  # rich: no wrapped lines in the output parsed below
}


@dataclass
class Run:
    seconds: float
    rss: float  # GiB, wait4
    tree: float  # GiB, sampled sum over the process tree
    failed: str = ""
    stdout: str = ""
    load: float = field(default_factory=lambda: os.getloadavg()[0])


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def wait_quiet(threshold: float, at_most: float) -> None:
    """On a shared machine: wait (at most ``at_most`` seconds) until the 1-minute load average is below
    ``threshold``, so that a command does not start in the middle of someone else's burst."""
    deadline = time.monotonic() + at_most
    while os.getloadavg()[0] >= threshold and time.monotonic() < deadline:
        time.sleep(5)


def run(cmd: list[str], cwd: Path, timeout: float, quiet: tuple[float, float] = (0.0, 0.0)) -> Run:
    """One whole process: wall seconds, peak RSS (wait4, and the sampled tree), its stdout, and why it failed."""
    if quiet[0] > 0:
        wait_quiet(*quiet)
    load = os.getloadavg()[0]
    err_path = cwd / "stderr.txt"
    with open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=err, env=os.environ | ENV, start_new_session=True
        )
        peak, done, timed_out = [0], threading.Event(), [False]
        chunks: list[bytes] = []
        reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
        reader.start()

        def sample() -> None:
            me = psutil.Process(proc.pid)
            while not done.wait(0.2):
                try:
                    peak[0] = max(peak[0], tree_rss(me))
                except psutil.Error:
                    return
                if time.perf_counter() - t0 > timeout and not timed_out[0]:
                    timed_out[0] = True
                    os.killpg(proc.pid, signal.SIGKILL)  # the group this script started for the command

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        done.set()
        sampler.join()
        # Anything the command left running in its group (a JVM that outlived its driver) is ended too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    error = err_path.read_text(errors="replace")
    failed = ""
    if timed_out[0]:
        failed = f"stopped after {timeout / 60:.0f} min"
    elif proc.returncode != 0:
        lines = [line for line in error.splitlines() if "error" in line.lower()]
        failed = (lines[-1] if lines else error[-200:]).strip()
        print(f"{' '.join(cmd)} failed:\n{error[-3000:]}", file=sys.stderr)
    stdout = b"".join(chunks).decode(errors="replace")
    return Run(seconds, usage.ru_maxrss / 1024**2, peak[0] / 1024**3, failed, stdout, load)


def make_data(rows: int, folder: Path) -> Path:
    """The log of ``rows`` transactions that ``make bench`` uses too (written once into ``folder``)."""
    import importlib.util

    # benchmarks/features.py by path: as a module it would be shadowed by the ``features`` package.
    spec = importlib.util.spec_from_file_location("bench_features", Path(__file__).with_name("features.py"))
    module = sys.modules.setdefault("bench_features", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module.make_data(rows, folder)


def command(step: str, engine: str, path: Path, out: Path, tracking: str, snapshots: int) -> list[str]:
    log = ["--transactions", str(path), "--date-col", "ts"]
    extra = SPARK if engine == "spark" else []
    if step == "features":
        dest = out / f"features_{engine}.parquet"
        return [CLV, "features", *log, "--as-of", FEATURES_AS_OF, "--horizon", HORIZON, "--out", str(dest), *extra]
    if step == "train":
        return [
            CLV, "train", *log, "--as-of", SCORE_AS_OF, "--horizon", HORIZON, "--snapshots", str(snapshots),
            "--tracking-uri", tracking, *extra,
        ]  # fmt: skip
    dest = out / f"scores_{engine}.parquet"
    model = ["--model", "models:/customer-value/1", "--tracking-uri", tracking]
    return [CLV, "score", *log, "--as-of", SCORE_AS_OF, "--out", str(dest), *model, *extra]


def customers(step: str, engine: str, out: Path, stdout: str) -> int | None:
    """Customers in an output (a file, or Spark's directory of part files), or backtested by train."""
    if step == "train":
        found = re.search(r"backtest \(([\d,]+) customers", stdout)
        return int(found.group(1).replace(",", "")) if found else None
    dest = out / f"{step}s_{engine}.parquet" if step == "score" else out / f"features_{engine}.parquet"
    if not dest.exists():
        return None
    source = f"{dest}/*.parquet" if dest.is_dir() else str(dest)
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{source}')").fetchone()[0]


def train_rows(tracking_db: Path) -> int | None:
    """Rows of the final fit's training frame, from the fit report the last train run logged (if any)."""
    runs = sorted(tracking_db.parent.rglob("fits.json"), key=lambda p: p.stat().st_mtime)
    try:
        return int(json.loads(runs[-1].read_text())["final"]["train_rows"]) if runs else None
    except (ValueError, OSError, KeyError, TypeError):
        return None


def seconds(runs: list[Run]) -> float | None:
    ok = [r.seconds for r in runs if not r.failed]
    return statistics.median(ok) if ok and len(ok) == len(runs) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000000,10000000", help="comma-separated row counts")
    parser.add_argument("--repeat", type=int, default=1, help="runs per command; the table shows medians")
    parser.add_argument("--data", default=None, help="folder to keep generated logs in (default: a temp dir)")
    parser.add_argument("--snapshots", type=int, default=2, help="clv train --snapshots")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a command is stopped")
    parser.add_argument("--quiet-load", type=float, default=1.0, help="wait for a 1-min load below this (0: no)")
    parser.add_argument("--quiet-wait", type=float, default=300, help="... but at most this many seconds")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset of features,train,score")
    args = parser.parse_args()
    steps = [s for s in STEPS if s in args.steps.split(",")]
    quiet = (args.quiet_load, args.quiet_wait)

    folder = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="clv-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows_list = [int(x) for x in args.rows.split(",")]
    results: dict[tuple[int, str, str], list[Run]] = {}
    counts: dict[tuple[int, str, str], int | None] = {}
    startup: list[Run] = []
    fit_rows: dict[int, int | None] = {}
    for rows in rows_list:
        path = make_data(rows, folder)
        for i in range(args.repeat):
            work = Path(tempfile.mkdtemp(prefix="clv-bench-spark-"))
            tracking = f"sqlite:///{work / 'mlflow.db'}"
            startup.append(run([sys.executable, "-c", STARTUP], work, args.timeout, quiet))
            print(f"  {rows:>12,} run {i + 1} spark start-up {startup[-1].seconds:8.1f} s", file=sys.stderr)
            for step in steps:
                for engine in ENGINES:
                    cmd = command(step, engine, path, work, tracking, args.snapshots)
                    r = run(cmd, work, args.timeout, quiet)
                    results.setdefault((rows, step, engine), []).append(r)
                    counts[(rows, step, engine)] = customers(step, engine, work, r.stdout)
                    print(
                        f"  {rows:>12,} run {i + 1} {step:<8} {engine:<6} {r.seconds:8.1f} s wait4 {r.rss:5.2f} GiB "
                        f"tree {r.tree:5.2f} GiB load {r.load:4.1f} {r.failed}",
                        file=sys.stderr,
                    )
                    if step == "train" and engine == "duckdb":
                        fit_rows[rows] = train_rows(work / "mlflow.db")
            shutil.rmtree(work, ignore_errors=True)

    start = statistics.median(r.seconds for r in startup)
    start_rss = max(r.tree for r in startup)
    print(
        f"\nWhole `clv` processes, median of {args.repeat} run(s); Spark = local[2]. Spark start-up (a process that "
        f"only starts and stops a local[2] session): {start:.1f} s, {start_rss:.2f} GiB (tree).\n"
    )
    print(
        "| rows | step | DuckDB s | Spark s | Spark − start-up s | Spark / DuckDB | DuckDB peak RSS GiB "
        "(wait4 / tree) | Spark peak RSS GiB (wait4 / tree) | same rows |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for rows in rows_list:
        print(f"| {rows:,} | Spark start-up | | {start:.1f} | | | | | |")
        for step in steps:
            duck, spark = results[(rows, step, "duckdb")], results[(rows, step, "spark")]
            d, s = seconds(duck), seconds(spark)
            cells = [
                f"{d:.1f}" if d is not None else f"failed: {next(r.failed for r in duck if r.failed)[:80]}",
                f"{s:.1f}" if s is not None else f"failed: {next(r.failed for r in spark if r.failed)[:80]}",
                f"{s - start:.1f}" if s is not None else "",
                f"{s / d:.1f}x" if s is not None and d is not None else "",
                f"{max(r.rss for r in duck):.2f} / {max(r.tree for r in duck):.2f}",
                f"{max(r.rss for r in spark):.2f} / {max(r.tree for r in spark):.2f}",
            ]
            a, b = counts[(rows, step, "duckdb")], counts[(rows, step, "spark")]
            same = "n/a" if a is None or b is None else ("yes" if a == b else "NO")
            cells.append(f"{same} ({a:,})" if same == "yes" else f"{same} ({a} / {b})")
            print(f"| {rows:,} | {step} | " + " | ".join(cells) + " |")
    print()
    for rows, n in fit_rows.items():
        rss = max(r.tree for r in results.get((rows, "train", "duckdb"), []))
        if n:
            print(f"{rows:,} rows: DuckDB train's final fit trained on {n:,} customer rows; peak RSS {rss:.2f} GiB")
    loads = [r.load for runs in results.values() for r in runs]
    print(f"1-minute load average at the start of the commands: {min(loads):.1f} .. {max(loads):.1f}")


if __name__ == "__main__":
    main()
