"""Backtest quality on generated data: LightGBM vs the BTYD baseline vs the oracle that knows the truth.

The oracle uses every latent quantity of the generator (alive or not, purchase rate, dropout, mean spend): the
ceiling no model can pass. Targets are checked and printed. Run: ``python benchmarks/quality.py --customers 50000``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features import ColumnMap, read_transactions  # noqa: E402
from features.generate import GeneratorConfig, oracle_expected, write_generated  # noqa: E402
from models.metrics import churn_metrics, clv_metrics  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

TARGETS = {  # metric -> (how the model must compare, bound)
    "roc_auc": "model > baseline",
    "brier": "model < baseline",
    "gini": "model > baseline",
    "top10_capture": "model > baseline",
    "rmse": "model < baseline",
    "decile_mape": "model < baseline",
}


def run(customers: int, seed: int, horizon: str, folder: Path) -> tuple[pd.DataFrame, list[tuple[str, bool, str]]]:
    cfg = GeneratorConfig(customers=customers, seed=seed)
    paths = write_generated(cfg, folder)
    log = read_transactions(paths["transactions"], ColumnMap(order="order_id", cost="cost"))
    config = TrainConfig(horizon=horizon)
    t0 = time.perf_counter()
    result = train(log, cfg.end, config)
    seconds = time.perf_counter() - t0
    truth = pd.read_parquet(paths["truth"])
    oracle = oracle_expected(truth, cfg, result.test_cutoff, config.horizon_days).set_index("customer_id")
    bt = result.backtest.set_index("customer_id").join(oracle.add_prefix("oracle_"), how="left")
    y = bt["churned"].astype(int).to_numpy()
    o = churn_metrics(y, bt["oracle_prob_no_purchase"].clip(1e-6, 1 - 1e-6)) | clv_metrics(
        bt["future_spend"], bt["oracle_expected_spend"]
    )
    m = result.metrics
    names = sorted({k.split(".", 1)[1] for k in m if k.startswith("model.")})
    table = pd.DataFrame(
        {
            "metric": names,
            "LightGBM": [m.get(f"model.{n}") for n in names],
            "BTYD baseline": [m.get(f"baseline.{n}") for n in names],
            "oracle": [o.get(n) for n in names],
        }
    )
    checks = []
    for metric, rule in TARGETS.items():
        model, base = m[f"model.{metric}"], m[f"baseline.{metric}"]
        ok = model > base if ">" in rule else model < base
        checks.append((f"{metric}: {rule}", ok, f"{model:.4f} vs {base:.4f}"))
    agg = m["model.aggregate_error"]
    checks.append(("aggregate error within +-5 %", abs(agg) <= 0.05, f"{agg:+.1%}"))
    cov = m["model.interval_coverage"]
    checks.append(("interval coverage in 0.75-0.85", 0.75 <= cov <= 0.85, f"{cov:.3f}"))
    share = m["model.gini"] / o["gini"]
    checks.append((">= 90 % of the oracle's Gini", share >= 0.9, f"{share:.1%}"))
    checks.append(("training time (s)", True, f"{seconds:.0f}"))
    return table, checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--horizon", default="181d")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table, checks = run(args.customers, args.seed, args.horizon, Path(tmp))
    print(f"\n{args.customers:,} generated customers, seed {args.seed}, horizon {args.horizon}\n")
    print("| metric | LightGBM | BTYD baseline | oracle |")
    print("|---|---:|---:|---:|")
    for r in table.itertuples(index=False):
        cells = ["" if v is None or v != v else f"{v:.4f}" for v in (r[1], r[2], r[3])]
        print(f"| {r.metric} | " + " | ".join(cells) + " |")
    print("\n| target | met | value |\n|---|---|---|")
    for name, ok, value in checks:
        print(f"| {name} | {'yes' if ok else 'NO'} | {value} |")


if __name__ == "__main__":
    main()
