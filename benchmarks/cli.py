"""What the commands cost as users run them, now against an earlier commit on the same log (numbers, not a test).

Times whole ``clv train`` and ``clv score`` processes (the latter with ``--report`` where the code has it) on one
generated log, for the working tree and for ``--before`` (checked out into a temporary worktree and run with this
venv), alternating the two ``--repeat`` times. Run: ``python benchmarks/cli.py --customers 100000 --before a33e769``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clv import defaults  # noqa: E402
from features.generate import GeneratorConfig, write_generated  # noqa: E402

AS_OF = "2025-01-01"


def timed(cmd: list[str], env: dict, cwd: Path) -> float:
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{res.stderr[-2000:]}")
    return time.perf_counter() - start


def run(tree: Path, module: str, data: Path, work: Path, report: bool) -> dict[str, float]:
    """One train and one score on a fresh MLflow store, with ``tree``'s code first on the path."""
    work.mkdir(parents=True, exist_ok=True)
    env = os.environ | defaults.TELEMETRY_OFF | {"PYTHONPATH": str(tree), "CLV_LOG_FILE": str(work / "clv.log")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/mlflow.db"
    clv = [sys.executable, "-m", module]
    cols = ["--order-col", "order_id", "--cost-col", "cost"]
    train = timed([*clv, "train", "-t", str(data), "--as-of", AS_OF, *cols], env, work)
    score = [*clv, "score", "-t", str(data), "--as-of", AS_OF, *cols, "-o", str(work / "s.parquet")]
    score += ["--model", defaults.model_uri(alias=defaults.CHALLENGER)]
    if report:
        score += ["--report", str(work / "drift.html")]
    return {"train": train, "score": timed(score, env, work)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--before", default="a33e769")
    parser.add_argument("--before-module", default="training.cli", help="the module that ran `clv` then")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        old = tmp_path / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.before], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        try:
            paths = write_generated(GeneratorConfig(customers=args.customers, seed=7), tmp_path / "data")
            times: dict[str, dict[str, list[float]]] = {"before": {}, "now": {}}
            for i in range(args.repeat):
                for label, tree, module, report in (
                    ("before", old, args.before_module, False),
                    ("now", ROOT, "clv", True),
                ):
                    for step, s in run(tree, module, paths["transactions"], tmp_path / f"{label}{i}", report).items():
                        times[label].setdefault(step, []).append(s)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
    print(f"\n{args.customers:,} customers, as of {AS_OF}; median of {args.repeat} whole processes, alternated\n")
    print(f"| command | {args.before} s | now s | now / before |")
    print("|---|---:|---:|---:|")
    for step, what in (("train", "clv train"), ("score", "clv score (now with --report)")):
        before, now = statistics.median(times["before"][step]), statistics.median(times["now"][step])
        print(f"| {what} | {before:.1f} | {now:.1f} | {now / before:.2f}x |")


if __name__ == "__main__":
    main()
