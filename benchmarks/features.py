"""Feature speed as users see it: the whole `clv features` process next to its yardstick, same file, same run.

Each measurement is a fresh process (import, read, validate, compute, write), timed from outside with its own
peak RSS (from ``wait4``). The yardstick is ``../shared/perf/duckdb_core_reference.py`` (hand-written DuckDB SQL
of the BTYD core and a few windowed counts); the vectorised pandas core is shown too. The logs come from
``../shared/perf/gen_transactions.py`` (customer_id int64, ts timestamp, amount; 10 transactions per customer).
Also timed: the feature phase of ``clv train`` (the customer-day table once, then one group-by per snapshot) and
of ``clv score`` (one snapshot), each in its own process.

    python benchmarks/features.py --rows 1000000,10000000          # make bench
    python benchmarks/features.py --rows 100000000 --skip-pandas   # make bench-large
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the package, not this script, is `features`
PERF = ROOT.parent / "shared" / "perf"
CUTOFF = "2024-07-01"
CLV = str(Path(sys.executable).with_name("clv"))


def pandas_btyd(path: str, as_of: dt.date) -> pd.DataFrame:
    """The BTYD core in vectorised pandas: factorised ids, integer days, groupby sums, no apply."""
    df = pd.read_parquet(path, columns=["customer_id", "ts", "amount"])
    day = df["ts"].to_numpy().astype("datetime64[D]").astype(np.int64)
    codes, uniques = pd.factorize(df["customer_id"])
    keep = day < (np.datetime64(as_of, "D").astype(np.int64))
    daily = (
        pd.DataFrame({"c": codes[keep], "d": day[keep], "a": df["amount"].to_numpy()[keep]})
        .groupby(["c", "d"], sort=True)["a"]
        .sum()
        .reset_index()
    )
    p = daily[daily["a"] > 0]
    g = p.groupby("c", sort=False)
    first, last, n, total = g["d"].min(), g["d"].max(), g.size(), g["a"].sum()
    first_amount = g["a"].first()  # rows are sorted by (customer, day): the first is the first purchase day
    end = np.datetime64(as_of, "D").astype(np.int64) - 1
    freq = n - 1
    return pd.DataFrame(
        {
            "customer_id": uniques[first.index.to_numpy()],
            "frequency": freq.to_numpy(),
            "recency": (last - first).to_numpy(),
            "T": (end - first).to_numpy(),
            "monetary_value": np.where(freq > 0, (total - first_amount) / freq.clip(lower=1), 0.0),
        }
    )


def train_features(path: str, snapshots: int) -> int:
    """What `clv train` does before any model: validate, build the customer-day table (and the run summary from
    it), then features and labels of every planned snapshot."""
    from features import ColumnMap, FeatureConfig, read_transactions
    from features.planner import Grid, Snapshot, backtest_window, snapshots_before
    from training.frames import SnapshotStore

    config = FeatureConfig(columns=ColumnMap(date="ts"))
    store = SnapshotStore(read_transactions(path, config.columns), config)
    as_of = store.last_day + dt.timedelta(days=1)
    window = backtest_window((as_of - store.first_day).days, 181)
    plan = snapshots_before(as_of, 181, snapshots, Grid(as_of, 28, store.first_day))
    plan = [s for s in plan if s.window_days == 181] + [Snapshot(as_of - dt.timedelta(days=window), window)]
    for snap in plan:
        store._load(snap.cutoff, snap.window_days)
    return len(plan)


def score_features(path: str) -> int:
    """What `clv score` does before the model: validate, then the features at as_of in one pass."""
    from features import ColumnMap, FeatureConfig, read_transactions
    from features.build import features_from_daily
    from features.policy import daily_activity

    config = FeatureConfig(columns=ColumnMap(date="ts"))
    log = read_transactions(path, config.columns)
    as_of = log.counts.last_day + dt.timedelta(days=1)
    return len(features_from_daily(daily_activity(log), as_of, config, False).to_pyarrow())


def commands(path: Path, out: Path, snapshots: int, memory_limit: str | None) -> dict[str, list[str]]:
    me = [sys.executable, __file__, "--path", str(path), "--step"]
    limit = ["--memory-limit", memory_limit] if memory_limit else []
    features = [CLV, "features", "--transactions", str(path), "--date-col", "ts", "--as-of", CUTOFF, "--out", str(out)]
    steps = {
        "reference (hand-written DuckDB SQL)": [
            sys.executable, str(PERF / "duckdb_core_reference.py"), "--input", str(path), "--cutoff", CUTOFF,
        ],
        "clv features": features,
        "clv features --horizon 90d": [*features, "--horizon", "90d"],
        "pandas BTYD core (vectorised)": me + ["pandas"],
        "score feature phase (1 snapshot)": me + ["score"],
        f"train feature phase ({snapshots} snapshots + backtest)": me + ["train", "--snapshots", str(snapshots)],
    }  # fmt: skip
    return {name: cmd + limit if name.startswith("clv") else cmd for name, cmd in steps.items()}


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GiB) and, when it failed, the last line of the error of one whole process."""
    env = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true", "BENTOML_DO_NOT_TRACK": "true"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    error = proc.stderr.read().decode()
    proc.stderr.close()
    failed = ""
    if os.waitstatus_to_exitcode(status) != 0:
        failed = next((line for line in error.splitlines() if "error" in line.lower()), error[-200:]).strip()
        print(f"{' '.join(cmd)} failed:\n{error[-2000:]}", file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024**2, failed


def make_data(rows: int, folder: Path) -> Path:
    path = folder / f"tx_{rows}.parquet"
    if not path.exists():
        tmp = folder / f".tx_{rows}.{os.getpid()}.parquet"
        gen = [sys.executable, str(PERF / "gen_transactions.py"), "--transactions", str(rows), "--seed", "42"]
        subprocess.run([*gen, "--out", str(tmp)], check=True, stdout=subprocess.DEVNULL)
        tmp.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000000,10000000", help="comma-separated row counts")
    parser.add_argument("--data", default=None, help="folder to keep generated logs in (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=2, help="paired runs per size; the table shows medians")
    parser.add_argument("--snapshots", type=int, default=12, help="training snapshots in the train feature phase")
    parser.add_argument("--skip-pandas", action="store_true", help="leave the pandas core out (100 M rows)")
    parser.add_argument("--only", default=None, help="comma-separated step names to run (besides the reference)")
    parser.add_argument("--memory-limit", default=None, help="passed to the clv commands, e.g. 4GB")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "pandas":
        pandas_btyd(args.path, dt.date.fromisoformat(CUTOFF))
        return
    if args.step == "score":
        score_features(args.path)
        return
    if args.step == "train":
        train_features(args.path, args.snapshots)
        return

    folder = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="clv-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="clv-bench-out-")) / "features.parquet"
    rows_list = [int(x) for x in args.rows.split(",")]
    results: dict[tuple[int, str], list[tuple[float, float, str]]] = {}
    for rows in rows_list:
        path = make_data(rows, folder)
        steps = commands(path, out, args.snapshots, args.memory_limit)
        if args.skip_pandas:
            steps.pop("pandas BTYD core (vectorised)")
        if args.only:
            keep = {s.strip() for s in args.only.split(",")}
            steps = {k: v for k, v in steps.items() if k.startswith("reference") or any(k.startswith(s) for s in keep)}
        for i in range(args.repeat):
            for name, cmd in steps.items():
                seconds, rss, failed = run(cmd)
                results.setdefault((rows, name), []).append((seconds, rss, failed))
                print(f"  {rows:>12,} run {i + 1} {name:<45} {seconds:7.2f} s {rss:5.2f} GiB", file=sys.stderr)

    print(f"\nWhole processes, median of {args.repeat} paired runs; x ref = seconds / the reference's in that run.\n")
    print("| rows | command | seconds | x ref | peak RSS GiB |")
    print("|---:|---|---:|---:|---:|")
    for (rows, name), runs in results.items():
        ref = results[(rows, "reference (hand-written DuckDB SQL)")]
        failed = next((f for _, _, f in runs if f), "")
        if failed:
            print(f"| {rows:,} | {name} | failed: {failed[:100]} | | {max(m for _, m, _ in runs):.2f} |")
            continue
        ratio = statistics.median(s / r for (s, _, _), (r, _, _) in zip(runs, ref, strict=True))
        seconds = statistics.median(s for s, _, _ in runs)
        rss = max(m for _, m, _ in runs)
        print(f"| {rows:,} | {name} | {seconds:.2f} | {ratio:.2f} | {rss:.2f} |")
    print(json.dumps({f"{r}:{n}": v for (r, n), v in results.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
