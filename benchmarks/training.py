"""Training time and batch scoring speed at scale (numbers, not a test).

Generates a log (default 1 M customers), times ``training.train.train`` (backtest + final, no MLflow), then times
``ModelBundle.predict`` on the final as-of's features (excluding feature building), with and without reasons.
Run: ``python benchmarks/training.py --customers 1000000``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features import ColumnMap, build_features, read_transactions  # noqa: E402
from features.generate import GeneratorConfig, write_generated  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--snapshots", type=int, default=TrainConfig.snapshots)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = GeneratorConfig(customers=args.customers, seed=5)
        t0 = time.perf_counter()
        paths = write_generated(cfg, Path(tmp))
        rows.append(("generate", time.perf_counter() - t0, ""))
        log = read_transactions(paths["transactions"], ColumnMap(order="order_id"))
        config = TrainConfig(snapshots=args.snapshots)
        steps: list[tuple[float, str]] = []
        t0 = time.perf_counter()
        result = train(log, cfg.end, config, progress=lambda msg: steps.append((time.perf_counter(), msg)))
        total = time.perf_counter() - t0
        fits = result.backtest_fit, result.final_fit
        detail = ", ".join(
            f"{f.train_rows:,} train / {sum(f.validation_rows.values()):,} validation rows" for f in fits
        )
        rows.append((f"train ({args.snapshots} full snapshots, backtest + final)", total, detail))
        feats = build_features(log, cfg.end)
        for reasons in (False, True):
            t0 = time.perf_counter()
            pred = result.bundle.predict(feats, reasons=reasons)
            s = time.perf_counter() - t0
            rows.append((f"batch predict, reasons={reasons}", s, f"{len(pred) / s:,.0f} customers/s"))
        record = feats.iloc[0].to_dict()
        result.bundle.predict_record(record)
        for reasons in (False, True):
            t0 = time.perf_counter()
            for _ in range(200):
                result.bundle.predict_record(record, reasons=reasons)
            s = (time.perf_counter() - t0) / 200
            rows.append((f"single customer predict_record, reasons={reasons} (mean of 200)", s, f"{s * 1e6:,.0f} us"))
    print(f"\n{args.customers:,} customers\n\n| step | seconds | note |\n|---|---:|---|")
    for name, s, note in rows:
        print(f"| {name} | {s:.3f} | {note} |")


if __name__ == "__main__":
    main()
