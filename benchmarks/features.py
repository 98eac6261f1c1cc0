"""Feature speed: Ibis on DuckDB against a well-written pandas implementation of the same BTYD core.

Each measurement runs in a fresh subprocess so that its peak RSS is its own. Run with ``make bench`` or
``python benchmarks/features.py --rows 1000000,10000000`` (``--rows 100000000`` for the large case).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TX_PER_CUSTOMER = 3.4  # what the generator's defaults give on average
AS_OF = dt.date(2025, 1, 1)


def pandas_btyd(path: str, as_of: dt.date) -> pd.DataFrame:
    """The BTYD core in vectorised pandas: factorised ids, integer days, groupby sums, no apply."""
    df = pd.read_parquet(path, columns=["customer_id", "date", "amount"])
    day = df["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
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
    first = g["d"].min()
    last = g["d"].max()
    n = g.size()
    total = g["a"].sum()
    first_amount = g["a"].first()  # rows are sorted by (customer, day): the first is the first purchase day
    end = np.datetime64(as_of, "D").astype(np.int64) - 1
    freq = n - 1
    out = pd.DataFrame(
        {
            "customer_id": uniques[first.index.to_numpy()],
            "frequency": freq.to_numpy(),
            "recency": (last - first).to_numpy(),
            "T": (end - first).to_numpy(),
            "monetary_value": np.where(freq > 0, (total - first_amount) / freq.clip(lower=1), 0.0),
        }
    )
    return out


def ibis_btyd(path: str, as_of: dt.date, read=None) -> pd.DataFrame:
    from features.io import read_transactions
    from features.policy import daily_activity
    from features.rfm import btyd_summary

    log = (read or read_transactions)(path, validate=False)
    cols = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    return btyd_summary(daily_activity(log, detail=False), as_of).select(cols).to_pyarrow().to_pandas()


def run_step(step: str, path: str, memory_limit: str | None) -> dict:
    """Run one step in this process and return its time and peak RSS."""
    import ibis

    import features.build as build
    from features.io import read_transactions as _read

    con_args = {"memory_limit": memory_limit, "temp_directory": tempfile.mkdtemp()} if memory_limit else {}

    def read_transactions(path, validate=True):
        return _read(path, con=ibis.duckdb.connect(**con_args), validate=validate)

    out = Path(tempfile.mkdtemp()) / "features.parquet"
    t0 = time.perf_counter()
    if step == "pandas BTYD core":
        n = len(pandas_btyd(path, AS_OF))
    elif step == "ibis+duckdb BTYD core":
        n = len(ibis_btyd(path, AS_OF, read_transactions))
    elif step == "ibis+duckdb validation":
        read_transactions(path)
        n = 0
    elif step == "ibis+duckdb full features":
        build.features_expr(read_transactions(path, validate=False), AS_OF).to_parquet(out)
        n = 0
    elif step == "ibis+duckdb validate + full features":
        build.features_expr(read_transactions(path), AS_OF).to_parquet(out)
        n = 0
    else:
        raise ValueError(step)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rss_gib": peak_rss_gib(), "customers": n}


def peak_rss_gib() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


STEPS = (
    "pandas BTYD core",
    "ibis+duckdb BTYD core",
    "ibis+duckdb validation",
    "ibis+duckdb full features",
    "ibis+duckdb validate + full features",
)


CHUNK_ROWS = 10_000_000


def make_data(rows: int, folder: Path) -> tuple[Path, int]:
    """One Parquet file up to 10 M rows; above that a directory of 10 M-row files (customers differ per file)."""
    from features.generate import GeneratorConfig, generate

    chunks = max(1, round(rows / CHUNK_ROWS))
    path = folder / f"tx_{rows}.parquet" if chunks == 1 else folder / f"tx_{rows}"
    if not path.exists():
        target = path if chunks == 1 else path.with_name(path.name + ".partial")
        if chunks > 1:
            target.mkdir(parents=True, exist_ok=True)
        for i in range(chunks):
            customers = max(int(rows / chunks / TX_PER_CUSTOMER), 100)
            tx, _ = generate(GeneratorConfig(customers=customers, seed=1 + i, id_prefix=f"C{i:03d}-"))
            tx = tx[["customer_id", "date", "amount"]]
            tx.to_parquet(target if chunks == 1 else target / f"part-{i:03d}.parquet", index=False)
            del tx
            print(f"  generated part {i + 1}/{chunks}", file=sys.stderr)
        if chunks > 1:
            target.rename(path)
    import duckdb

    files = str(path) if chunks == 1 else str(path / "*.parquet")
    return path, duckdb.sql(f"select count(*) from read_parquet('{files}')").fetchone()[0]


def check_agreement(path: Path) -> None:
    a = pandas_btyd(str(path), AS_OF).sort_values("customer_id").reset_index(drop=True)
    b = ibis_btyd(str(path), AS_OF).sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9)
    print(f"pandas and ibis+duckdb agree on {len(a):,} customers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="1000000,10000000", help="comma-separated target row counts")
    parser.add_argument("--data", default=None, help="folder to keep generated data in (default: a temp dir)")
    parser.add_argument("--skip-pandas", action="store_true", help="skip pandas (for 100 M rows)")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 4GB (spills to disk)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, args.path, args.memory_limit)))
        return

    folder = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="clv-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for target in [int(x) for x in args.rows.split(",")]:
        path, rows = make_data(target, folder)
        if not args.skip_pandas:
            check_agreement(path)
        for step in STEPS:
            if args.skip_pandas and step.startswith("pandas"):
                continue
            proc = subprocess.run(
                [sys.executable, __file__, "--step", step, "--path", str(path)]
                + (["--memory-limit", args.memory_limit] if args.memory_limit else []),
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"step {step!r} failed")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append({"rows": rows, "step": step, **r})
            print(f"  {rows:>12,} {step:<38} {r['seconds']:7.2f} s {r['rss_gib']:5.2f} GiB", file=sys.stderr)

    print()
    print("| rows | step | seconds | M tx/s | peak RSS GiB | x pandas core |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in results:
        base = next((x["seconds"] for x in results if x["rows"] == r["rows"] and x["step"] == "pandas BTYD core"), None)
        speed = f"{base / r['seconds']:.1f}" if base and "core" in r["step"] else ""
        print(
            f"| {r['rows']:,} | {r['step']} | {r['seconds']:.2f} | {r['rows'] / r['seconds'] / 1e6:.2f} "
            f"| {r['rss_gib']:.2f} | {speed} |"
        )


if __name__ == "__main__":
    main()
